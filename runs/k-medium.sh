set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# issue 13: hierarchy depth K in {1, 2, 4, 8} x 3 seeds on maze2d-medium (the longest maze a 2-core budget
# navigates at all), the demo recipe at medium's plan horizon H = 256 (32 latent steps), 400 + 800 steps;
# each model evaluated in R / track (no goal, no hold) and R / track + hold (the paper-comparable controller)
time python sweeps/hierarchy_depth.py --K 1 2 4 8 --datasets maze2d-medium-v1 --seeds 0 1 2 --preset demo \
  --set data.horizon=256 --set data.rtg_horizon=256 \
  --set eval.goal=none --set eval.acting=track --set eval.hold=false --set eval.track_lookahead=8 --also-hold \
  --max-concurrent 2 --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_kdepth_medium \
  --name k-medium-demo "$@"
