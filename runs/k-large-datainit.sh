# issue 14, 2026-11-30 (session 13): K = 1 on maze2d-large with the stage-1 fixes of 2532601 (no dead-code restart
# in the last 100 steps, now the default; tokenizer.codebook_init=data). The k-large-demo sweep's K = 1 recipe
# otherwise (demo, H = 384, 400 + 800 steps, R / track and R / track + hold), seeds 0 1 2 one at a time beside
# the niced hopper SAC run. From a frozen worktree (/work/wt-sweep); MAGE_HOME keeps data and MLflow here.
set -x
cd /work/wt-sweep || exit 1  # git worktree add --detach /work/wt-sweep HEAD
export MAGE_HOME=/work/main MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 \
  RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
time /work/main/.venv/bin/python sweeps/hierarchy_depth.py --K 1 --datasets maze2d-large-v1 --seeds 0 1 2 --preset demo \
  --set data.horizon=384 --set data.rtg_horizon=384 --set tokenizer.codebook_init=data \
  --set eval.goal=none --set eval.acting=track --set eval.hold=false --set eval.track_lookahead=8 --also-hold \
  --max-concurrent 1 --tracking-uri sqlite:////work/main/runs/baselines.db \
  --storage /work/main/runs/ray_kdepth_large_datainit --name k-large-datainit "$@"
