# issue 13: measure pol/val_plan_mse (the greedy plan's state error, comparable across K) on every K-sweep
# trial's final checkpoint and log it to the trial's run (only metrics the run lacks); then the reports.
# CODE: the checkout whose mage/ to run (python -m puts the working directory first on sys.path: cd there) (a worktree while a sweep runs from /work/main).
CODE=${CODE:-/work/main}
DB=/work/main/runs/baselines.db
sqlite3 -separator ' ' $DB "select r.run_uuid, s.value, n.value from runs r
  join experiments e on e.experiment_id = r.experiment_id and e.name = 'mage-hierarchy-depth'
  join tags s on s.run_uuid = r.run_uuid and s.key = 'mage.fit_storage'
  join tags n on n.run_uuid = r.run_uuid and n.key = 'mage.fit_name'
  join latest_metrics m on m.run_uuid = r.run_uuid and m.key = 'eval/norm_score'
  where r.lifecycle_stage = 'active' and r.status = 'FINISHED'" |
while read -r run storage fit; do
  ck=$(ls -d "$storage/$fit"-{train,policy}/checkpoint_*/ 2>/dev/null | sort | tail -1)  # -policy: a reused tokenizer
  if [ -z "$ck" ]; then echo "no checkpoint for $run ($fit)"; continue; fi
  echo "== $run $ck"
  cd $CODE && PYTHONPATH=$CODE MAGE_HOME=/work/main OMP_NUM_THREADS=1 nice -n 5 /work/main/.venv/bin/python -m mage validate \
    --checkpoint "$ck" --run-id "$run" --tracking-uri sqlite:///$DB < /dev/null
done
