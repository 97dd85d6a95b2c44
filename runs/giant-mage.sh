set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# MAGE on our maze2d-giant-v1: the `demo` architecture at H = 256 (giant's default is 512; 256 keeps the run inside
# a CPU session), K = 6 over 32 latent steps, 400 + 800 steps on one thread; then both tracks, 100 episodes each
time nice -n 5 mage train --dataset maze2d-giant-v1 --preset demo --local --no-eval --out runs/giant/a \
  --experiment mage-giant --run-name mage-giant-demo-h256 \
  --set data.horizon=256 --set data.rtg_horizon=256 --set tokenizer.num_scales=6
for P in "--protocol pure" "--protocol pure --hold" "--goal given --hold"; do
  time nice -n 5 mage evaluate --checkpoint runs/giant/a/checkpoint --local --episodes 100 --num-envs 50 \
    --experiment mage-giant $P
done
