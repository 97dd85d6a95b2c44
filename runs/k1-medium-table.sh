set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
# The main table's row "MAGE (ours, measured, K = 1, demo budget)": the K = 1 models of the K sweep on
# maze2d-medium (runs/k-medium.sh) evaluated into mage-baselines on env seeds 0..99 (the table's protocol),
# in R / track (its sweep protocol) and G / track + hold (the published protocol). RUN_ID [RUN_ID ...]
# ROW="K = 1, 400 + 2400 steps" bash runs/k1-medium-table.sh RUN_IDS: the same for the 3x-stage-2 models of
# runs/k-medium-long-chain.sh and runs/k-medium-long-s12.sh (log runs/k1-medium-long-table.log), and of
# runs/k-large-long.sh on large (logs runs/k1-large-long-table-{a,b}.log): the dataset comes from the run
ROW=${ROW:-K = 1, demo budget}
for RUN in "$@"; do
  time nice -n 5 mage evaluate --run-id $RUN --local --episodes 100 --num-envs 50 --experiment mage-baselines \
    --row-name "$ROW" --goal none --acting track --no-hold --set eval.track_lookahead=8
  time nice -n 5 mage evaluate --run-id $RUN --local --episodes 100 --num-envs 50 --experiment mage-baselines \
    --row-name "$ROW" --goal given --acting track --hold --set eval.track_lookahead=8
done
