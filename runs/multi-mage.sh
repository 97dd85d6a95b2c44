set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3 on CPU: goal-conditioned MAGE (hindsight goals from future states of the same episode) on
# maze2d-umaze-multi-v1 with the `demo` architecture (H = 128, K = 5), 400 + 800 steps on one thread, then
# G / own and G / own + hold on Multi2D and on the single-task env (goal 'G' = (1, 1))
time nice -n 5 mage train --dataset maze2d-umaze-multi-v1 --preset demo --local --no-eval --out runs/multi/a \
  --experiment mage-baselines --run-name mage-umaze-multi-goal-demo \
  --set data.goal_relabel=future --set transformer.use_goal=true
for T in maze2d-umaze-multi-v1 maze2d-umaze-v1; do
  for P in "--goal given --no-hold" "--goal given --hold"; do
    time nice -n 5 mage evaluate --checkpoint runs/multi/a/checkpoint --task $T --local --episodes 100 \
      --num-envs 50 --experiment mage-baselines $P
  done
done
