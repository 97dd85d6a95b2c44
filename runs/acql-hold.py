"""The A + CQL trial's --also-hold evaluation, which the critic path skipped before the fix in
sweeps/driver/trial.py: the same evaluate_also call, a child eval run of the trial run.
Usage: python runs/acql-hold.py CHECKPOINT_DIR TRIAL_RUN_ID TRACKING_URI"""

import sys

from mage.distributed.baselines import evaluate_also
from mage.distributed.ray_init import init_ray
from mage.distributed.rollouts import actor_runner
from mage.eval.protocol import EvalProtocol
from mage.policy.checkpoint import load_checkpoint

ckpt, run_id, uri = sys.argv[1:4]
cfg = load_checkpoint(ckpt).cfg
init_ray(num_cpus=2)
hold = EvalProtocol(goal=cfg.eval.goal, acting=cfg.eval.acting, hold=True)
out = evaluate_also(
    ckpt, cfg, "mage", [hold], runner=actor_runner(2, actor_cpus=1, progress=False), run_id=run_id,
    tracking_uri=uri, tags={"mage.seed": cfg.train.seed, "mage.sweep": "ablations", "mage.ablation": "a_cql"},
)
print(out)
