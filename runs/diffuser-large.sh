set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=2
# issue 12: Diffuser on maze2d-large (H = 384) at medium's CPU budget (1.5k steps), its published protocol, idle box
time python sweeps/baselines.py --methods diffuser --datasets maze2d-large-v1 --seeds 0 \
  --steps 1500 --set baseline.steps_per_epoch=250 --set baseline.replan_every=0 \
  --set eval.goal=given --set eval.acting=track --also-hold --max-concurrent 1 \
  --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_baselines --name diffuser-large-1500
