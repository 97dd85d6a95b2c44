set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3, testing a reading of the goal model's failure (docs/results.md): the same run as runs/multi-mage.sh
# but hindsight goals cut from the raw episodes, without Diffuser's re-split (which starts every episode by
# leaving the goal cell (1, 1)); then the single-task env by start cell
time nice -n 5 mage train --dataset maze2d-umaze-multi-v1 --preset demo --local --no-eval --out runs/multi/noresplit \
  --experiment mage-goal-cells --run-name mage-umaze-multi-goal-demo-noresplit \
  --set data.goal_relabel=future --set transformer.use_goal=true --set data.diffuser_resplit=false
for T in maze2d-umaze-v1 maze2d-umaze-multi-v1; do
  time nice -n 5 mage evaluate --checkpoint runs/multi/noresplit/checkpoint --task $T --local --episodes 100 \
    --num-envs 50 --experiment mage-goal-cells --goal given --no-hold
done
