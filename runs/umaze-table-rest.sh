set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# The main umaze table's last rows, logged beside the baselines (experiment mage-baselines):
# MAGE = the `demo` checkpoint of docs/results.md (400 + 800 steps, one thread), every protocol it supports
for P in "--protocol pure" "--protocol pure --hold" "--goal given --hold" "--protocol paper"; do
  time nice -n 10 mage evaluate --checkpoint runs/demo/b/checkpoint --local --episodes 100 --num-envs 50 \
    --experiment mage-baselines $P
done
# MPPI on the true simulator (no training), its natural track G; the hold changes nothing for it (results.md)
time nice -n 10 mage evaluate --method mppi --task maze2d-umaze-v1 --goal given --no-hold --episodes 100 \
  --num-envs 50 --local --experiment mage-baselines
