# A baseline sweep interrupted mid-fit (Ctrl-C = SIGINT to the driver after epoch 2 of 3), then --resume:
# the trial must continue its Diffuser fit from step 200, not from 0 (mage.baselines.resume). Its own store.
set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
STORE=sqlite:////work/main/runs/resume-demo.db
ARGS=(--methods diffuser --datasets maze2d-umaze-v1 --seeds 0 --steps 300 --set baseline.steps_per_epoch=100
  --set baseline.replan_every=0 --set eval.goal=given --set eval.acting=track --set eval.episodes=10
  --max-concurrent 1 --tracking-uri $STORE --storage /work/main/runs/ray_resume_demo --name resume-demo)
python sweeps/baselines.py "${ARGS[@]}" > runs/resume-demo-1.log 2>&1 &
PID=$!
until grep -q "step 200/300" runs/resume-demo-1.log; do sleep 2; done
kill -INT $PID
wait $PID; echo "first attempt exit $?"
ls -la runs/ray_resume_demo/resume-demo/fit_state/*/fit/
time python sweeps/baselines.py --resume --name resume-demo --storage /work/main/runs/ray_resume_demo \
  > runs/resume-demo-2.log 2>&1; echo "resume exit $?"
grep -a "\[diffuser\]" runs/resume-demo-1.log runs/resume-demo-2.log
ls runs/ray_resume_demo/resume-demo/fit_state/*/fit/
sqlite3 runs/resume-demo.db "select r.name, r.status, t.value from runs r left join tags t on t.run_uuid=r.run_uuid and t.key='mage.resumed_from_step' order by r.start_time"
sqlite3 runs/resume-demo.db "select r.name, m.key, m.step, round(m.value,4) from runs r join metrics m on m.run_uuid=r.run_uuid where m.key in ('loss','eval/norm_score','eval/success_rate') order by r.start_time, m.key, m.step"
