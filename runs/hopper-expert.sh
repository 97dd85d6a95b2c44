# issue 15: hopper-expert-mage from the shared SAC run (data/sac/Hopper-v5-seed0; resumes where it stands,
# `mage data list` says where), then the hopper-medium rows' methods on it at the same budgets.
# Session 14 (a fresh machine, no work dir) made the file with two torch threads and a 300k-step cap
# (SAC_STEPS=300000 OMP_NUM_THREADS=2; docs/benchmarks.md says why); the default is D4RL's 1M:
# BC, IQL, TD3+BC and DT at 5k steps (runs/hopper-baselines.sh, runs/dt-hopper.sh) and MAGE
# (runs/hopper-mage.sh). Our data, NOT D4RL's hopper-expert-v2. Steps: all (default), data, baselines, mage.
set -ex
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token \
  RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1
SAC_THREADS=${OMP_NUM_THREADS:-1}
export OMP_NUM_THREADS=1
STEP=${1:-all}
DB=sqlite:////work/main/runs/baselines.db
if [[ $STEP == all || $STEP == data ]]; then
  time OMP_NUM_THREADS=$SAC_THREADS nice -n 10 mage data generate hopper-expert-mage --sac-steps ${SAC_STEPS:-1000000}
  mage data info hopper-expert-mage
fi
# baselines and mage can run side by side (one core each): mage trains with --local (no Ray, the same trainer and
# rollout code, evaluation in-process), so the two never share an embedded Ray head. One MLflow store ($DB).
if [[ $STEP == all || $STEP == baselines ]]; then
  time nice -n 5 python sweeps/baselines.py --methods bc iql td3bc dt --datasets hopper-expert-mage --seeds 0 \
    --steps 5000 --max-concurrent 1 --set baseline.dt.batch_size=64 --set baseline.dt.warmup_steps=500 \
    --tracking-uri $DB --storage /work/main/runs/ray_baselines --name baselines-hopper-expert-5k
fi
if [[ $STEP == all || $STEP == mage ]]; then
  time MLFLOW_TRACKING_URI=$DB nice -n 5 mage train --local --dataset hopper-expert-mage --experiment mage-hopper \
    --run-name mage-hopper-expert-cpu --out /work/main/runs/mage-hopper-expert-cpu --set eval.num_envs=25 \
    --set train.tokenizer_epochs=4 --set train.policy_epochs=6
fi
