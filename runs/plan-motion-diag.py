"""issue 13 diagnostic: do coarse plans move? For the medium K = 8 checkpoints, on the validation windows: the
mean xy distance from s0 to the plan's step 8 (what acting=track steers to) for the plan from the first k
scales (k = 2, 4, 8), beside the data's own step-8 distance, in maze units (unnormalised)."""

import sqlite3
import subprocess

import torch

from mage.data.prepare import prepare_data
from mage.loop import TrainHooks, make_loader
from mage.policy.checkpoint import load_checkpoint
from mage.policy.planner import SamplingConfig

torch.set_num_threads(1)
c = sqlite3.connect("/work/main/runs/baselines.db")
q = """select s.value, n.value, (select value from tags where run_uuid=r.run_uuid and key='mage.seed')
 from runs r join experiments e on e.experiment_id=r.experiment_id and e.name='mage-hierarchy-depth'
 join tags s on s.run_uuid=r.run_uuid and s.key='mage.fit_storage' join tags n on n.run_uuid=r.run_uuid and n.key='mage.fit_name'
 join tags d on d.run_uuid=r.run_uuid and d.key='mage.dataset' and d.value='maze2d-medium-v1'
 join tags k on k.run_uuid=r.run_uuid and k.key='mage.K' and k.value='8'
 join latest_metrics m on m.run_uuid=r.run_uuid and m.key='eval/norm_score' where r.status='FINISHED' order by 3"""
for storage, fit, seed in c.execute(q).fetchall():
    d = subprocess.run(f"ls -d {storage}/{fit}-train/checkpoint_*/ | sort | tail -1", shell=True,
                       capture_output=True, text=True).stdout.strip()
    ck = load_checkpoint(d)
    ck.policy.eval(), ck.tokenizer.eval()
    data = prepare_data(ck.cfg)
    mu = torch.as_tensor(ck.normalizers.obs.shift[:2], dtype=torch.float32)
    sd = torch.as_tensor(ck.normalizers.obs.div[:2], dtype=torch.float32)
    loader = make_loader(ck.cfg, data.val, TrainHooks(), shuffle=False, device=torch.device("cpu"))
    dist = {"data": 0.0, 2: 0.0, 4: 0.0, 8: 0.0}
    n = 0
    with torch.no_grad():
        for b in loader:
            obs, rtg, mask = b["obs_HS"], b["rtg_H"], b["mask_H"]
            ok = mask[:, 8] > 0
            xy = lambda s: s[..., :2] * sd + mu  # noqa: E731
            dist["data"] += float((xy(obs[ok, 8]) - xy(obs[ok, 0])).norm(dim=-1).mean())
            for k in (2, 4, 8):
                p = ck.policy.plan_states(ck.tokenizer, obs[:, 0], rtg[:, 0], sampling=SamplingConfig(scales=k))
                dist[k] += float((xy(p[ok, 8]) - xy(obs[ok, 0])).norm(dim=-1).mean())
            n += 1
            if n >= ck.cfg.train.val_batches:
                break
    print(f"seed {seed}: |s8 - s0| data {dist['data'] / n:.3f}; plan from 2 / 4 / 8 scales "
          f"{dist[2] / n:.3f} / {dist[4] / n:.3f} / {dist[8] / n:.3f}", flush=True)
