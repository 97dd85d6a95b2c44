set -x
source .venv/bin/activate
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/work/main/.ray/auth_token PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1
# issue 13: the paper's ablation rows on maze2d-umaze with the demo recipe (H = 128, K = 5, 400 + 800 steps), one
# seed; rows that share stage 1 with `ours` reuse its tokenizer. Own action (every row has one; scheme A has no
# state plan to track), evaluated without and with the hold. Resume an interrupted run with: bash $0 --resume
# The demo preset trains the a_cql row's CQL critic for 5k steps (eval.critic_steps; CQL's own 1M took 44 h here).
time python sweeps/ablations.py --datasets maze2d-umaze-v1 --seeds 0 --preset demo \
  --set eval.goal=none --set eval.acting=own --set eval.hold=false --also-hold \
  --max-concurrent 2 --tracking-uri sqlite:////work/main/runs/baselines.db --storage /work/main/runs/ray_ablations \
  --name ablations-umaze-demo "$@"
