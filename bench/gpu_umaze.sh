#!/usr/bin/env bash
# One GPU run behind docs/results.md: longer-budget MAGE on maze2d-umaze (n-step RTG recipe), then 100-episode
# evaluations under the pure and the paper protocol. Single-process path (no Ray, no MLflow: run.jsonl).
# Usage on the device machine (wheels for gymnasium/mujoco in .whl): bash bench/gpu_umaze.sh OUT_DIR
set -uo pipefail
OUT=${1:?OUT dir}
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 MAGE_DATA_DIR=/tmp/mage-data
PY=python3
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$OUT/device.txt"
t0=$(date +%s)
$PY -m mage data generate maze2d-umaze-v1 > "$OUT/data.log" 2>&1 || { tail -5 "$OUT/data.log"; exit 1; }
echo "data $(( $(date +%s) - t0 )) s" | tee -a "$OUT/device.txt"
t1=$(date +%s)
$PY -m mage train --dataset maze2d-umaze-v1 --preset cpu --local --no-eval --out /tmp/run \
  --set data.rtg_horizon=128 --set eval.rtg_update=hold --set train.steps_per_epoch=500 \
  --set train.tokenizer_epochs=6 --set train.policy_epochs=12 --set train.num_workers=4 \
  > "$OUT/train.log" 2>&1 || { tail -20 "$OUT/train.log"; exit 1; }
echo "train $(( $(date +%s) - t1 )) s" | tee -a "$OUT/device.txt"
mkdir -p "$OUT/ck" && cp /tmp/run/checkpoint/{config.json,meta.json,episode_returns.npy,tokenizer.pt,policy.pt} "$OUT/ck/"
for p in "--protocol pure" "--protocol pure --hold" "--protocol paper"; do
  echo "=== $p" >> "$OUT/eval.log"
  $PY -m mage evaluate --checkpoint /tmp/run/checkpoint --local --no-log --episodes 100 --num-envs 50 \
    --device cuda $p 2>&1 | grep -v "episodes:" >> "$OUT/eval.log"
done
cat "$OUT/eval.log"; echo "total $(( $(date +%s) - t0 )) s" | tee -a "$OUT/device.txt"
