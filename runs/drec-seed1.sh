set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# a second seed of runs/drec-ab.sh's fixed-D' umaze model (train.seed=1: data order, init, env seeds unchanged)
time nice -n 5 mage train --dataset maze2d-umaze-v1 --preset demo --local --no-eval --out runs/drec/l1-seed1 \
  --experiment mage-drec --run-name umaze-demo-lambda-rec-1-seed1 --set train.seed=1
for P in "--protocol pure" "--protocol pure --acting track" "--protocol paper"; do
  time nice -n 5 mage evaluate --checkpoint runs/drec/l1-seed1/checkpoint --local --episodes 100 --num-envs 50 \
    --experiment mage-drec $P --set eval.track_lookahead=8
done
