set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
export MLFLOW_TRACKING_URI=sqlite:////work/main/runs/baselines.db
# issue 14 §5 after the D' fix (policy.lambda_rec=1): runs/large-mage.sh's recipe (demo architecture at the maze's
# Diffuser horizon, K = 6) retrained on medium and large, then own action and the tracker (k = 8), +- the hold
train() {  # $1 maze, $2 horizon
  time nice -n 5 mage train --dataset maze2d-$1-v1 --preset demo --local --no-eval --out runs/$1/drec \
    --experiment mage-baselines --run-name mage-$1-demo-h$2-drec \
    --set data.horizon=$2 --set data.rtg_horizon=$2 --set tokenizer.num_scales=6
}
evaluate() {  # $1 maze
  for P in "--protocol pure" "--protocol pure --hold" "--goal given --hold" \
      "--protocol pure --acting track --set eval.track_lookahead=8" "--protocol paper --set eval.track_lookahead=8"; do
    time nice -n 5 mage evaluate --checkpoint runs/$1/drec/checkpoint --local --episodes 100 --num-envs 50 \
      --experiment mage-baselines $P
  done
}
train medium 256 && evaluate medium
train large 384 && evaluate large
