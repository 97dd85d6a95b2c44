# issue 14, 2026-11-30 (session 12): the medium lesson on large. runs/k-medium-long-s12.sh's recipe (3 x stage 2,
# 400 + 2400 steps at batch 128) on the k-large-demo-k18 sweep's K = 1 tokenizers, H = 384, seeds 0 1 2 (two at a
# time beside the niced hopper SAC run; later flags win). From a frozen worktree (/work/wt-sweep); MAGE_HOME keeps data
# and MLflow here. `--resume --name k-large-long` continues an interrupted sweep.
set -x
cd /work/wt-sweep || exit 1
export MAGE_HOME=/work/main MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 \
  RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
time /work/main/.venv/bin/python sweeps/hierarchy_depth.py --K 1 --datasets maze2d-large-v1 --seeds 0 1 2 --preset demo \
  --set data.horizon=384 --set data.rtg_horizon=384 \
  --set eval.goal=none --set eval.acting=track --set eval.hold=false --set eval.track_lookahead=8 --also-hold \
  --set train.policy_epochs=24 --tokenizers-from cc5f71f489334526bd20a4bafae7cd28 \
  --max-concurrent 1 --tracking-uri sqlite:////work/main/runs/baselines.db \
  --storage /work/main/runs/ray_kdepth_large_long --name k-large-long "$@"
