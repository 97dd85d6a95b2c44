set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 12/14: MAGE on maze2d-large-v1 beside the medium/large baselines: the `demo` architecture at large's plan
# horizon H = 384 (Diffuser's), stride 8 -> 48 latent steps, K = 6; 400 + 800 steps on one thread
time nice -n 5 mage train --dataset maze2d-large-v1 --preset demo --local --no-eval --out runs/large/a \
  --experiment mage-baselines --run-name mage-large-demo-h384 \
  --set data.horizon=384 --set data.rtg_horizon=384 --set tokenizer.num_scales=6
# then the medium checkpoint of docs/results.md (demo arch., H = 256) and this one, every protocol, into the table
for CK in runs/medium/a/checkpoint runs/large/a/checkpoint; do
  for P in "--protocol pure" "--protocol pure --hold" "--goal given --hold"; do
    time nice -n 5 mage evaluate --checkpoint $CK --local --episodes 100 --num-envs 50 \
      --experiment mage-baselines $P
  done
done
