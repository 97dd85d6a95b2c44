# this session's chain: wait for the K = 1 / 8 sweep, then resume it, which re-runs the two trials whose
# evaluation failed (an ImportError: the code under them changed mid-trial; their Ray Train fits restore from
# their last checkpoint, so only the evaluations run). K = 2 / 4 on seed 0 runs beside it (runs/k-large-k24.sh).
set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
while pgrep -f "name k-large-demo-k18" > /dev/null; do sleep 30; done
time python sweeps/hierarchy_depth.py --resume --name k-large-demo-k18 --storage /work/main/runs/ray_kdepth_large
