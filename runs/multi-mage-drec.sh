set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3 again after the D' fix (policy.lambda_rec=1, the default now): runs/multi-mage.sh's recipe, then the
# goal model's own action and its decoded plan followed by the tracker (k = 8), on the single-task env by cell
time nice -n 5 mage train --dataset maze2d-umaze-multi-v1 --preset demo --local --no-eval --out runs/multi/drec \
  --experiment mage-goal-cells --run-name mage-umaze-multi-goal-demo-drec \
  --set data.goal_relabel=future --set transformer.use_goal=true
for T in maze2d-umaze-v1 maze2d-umaze-multi-v1; do
  for P in "--no-hold" "--hold" "--acting track --set eval.track_lookahead=8 --no-hold" "--acting track --set eval.track_lookahead=8 --hold"; do
    time nice -n 5 mage evaluate --checkpoint runs/multi/drec/checkpoint --task $T --local --episodes 100 \
      --num-envs 50 --experiment mage-goal-cells --goal given $P --by-cell
  done
done
