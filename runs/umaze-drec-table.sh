set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# the main table's MAGE umaze rows from the fixed-D' demo checkpoint of runs/drec-ab.sh (policy.lambda_rec=1)
for P in "--protocol pure" "--protocol pure --hold" "--goal given --hold" \
    "--protocol pure --acting track --set eval.track_lookahead=8" "--protocol paper --set eval.track_lookahead=8"; do
  time nice -n 5 mage evaluate --checkpoint runs/drec/l1/checkpoint --local --episodes 100 --num-envs 50 \
    --experiment mage-baselines $P
done
