# issue 13/14, 2026-11-30: runs/k-medium-long-chain.sh's recipe (3 x stage 2 on the k-medium-demo tokenizers) on
# seeds 1 and 2, K = 1 and K = 8 two at a time, from a frozen worktree (/work/wt-sweep at d8798d2) so the main
# checkout can be edited meanwhile; MAGE_HOME keeps data and MLflow here.
set -x
cd /work/wt-sweep || exit 1
export MAGE_HOME=/work/main MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 \
  RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
time /work/main/.venv/bin/python sweeps/hierarchy_depth.py --K 1 8 --datasets maze2d-medium-v1 --seeds 1 2 --preset demo \
  --set data.horizon=256 --set data.rtg_horizon=256 \
  --set eval.goal=none --set eval.acting=track --set eval.hold=false --set eval.track_lookahead=8 --also-hold \
  --set train.policy_epochs=24 --tokenizers-from 7254c9e2e1df4eaf8cdce379a6608636 \
  --max-concurrent 2 --tracking-uri sqlite:////work/main/runs/baselines.db \
  --storage /work/main/runs/ray_kdepth_medium_long --name k-medium-long-s12
