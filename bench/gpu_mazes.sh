#!/usr/bin/env bash
# The GPU run behind docs/results.md (issue 14): MAGE on maze2d-umaze/medium/large (+ optional jobs), one
# training process per maze side by side on one GPU, each with a step budget computed from throughput measured
# on that GPU at the start of this same run (bench/train_throughput.py, also reported), then 100-episode
# evaluations under the pure and the paper protocols. Single-process path: no Ray, no MLflow (run.jsonl).
# Usage on the device machine: bash bench/gpu_mazes.sh OUT_DIR [TRAIN_SECONDS] [EVAL_DEADLINE_SECONDS]
# EVAL_DEADLINE_SECONDS (from the script's start, default none): evaluations still running then are stopped, so
# what finished (and the checkpoints) still comes back inside the caller's time limit.
# Returns in OUT_DIR: summary.txt (device, timings, plans, scores), logs.tar.gz, checkpoints.tar.gz.
set -uo pipefail
OUT=${1:?OUT dir}; TRAIN_S=${2:-140}; DEADLINE=${3:-0}
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 MAGE_DATA_DIR=${MAGE_DATA_DIR:-/tmp/mage-data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}  # several processes share the host cores
W=${MAGE_WORK:-/tmp/work}; rm -rf $W; mkdir -p $W/logs; PY=python3; T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
S=$OUT/summary.txt
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee $S
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0), 'cpus', __import__('os').cpu_count())" | tee -a $S
# JOBS: name dataset "extra --set overrides" ; MAGE_EXTRA_JOBS adds lines of the same form
JOBS="${MAGE_JOBS:-umaze maze2d-umaze-v1 data.rtg_horizon=128
medium maze2d-medium-v1 data.rtg_horizon=256
large maze2d-large-v1 data.rtg_horizon=384}
${MAGE_EXTRA_JOBS:-}"
# A dry run on a CPU box: MAGE_PRESET=smoke MAGE_DEVICE=cpu MAGE_EPISODES=4 MAGE_JOBS="umaze maze2d-umaze-v1"
PRESET=${MAGE_PRESET:-cpu}; DEV=${MAGE_DEVICE:-cuda}; EPISODES=${MAGE_EPISODES:-100}
COMMON="eval.rtg_update=hold train.batch_size=512 train.loader=device"
sets() { for kv in $COMMON $*; do printf -- "--set %s " "$kv"; done; }
# 1. data (one generator per maze, in parallel)
for ds in $(echo "$JOBS" | awk 'NF{print $2}' | sed 's/-multi//' | sort -u); do
  $PY -m mage data generate $ds --if-missing > $W/logs/data-$ds.log 2>&1 &
done; wait; echo "data done at $(el) s" | tee -a $S
# MAGE_PLAN="train.… settings" skips steps 2-3 (a re-run on the same GPU that already measured its rates)
if [ -z "${MAGE_PLAN:-}" ]; then
# 2. throughput on this GPU, one bench per job in parallel (the same concurrency as the trainings)
while read -r name ds extra; do [ -n "$name" ] || continue
  $PY bench/train_throughput.py --dataset $ds --preset $PRESET --device $DEV --steps 20 --json $W/tp-$name.json $(sets $extra) \
    > $W/logs/throughput-$name.log 2>&1 &
