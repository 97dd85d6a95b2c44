set -x
while pgrep -f "bash runs/multi-medium.sh" > /dev/null; do sleep 30; done
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3/§5, 2026-11-30: Multi2D large, after runs/multi-medium.sh. runs/multi-mage-drec.sh's goal recipe (hindsight goals from future
# states, transformer.use_goal) at large's H = 384 (the K sweeps' demo setting), then runs/goal-r50.sh's four
# protocols at R̂_0 = the 50th percentile on the Multi2D task and the single-task env, into mage-baselines. nice 19: it takes the
# cycles the K sweep beside it (runs/k-medium-long-s12.sh) leaves.
time nice -n 19 mage train --dataset maze2d-large-multi-v1 --preset demo --local --no-eval --out runs/multi/large \
  --experiment mage-baselines --run-name mage-large-multi-goal-demo \
  --set data.horizon=384 --set data.rtg_horizon=384 \
  --set data.goal_relabel=future --set transformer.use_goal=true
for T in maze2d-large-multi-v1 maze2d-large-v1; do
  for P in "--no-hold" "--hold" "--acting track --set eval.track_lookahead=8 --no-hold" \
      "--acting track --set eval.track_lookahead=8 --hold"; do
    time nice -n 19 mage evaluate --checkpoint runs/multi/large/checkpoint --task $T --local --episodes 100 \
      --num-envs 50 --experiment mage-baselines --goal given --rtg-percentile 50 --by-cell $P
  done
done
