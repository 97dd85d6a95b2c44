set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# the fixed-D' checkpoint of runs/drec-ab.sh: tracking lookahead k and the tracker without the hold
for K in 4 16; do
  time nice -n 5 mage evaluate --checkpoint runs/drec/l1/checkpoint --local --episodes 100 --num-envs 50 \
    --experiment mage-drec --protocol paper --set eval.track_lookahead=$K
done
time nice -n 5 mage evaluate --checkpoint runs/drec/l1/checkpoint --local --episodes 100 --num-envs 50 \
  --experiment mage-drec --protocol paper --no-hold --set eval.track_lookahead=8
