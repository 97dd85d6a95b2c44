set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# issue 12: BC, IQL on maze2d-medium and -large at the umaze rows' budget (5k steps), then DT at batch 64
time nice -n 5 python sweeps/baselines.py --methods bc iql --datasets maze2d-medium-v1 maze2d-large-v1 --seeds 0 \
  --steps 5000 --also-hold --max-concurrent 1 \
  --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_baselines --name baselines-ml-5k
# (this DT command was stopped with Ctrl-C 4 s in, before any run was logged; DT ran as runs/dt-ml.sh medium|large,
# two sweeps side by side, to fit the session)
time nice -n 5 python sweeps/baselines.py --methods dt --datasets maze2d-medium-v1 maze2d-large-v1 --seeds 0 \
  --steps 5000 --also-hold --max-concurrent 1 --set baseline.dt.batch_size=64 --set baseline.dt.warmup_steps=500 \
  --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_baselines --name baselines-ml-dt-5k
