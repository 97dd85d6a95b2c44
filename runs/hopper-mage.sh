set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# MAGE on our SAC-made hopper-medium-mage (NOT D4RL's hopper-medium-v2): cpu preset (paper architecture), hopper
# defaults (H = 32), 4 + 6 epochs of 100 steps (half the preset: 1.45 s per stage-2 step on one core here)
time nice -n 5 mage train --dataset hopper-medium-mage --experiment mage-hopper --run-name mage-hopper-medium-cpu \
  --actors 1 --set eval.num_envs=25 --set train.tokenizer_epochs=4 --set train.policy_epochs=6
