set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §5: the H200 checkpoints of bench/gpu_mazes.sh's second run (the device time ran out before their
# evaluations), evaluated here on the CPU under the main table's four protocols; a row of their own in the table.
for n in ${@:-medium2 large2}; do
  for P in "--protocol pure" "--protocol pure --hold" "--protocol pure --acting track" "--protocol paper"; do
    time nice -n 5 mage evaluate --checkpoint runs/gpu-h200/$n/checkpoint --local --episodes 100 --num-envs 100 \
      --experiment mage-baselines --row-name "H200 budget" --set eval.track_lookahead=8 $P
  done
done
