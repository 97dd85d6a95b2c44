set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# issue 13: hierarchy depth K in {1, 2, 4, 8} x 3 seeds on maze2d-large, the recipe of runs/k-medium.sh at
# large's plan horizon H = 384 (48 latent steps). Not run yet: about 35-40 min per trial on one core, so two
# seeds fit one 3-hour session two at a time; `--resume` (or `--seeds 2` in a new sweep) for the third.
time python sweeps/hierarchy_depth.py --K 1 2 4 8 --datasets maze2d-large-v1 --seeds 0 1 2 --preset demo \
  --set data.horizon=384 --set data.rtg_horizon=384 \
  --set eval.goal=none --set eval.acting=track --set eval.hold=false --set eval.track_lookahead=8 --also-hold \
  --max-concurrent 2 --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_kdepth_large \
  --name k-large-demo "$@"
