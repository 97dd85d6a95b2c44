set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# D' in stage 2: the `demo` recipe on maze2d-umaze with stage 2's L_rec anchor on D' (policy.lambda_rec=1, the
# new default) and without it (0, the objective before), same seed; then own, own + hold, and state tracking
for L in 0 1; do
  time nice -n 5 mage train --dataset maze2d-umaze-v1 --preset demo --local --no-eval --out runs/drec/l$L \
    --experiment mage-drec --run-name umaze-demo-lambda-rec-$L --set policy.lambda_rec=$L
done
for L in 0 1; do
  for P in "--protocol pure" "--goal given --hold" "--protocol paper" "--protocol paper --set eval.track_lookahead=8"; do
    time nice -n 5 mage evaluate --checkpoint runs/drec/l$L/checkpoint --local --episodes 100 --num-envs 50 \
      --experiment mage-drec $P
  done
done
