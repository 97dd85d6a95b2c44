"""issue 13 diagnostic: do coarse plans move? For the medium K = 8 checkpoints, on the validation windows: the
mean xy distance from s0 to the plan's step 8 (what acting=track steers to) for the plan from the first k
scales (k = 2, 4, 8), beside the data's own step-8 distance, in maze units (unnormalised). Needs the code
with eval.plan_scales (SamplingConfig.scales)."""

import torch
from ksweep import load, trials, val_batches

from mage.policy.planner import SamplingConfig

for r in trials("maze2d-medium-v1", ks=(8,)).itertuples():
    ck = load(r.ckpt)
    mu = torch.as_tensor(ck.normalizers.obs.shift[:2], dtype=torch.float32)
    sd = torch.as_tensor(ck.normalizers.obs.div[:2], dtype=torch.float32)
    dist, n = {"data": 0.0, 2: 0.0, 4: 0.0, 8: 0.0}, 0
    with torch.no_grad():
        for b in val_batches(ck):
            obs, rtg, mask = b["obs_HS"], b["rtg_H"], b["mask_H"]
            ok = mask[:, 8] > 0
            xy = lambda s, mu=mu, sd=sd: s[..., :2] * sd + mu  # noqa: E731
            dist["data"] += float((xy(obs[ok, 8]) - xy(obs[ok, 0])).norm(dim=-1).mean())
            for k in (2, 4, 8):
                p = ck.policy.plan_states(
                    ck.tokenizer, obs[:, 0], rtg[:, 0], sampling=SamplingConfig(scales=k)
                )
                dist[k] += float((xy(p[ok, 8]) - xy(obs[ok, 0])).norm(dim=-1).mean())
            n += 1
    print(
        f"seed {r.seed}: |s8 - s0| data {dist['data'] / n:.3f}; plan from 2 / 4 / 8 scales "
        f"{dist[2] / n:.3f} / {dist[4] / n:.3f} / {dist[8] / n:.3f}",
        flush=True,
    )
