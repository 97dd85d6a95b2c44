set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# The same 6 configs (TPE's random start-up, sampler seed 0) around the demo preset, with ASHA and without (FIFO):
# 8 stage-2 epochs, a 20-episode probe every 2 (the rung objective), 100 final episodes (G / own + hold)
COMMON="--preset demo --space cpu --num-samples 6 --sampler-seed 0 --max-concurrent 2 --grace-period 2 \
  --reduction-factor 2 --set eval.probe_every=2 --set eval.probe_episodes=20 \
  --tracking-uri sqlite:////work/main/runs/search.db --storage /work/main/runs/ray_search"
time python sweeps/search.py $COMMON --scheduler asha --name pruning-asha
# next session: time python sweeps/search.py $COMMON --scheduler fifo --name pruning-fifo
# next session: python analysis/pruning.py --tracking-uri sqlite:////work/main/runs/search.db --asha pruning-asha --fifo pruning-fifo \
#   --out runs/search-pruning --no-cache
