set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=2
# issue 15: Diffuser on maze2d-giant at its plan horizon (H = 512, the dataset default), 1k steps, open loop
# (plan once), G / track and + hold: the giant table's missing Diffuser row. Resume: bash $0 --resume
mage data generate maze2d-giant-v1 --if-missing
time python sweeps/baselines.py --methods diffuser --datasets maze2d-giant-v1 --seeds 0 \
  --steps 1000 --set baseline.steps_per_epoch=250 --set baseline.replan_every=0 \
  --set eval.goal=given --set eval.acting=track --also-hold --max-concurrent 1 \
  --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_baselines \
  --name diffuser-giant-1000 "$@"
