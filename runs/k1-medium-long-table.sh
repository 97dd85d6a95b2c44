set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
# The main table's row "MAGE (ours, measured, K = 1, 400 + 2400 steps)": the K = 1 models of the 3x-stage-2 K runs on
# maze2d-medium with 3x stage 2 (runs/k-medium-long-chain.sh, runs/k-medium-long-s12.sh) evaluated into mage-baselines on env seeds 0..99 (the table's protocol),
# in R / track (its sweep protocol) and G / track + hold (the published protocol). RUN_ID [RUN_ID ...]
for RUN in "$@"; do
  time nice -n 5 mage evaluate --run-id $RUN --local --episodes 100 --num-envs 50 --experiment mage-baselines \
    --row-name "K = 1, 400 + 2400 steps" --goal none --acting track --no-hold --set eval.track_lookahead=8
  time nice -n 5 mage evaluate --run-id $RUN --local --episodes 100 --num-envs 50 --experiment mage-baselines \
    --row-name "K = 1, 400 + 2400 steps" --goal given --acting track --hold --set eval.track_lookahead=8
done
