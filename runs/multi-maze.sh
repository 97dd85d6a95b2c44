set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3/§5, 2026-11-30: Multi2D beyond umaze. runs/multi-mage-drec.sh's goal recipe (hindsight goals from
# future states, transformer.use_goal) at the maze's plan horizon, then runs/goal-r50.sh's four protocols at
# R̂_0 = the 50th percentile on the Multi2D task and the single-task env, into mage-baselines.
#   bash runs/multi-maze.sh medium 256        (log runs/multi-medium.log)
#   bash runs/multi-maze.sh large 384 19      (log runs/multi-large.log; nice 19 beside the K sweep)
MAZE=$1 H=$2 NICE=${3:-5}
time nice -n $NICE mage train --dataset maze2d-$MAZE-multi-v1 --preset demo --local --no-eval --out runs/multi/$MAZE \
  --experiment mage-baselines --run-name mage-$MAZE-multi-goal-demo \
  --set data.horizon=$H --set data.rtg_horizon=$H \
  --set data.goal_relabel=future --set transformer.use_goal=true
for T in maze2d-$MAZE-multi-v1 maze2d-$MAZE-v1; do
  for P in "--no-hold" "--hold" "--acting track --set eval.track_lookahead=8 --no-hold" \
      "--acting track --set eval.track_lookahead=8 --hold"; do
    time nice -n $NICE mage evaluate --checkpoint runs/multi/$MAZE/checkpoint --task $T --local --episodes 100 \
      --num-envs 50 --experiment mage-baselines --goal given --rtg-percentile 50 --by-cell $P
  done
done
