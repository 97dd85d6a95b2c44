set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
# the K sweep on maze2d-medium (runs/k-medium.sh): a model re-measured on env seeds 100..199, which its sweep
# never saw, in R / track (its sweep protocol) and G / track + hold (the paper protocol); RUN_ID [RUN_ID ...]
for RUN in "$@"; do
  time nice -n 5 mage evaluate --run-id $RUN --local --episodes 100 --num-envs 50 --seed 100 \
    --experiment mage-k-check --goal none --acting track --no-hold --set eval.track_lookahead=8
  time nice -n 5 mage evaluate --run-id $RUN --local --episodes 100 --num-envs 50 --seed 100 \
    --experiment mage-k-check --goal given --acting track --hold --set eval.track_lookahead=8
done
