set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# the main table's MAGE-goal rows: the fixed-D' goal model (runs/multi-mage-drec.sh) at R̂_0 = the 50th percentile
for T in maze2d-umaze-v1 maze2d-umaze-multi-v1; do
  for P in "--no-hold" "--hold" "--acting track --set eval.track_lookahead=8 --no-hold" \
      "--acting track --set eval.track_lookahead=8 --hold"; do
    time nice -n 10 mage evaluate --checkpoint runs/multi/drec/checkpoint --task $T --local --episodes 100 \
      --num-envs 50 --experiment mage-baselines --goal given --rtg-percentile 50 $P
  done
done
