set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3: the fixed goal model (runs/multi-mage-drec.sh) under four protocols on each task, env seeds 0..99.
# $1: the MLflow experiment (default mage-goal-cells); $2: the R̂_0 flags (default: the 50th percentile of the
# relabelled returns, which a sub-episode start does reach; "" = the default 100th percentile)
EXP=${1:-mage-goal-cells}
R0=${2---rtg-percentile 50}
for T in maze2d-umaze-v1 maze2d-umaze-multi-v1; do
  for P in "--no-hold" "--hold" "--acting track --set eval.track_lookahead=8 --no-hold" \
      "--acting track --set eval.track_lookahead=8 --hold"; do
    time nice -n 10 mage evaluate --checkpoint runs/multi/drec/checkpoint --task $T --local --episodes 100 \
      --num-envs 50 --experiment $EXP --goal given $R0 --by-cell $P
  done
done
