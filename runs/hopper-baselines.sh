set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# BC, IQL, TD3+BC on our SAC-made hopper-medium-mage (NOT D4RL's hopper-medium-v2), 5k steps each, 100 episodes
time nice -n 5 python sweeps/baselines.py --methods bc iql td3bc --datasets hopper-medium-mage --seeds 0 \
  --steps 5000 --max-concurrent 1 --tracking-uri sqlite:////work/main/runs/baselines.db \
  --storage /work/main/runs/ray_baselines --name baselines-hopper-5k
