set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# issue 15: DT on our SAC-made hopper-medium-mage (NOT D4RL's hopper-medium-v2) at the maze rows' DT budget
# (5k steps, batch 64, warm-up 500), beside BC / IQL / TD3+BC of runs/hopper-baselines.sh
time nice -n 5 python sweeps/baselines.py --methods dt --datasets hopper-medium-mage --seeds 0 \
  --steps 5000 --max-concurrent 1 --set baseline.dt.batch_size=64 --set baseline.dt.warmup_steps=500 \
  --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_baselines --name baselines-hopper-dt-5k
