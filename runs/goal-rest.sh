set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3: does the goal model's own action (a = I(z, s)) start better from rest when training draws the
# windows that start at rest more often? Usage: bash runs/goal-rest.sh NAME [--set data.rest_weight=W ...]
# The goal recipe of runs/multi-mage-drec.sh (demo, hindsight goals), then own and own + hold at R̂0 = p50
# on the single-task and the Multi2D umaze, 100 episodes on env seeds 0..99.
NAME=$1; shift
time nice -n 5 mage train --dataset maze2d-umaze-multi-v1 --preset demo --local --no-eval --out runs/multi/$NAME \
  --experiment mage-goal-rest --run-name mage-umaze-multi-goal-demo-$NAME \
  --set data.goal_relabel=future --set transformer.use_goal=true "$@"
for T in maze2d-umaze-v1 maze2d-umaze-multi-v1; do
  for P in --no-hold --hold; do
    time nice -n 5 mage evaluate --checkpoint runs/multi/$NAME/checkpoint --task $T --local --episodes 100 \
      --num-envs 50 --experiment mage-goal-rest --goal given --rtg-percentile 50 --by-cell $P
  done
done
