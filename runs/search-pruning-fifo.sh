set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# The FIFO control of runs/search-pruning.sh: the same flags and sampler seed, every trial to its end
COMMON="--preset demo --space cpu --num-samples 6 --sampler-seed 0 --max-concurrent 2 --grace-period 2 \
  --reduction-factor 2 --set eval.probe_every=2 --set eval.probe_episodes=20 \
  --tracking-uri sqlite:////work/main/runs/search.db --storage /work/main/runs/ray_search"
time nice -n 10 python sweeps/search.py $COMMON --scheduler fifo --name pruning-fifo
python analysis/pruning.py --tracking-uri sqlite:////work/main/runs/search.db --asha pruning-asha --fifo pruning-fifo \
  --out runs/search-pruning --no-cache
