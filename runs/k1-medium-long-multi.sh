set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
# issue 14 §5, track R on Multi2D medium: the three K = 1 models of ROW="K = 1, 400 + 2400 steps" runs/k1-medium-table.sh (trained on the
# single-task medium data, no goal input) on maze2d-medium-multi-v1, R / track (no goal, no hold), env seeds 0..99,
# into mage-baselines under the same row name. RUN_ID [RUN_ID ...]
for RUN in "$@"; do
  time nice -n 10 mage evaluate --run-id $RUN --task maze2d-medium-multi-v1 --local --episodes 100 --num-envs 50 \
    --experiment mage-baselines --row-name "K = 1, 400 + 2400 steps" --goal none --acting track --no-hold \
    --set eval.track_lookahead=8 --by-cell
done
