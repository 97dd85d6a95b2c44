# issue 13, 2026-11-30: after K = 2 / 4 on large (seeds 1, 2), the medium stage-2 x 3 test (runs/k-medium-long.sh's
# flags) on seed 0, K = 1 and K = 8 side by side. It runs from a frozen worktree (/work/wt-sweep, the commit that
# logs pol/val_plan_mse) so the main checkout can be edited meanwhile; MAGE_HOME keeps data and MLflow here.
set -x
while pgrep -f "name k-large-demo-k24-s12" > /dev/null; do sleep 30; done
cd /work/wt-sweep || exit 1
export MAGE_HOME=/work/main MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 \
  RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
time /work/main/.venv/bin/python sweeps/hierarchy_depth.py --K 1 8 --datasets maze2d-medium-v1 --seeds 0 --preset demo \
  --set data.horizon=256 --set data.rtg_horizon=256 \
  --set eval.goal=none --set eval.acting=track --set eval.hold=false --set eval.track_lookahead=8 --also-hold \
  --set train.policy_epochs=24 --tokenizers-from 7254c9e2e1df4eaf8cdce379a6608636 \
  --max-concurrent 2 --tracking-uri sqlite:////work/main/runs/baselines.db \
  --storage /work/main/runs/ray_kdepth_medium_long --name k-medium-long-s0
