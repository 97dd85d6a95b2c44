set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# a second seed of runs/multi-mage-drec.sh (train.seed=1), single-task env: own action and tracking, by cell
time nice -n 5 mage train --dataset maze2d-umaze-multi-v1 --preset demo --local --no-eval --out runs/multi/drec-seed1 \
  --experiment mage-goal-cells --run-name mage-umaze-multi-goal-demo-drec-seed1 \
  --set data.goal_relabel=future --set transformer.use_goal=true --set train.seed=1
for P in "--no-hold" "--acting track --set eval.track_lookahead=8 --no-hold"; do
  time nice -n 5 mage evaluate --checkpoint runs/multi/drec-seed1/checkpoint --task maze2d-umaze-v1 --local \
    --episodes 100 --num-envs 50 --experiment mage-goal-cells --goal given $P --by-cell
done
