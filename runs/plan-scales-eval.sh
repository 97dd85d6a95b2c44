# issue 13: K = 8 models planning from their first 4 scales only (eval.plan_scales=4), closed loop, in the K
# sweep's protocols (R / track at lookahead 8, and + hold; 100 episodes on env seeds 0..99, the checkpoint's R̂0),
# so each row pairs by seed with the sweep's own K = 8 evaluation of the same checkpoint. Code: CODE (a worktree).
# usage: bash runs/plan-scales-eval.sh DATASET SCALES [K]
CODE=${CODE:-/work/main}
DS=${1:-maze2d-medium-v1}; S=${2:-4}; K=${3:-8}
DB=/work/main/runs/baselines.db
export MAGE_HOME=/work/main MLFLOW_TRACKING_URI=sqlite:///$DB MLFLOW_DISABLE_TELEMETRY=true OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
sqlite3 -separator ' ' $DB "select s.value, n.value, (select value from tags where run_uuid = r.run_uuid and key = 'mage.seed')
  from runs r join experiments e on e.experiment_id = r.experiment_id and e.name = 'mage-hierarchy-depth'
  join tags s on s.run_uuid = r.run_uuid and s.key = 'mage.fit_storage'
  join tags n on n.run_uuid = r.run_uuid and n.key = 'mage.fit_name'
  join tags d on d.run_uuid = r.run_uuid and d.key = 'mage.dataset' and d.value = '$DS'
  join tags k on k.run_uuid = r.run_uuid and k.key = 'mage.K' and k.value = '$K'
  join latest_metrics m on m.run_uuid = r.run_uuid and m.key = 'eval/norm_score'
  where r.lifecycle_stage = 'active' and r.status = 'FINISHED' order by 3" |
while read -r storage fit seed; do
  ck=$(ls -d "$storage/$fit-train"/checkpoint_*/ | sort | tail -1)
  for hold in --no-hold --hold; do
    echo "== $DS K=$K seed $seed plan_scales=$S $hold $ck"
    (cd $CODE && time nice -n 5 /work/main/.venv/bin/python -m mage evaluate --checkpoint "$ck" --local --episodes 100 \
      --num-envs 50 --seed 0 --goal none --acting track $hold --set eval.track_lookahead=8 --set eval.plan_scales=$S \
      --experiment mage-plan-scales --row-name "K = $K, plan from $S scales" < /dev/null)
  done
done
