set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §3: R̂_0 = the 50th percentile was chosen after runs on env seeds 0..99, so check it on env seeds
# 100..199 (seed-0 model), and on the second training seed (runs/multi-drec-seed1.sh) on env seeds 0..99
P="--goal given --acting track --set eval.track_lookahead=8 --hold --rtg-percentile 50 --by-cell"
for T in maze2d-umaze-v1 maze2d-umaze-multi-v1; do
  time nice -n 10 mage evaluate --checkpoint runs/multi/drec/checkpoint --task $T --local --episodes 100 \
    --num-envs 50 --experiment mage-goal-cells --seed 100 $P
  time nice -n 10 mage evaluate --checkpoint runs/multi/drec-seed1/checkpoint --task $T --local --episodes 100 \
    --num-envs 50 --experiment mage-goal-cells $P
done
