"""issue 13 diagnostic: where does K = 8's short-horizon plan error come from? On the validation windows of the
K = 1 and K = 8 checkpoints (medium, large; 3 seeds each), the error over plan steps 1..8 of
  gt    the tokenizer's own codes decoded (the floor stage 2 can reach),
  tf    each scale's argmax given the TRUE coarser scales (teacher forcing: per-scale prediction quality),
  free  the greedy plan the agent follows (each scale given its own earlier predictions).
free >> tf means errors compound across scales (exposure bias); tf >> gt means single-scale predictions miss."""

import pandas as pd
import torch
from ksweep import load, trials, val_batches, window

from mage.tokenizer.vqvae import masked_mse

rows = []
near = slice(1, 9)
for r in trials(ks=(1, 8)).itertuples():
    ck = load(r.ckpt)
    tok, pol, qz = ck.tokenizer, ck.policy, ck.tokenizer.quantizer
    sums, n = {"gt": 0.0, "tf": 0.0, "free": 0.0}, 0
    with torch.no_grad():
        for b in val_batches(ck):
            obs, act, rtg, mask, s0, r0, cond_tok, idx_list = window(b, tok)
            sl = tok.obs_slice()
            logits = pol.transformer(
                pol.condition(s0, r0, b.get("goal_G")), qz.teacher_forcing_inputs(idx_list)
            )
            tf_idx = list(logits.argmax(-1).split(list(qz.schedule), dim=1))
            plans = {
                "gt": tok.decode(qz.idx_to_fhat(idx_list), cond_tok)[:, :, sl],
                "tf": tok.decode(qz.idx_to_fhat(tf_idx), cond_tok)[:, :, sl],
                "free": pol.plan_states(tok, s0, r0, b.get("goal_G")),
            }
            for k, p in plans.items():
                sums[k] += float(masked_mse(p[:, near], obs[:, near], mask[:, near]))
            n += 1
    rows.append({"ds": r.ds, "K": r.K, "seed": r.seed, **{k: v / n for k, v in sums.items()}})
    print(rows[-1], flush=True)
df = pd.DataFrame(rows)
print(df.round(4).to_string(index=False))
print(df.groupby(["ds", "K"])[["gt", "tf", "free"]].mean().round(4).to_string())
