"""issue 13 diagnostic: where does K = 8's short-horizon plan error come from? On the validation windows of the
K = 1 and K = 8 checkpoints (medium, large; 3 seeds each), the error over plan steps 1..8 of
  gt    the tokenizer's own codes decoded (the floor stage 2 can reach),
  tf    each scale's argmax given the TRUE coarser scales (teacher forcing: per-scale prediction quality),
  free  the greedy plan the agent follows (each scale given its own earlier predictions).
free >> tf means errors compound across scales (exposure bias); tf >> gt means single-scale predictions miss."""

import sqlite3
import subprocess

import pandas as pd
import torch

from mage.data.prepare import prepare_data
from mage.loop import TrainHooks, make_loader
from mage.policy.checkpoint import load_checkpoint
from mage.tokenizer.vqvae import make_cond, masked_mse

torch.set_num_threads(1)
c = sqlite3.connect("/work/main/runs/baselines.db")
q = """select s.value storage, n.value fit,
 (select value from tags where run_uuid=r.run_uuid and key='mage.dataset') ds,
 (select value from tags where run_uuid=r.run_uuid and key='mage.K') K,
 (select value from tags where run_uuid=r.run_uuid and key='mage.seed') seed
 from runs r join experiments e on e.experiment_id=r.experiment_id and e.name='mage-hierarchy-depth'
 join tags s on s.run_uuid=r.run_uuid and s.key='mage.fit_storage'
 join tags n on n.run_uuid=r.run_uuid and n.key='mage.fit_name'
 join latest_metrics m on m.run_uuid=r.run_uuid and m.key='eval/norm_score'
 where r.lifecycle_stage='active' and r.status='FINISHED'"""
runs = pd.read_sql(q, c)
runs = runs[runs.K.isin(["1", "8"])]
rows = []
near = slice(1, 9)
for r in runs.itertuples():
    d = subprocess.run(f"ls -d {r.storage}/{r.fit}-train/checkpoint_*/ | sort | tail -1", shell=True,
                       capture_output=True, text=True).stdout.strip()
    ck = load_checkpoint(d)
    tok, pol, qz = ck.tokenizer, ck.policy, ck.tokenizer.quantizer
    data = prepare_data(ck.cfg)
    loader = make_loader(ck.cfg, data.val, TrainHooks(), shuffle=False, device=torch.device("cpu"))
    sums = {"gt": 0.0, "tf": 0.0, "free": 0.0}
    n = 0
    with torch.no_grad():
        for b in loader:
            obs, act, rtg, mask = b["obs_HS"], b["act_HA"], b["rtg_H"], b["mask_H"]
            s0, r0 = obs[:, 0], rtg[:, 0]
            cond_tok = make_cond(s0, r0)
            sl = tok.obs_slice()
            idx_list = tok.encode(tok.make_window(obs, act, rtg))
            dec = lambda f: tok.decode(f, cond_tok)[:, :, sl]  # noqa: E731
            logits = pol.transformer(pol.condition(s0, r0, b.get("goal_G")), qz.teacher_forcing_inputs(idx_list))
            tf_idx = list(logits.argmax(-1).split(list(qz.schedule), dim=1))
            plans = {
                "gt": dec(qz.idx_to_fhat(idx_list)),
                "tf": dec(qz.idx_to_fhat(tf_idx)),
                "free": pol.plan_states(tok, s0, r0, b.get("goal_G")),
            }
            for k, p in plans.items():
                sums[k] += float(masked_mse(p[:, near], obs[:, near], mask[:, near]))
            n += 1
            if n >= ck.cfg.train.val_batches:
                break
    rows.append({"ds": r.ds, "K": int(r.K), "seed": int(r.seed), **{k: v / n for k, v in sums.items()}})
    print(rows[-1], flush=True)
df = pd.DataFrame(rows).sort_values(["ds", "K", "seed"])
print(df.round(4).to_string(index=False))
print(df.groupby(["ds", "K"])[["gt", "tf", "free"]].mean().round(4).to_string())
