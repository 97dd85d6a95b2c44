# Second real interruption of the K sweep's seed 2 (after the fixes of runs/k-seed2-resume.sh's first try): wait
# for a trial that started after now to log stage-2 epoch 2 (global epoch 6 or more), SIGINT its driver, --resume.
# The resumed trial must continue its own Ray Train fit: tag mage.resumed_from_epoch.policy, no epoch logged twice.
set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
DB=/work/main/runs/baselines.db
T0=$(( $(date +%s) - 120 ))000  # a little before: the next trial may have just started
PID=$(pgrep -f "hierarchy_depth.py --resume --name k-umaze-demo-seed2")
Q="select count(*) from runs r join metrics m on m.run_uuid=r.run_uuid where r.status='RUNNING' and r.name like 'hierarchy-depth%' and r.start_time>$T0 and m.key='pol/loss' and m.step>=6"
until [ "$(sqlite3 $DB "$Q")" -ge 1 ]; do sleep 10; done
kill -INT $PID
while kill -0 $PID 2>/dev/null; do sleep 2; done
time python sweeps/hierarchy_depth.py --resume --name k-umaze-demo-seed2 --storage /work/main/runs/ray_kdepth \
  > runs/k-seed2-c.log 2>&1; echo "resume exit $?"
sqlite3 $DB "select r.name, r.status, t.key, t.value from runs r join tags t on t.run_uuid=r.run_uuid where r.start_time>$T0 and t.key like 'mage.resumed_from_epoch%'"
sqlite3 $DB "select r.name, r.status, m.key, min(m.step), max(m.step), count(*) from runs r join metrics m on m.run_uuid=r.run_uuid where r.start_time>$T0 and r.name like 'hierarchy-depth%' and m.key in ('tok/loss','pol/loss') group by r.run_uuid, m.key order by r.start_time"