done <<< "$JOBS"; wait; echo "throughput done at $(el) s" | tee -a $S
for f in $W/logs/throughput-*.log; do echo "== $f"; grep -E "^#|^row|^(dataloader|device)" $f; done | tee -a $S
# 3. plan: steps per stage from the measured rate of the fastest row, split TRAIN_S 30/70 between stages.
# SAFETY: the 2026-11-28 run took 1.6-1.8x its plan (start-up, validation, side-by-side processes).
plan() { $PY - "$1" "$TRAIN_S" "${MAGE_SPE:-100}" <<'PYEOF'
import json, sys
tp = json.load(open(sys.argv[1])); T = float(sys.argv[2]); b = tp["batch"]; spe = int(sys.argv[3])
rows = {k: v for k, v in tp["windows_per_s"].items() if k != "dataloader"}
best = max(rows, key=lambda k: rows[k]["policy"] + rows[k]["tokenizer"])
ep = lambda stage, share: max(1, int(rows[best][stage] / b * T * share * 0.55 / spe))
prec = "bf16" if "bf16" in best else "fp32"
print(f"train.steps_per_epoch={spe} train.tokenizer_epochs={ep('tokenizer', 0.3)} "
      f"train.policy_epochs={ep('policy', 0.7)} train.precision={prec}")
PYEOF
}
else plan() { echo "$MAGE_PLAN"; }; fi
# 4. train all jobs side by side. Measured 2026-11-29 (docs/results.md): on one GPU without MPS the processes
# time-slice, three together train about as fast as one alone, so side by side saves nothing but start-up.
while read -r name ds extra; do [ -n "$name" ] || continue
  p=$(plan $W/tp-$name.json); echo "plan $name: $extra $p" | tee -a $S
  # a safety net, not the plan: a job still in stage 2 at 1.3 x TRAIN_S keeps its last epoch and the script
  # goes on to the evaluations (the 2026-11-29 call 2 overran its plan and lost them)
  ( t=$(date +%s); $PY -m mage train --dataset $ds --preset $PRESET --local --no-eval --out $W/run-$name \
      --time-limit $(( TRAIN_S * 13 / 10 )) --finish-at-limit \
      $(sets $extra $p) > $W/logs/train-$name.log 2>&1; echo "train $name rc=$? $(( $(date +%s) - t )) s" >> $S ) &
done <<< "$JOBS"; wait; echo "training done at $(el) s" | tee -a $S
# 5. evaluate: every (job, protocol) in its own process, side by side
evaluate() {  # name task label flags...
  local name=$1 task=$2 label=$3; shift 3; local log=$W/logs/eval-$name-${label//[^A-Za-z0-9]/_}.log
  echo "=== $name $task $label" > $log
  local limit=100000; [ "$DEADLINE" -gt 0 ] && limit=$(( DEADLINE - $(el) ))
  [ "$limit" -gt 10 ] || { echo "skipped: past the evaluation deadline" >> $log; return; }
  # one host thread each: up to a dozen evaluations share the host cores, the model runs on the GPU
  OMP_NUM_THREADS=1 timeout $limit $PY -m mage evaluate --checkpoint $W/run-$name/checkpoint --task $task --local --no-log --episodes $EPISODES \
    --num-envs 100 --device $DEV "$@" 2>&1 | grep -v "episodes:" >> $log
  [ "${PIPESTATUS[0]}" = 124 ] && echo "stopped at the evaluation deadline ($DEADLINE s)" >> $log
}
while read -r name ds extra; do [ -n "$name" ] || continue
  [ -d $W/run-$name/checkpoint ] || continue
  if [[ $ds == *multi* ]]; then
    evaluate $name $ds "G-own+hold" --goal given --hold &
    evaluate $name ${ds/-multi/} "G-own+hold single-task" --goal given --hold &
    evaluate $name $ds "G-own" --goal given &
  else
    evaluate $name $ds "R-own (pure)" --protocol pure &
    evaluate $name $ds "R-own+hold" --protocol pure --hold &
    evaluate $name $ds "R-track lookahead 8" --protocol pure --acting track --set eval.track_lookahead=8 &
    evaluate $name $ds "G-track+hold lookahead 8 (paper)" --protocol paper --set eval.track_lookahead=8 &
  fi
done <<< "$JOBS"; wait; echo "evaluation done at $(el) s" | tee -a $S
cat $W/logs/eval-*.log >> $S
# 6. what comes back
for d in $W/run-*/; do n=$(basename $d); mkdir -p $W/ck/$n
  cp $d/checkpoint/{config.json,meta.json,episode_returns.npy,tokenizer.pt,policy.pt} $W/ck/$n/ 2>/dev/null
  cp $d/run.jsonl $W/logs/$n.jsonl 2>/dev/null; done
cp $W/tp-*.json $W/logs/ 2>/dev/null
tar -C $W -czf $OUT/logs.tar.gz logs
for d in $W/ck/*/; do tar -C $W/ck -czf $OUT/ck-$(basename $d).tar.gz $(basename $d); done  # one per job: 16 MiB a file
echo "total $(el) s" | tee -a $S
