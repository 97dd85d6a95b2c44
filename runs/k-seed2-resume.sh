# The K sweep's seed 2 (started 2026-11-29 and interrupted after 4 min), continued with --resume; on the way, a
# real interruption mid-training: SIGINT to the driver once a trial has logged stage-2 epoch 2 (global epoch 6),
# then --resume again. The interrupted trials must continue their Ray Train fits (mage.resumed_from_epoch.*).
set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
DB=/work/main/runs/baselines.db
RESUME=(--resume --name k-umaze-demo-seed2 --storage /work/main/runs/ray_kdepth --max-concurrent 2)
T0=$(date +%s)000
python sweeps/hierarchy_depth.py "${RESUME[@]}" > runs/k-seed2-a.log 2>&1 &
PID=$!
Q="select count(*) from runs r join metrics m on m.run_uuid=r.run_uuid where r.status='RUNNING' and r.start_time>$T0 and m.key='pol/loss' and m.step>=6"
until [ "$(sqlite3 $DB "$Q")" -ge 1 ]; do sleep 10; done
kill -INT $PID
wait $PID; echo "first attempt exit $?"
time python sweeps/hierarchy_depth.py "${RESUME[@]}" > runs/k-seed2-b.log 2>&1; echo "resume exit $?"
sqlite3 $DB "select r.name, r.status, t.key, t.value from runs r join tags t on t.run_uuid=r.run_uuid where r.start_time>$T0 and t.key like 'mage.resumed_from_epoch%'"
sqlite3 $DB "select r.name, r.status, min(m.step), max(m.step) from runs r join metrics m on m.run_uuid=r.run_uuid where r.start_time>$T0 and m.key='pol/loss' group by r.run_uuid order by r.start_time"
