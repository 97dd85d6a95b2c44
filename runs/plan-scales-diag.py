"""issue 13 diagnostic: would a K = 8 model plan better from its coarse scales alone? On the validation windows
of the K = 4 and K = 8 checkpoints, decode the greedy plan's f_hat summed over its first k scales only
(k = 1..K) and measure the error over plan steps 1..8 and over the window, beside the same truncation of the
tokenizer's own codes (gt: what k scales can represent at best) and the per-scale token accuracy under
teacher forcing."""

import pandas as pd
import torch
from ksweep import load, trials, val_batches, window

from mage.policy.planner import SamplingConfig, plan
from mage.tokenizer.vqvae import masked_mse

rows = []
near = slice(1, 9)
REF = SamplingConfig(backend="reference")
for r in trials(ks=(4, 8)).itertuples():
    ck = load(r.ckpt)
    tok, pol, qz = ck.tokenizer, ck.policy, ck.tokenizer.quantizer
    K = qz.num_scales
    acc = torch.zeros(K)
    err = {(w, k): 0.0 for w in ("free_near", "free_all", "gt_near", "gt_all") for k in range(1, K + 1)}
    n = 0
    with torch.no_grad():
        for b in val_batches(ck):
            obs, act, rtg, mask, s0, r0, cond_tok, gt_idx = window(b, tok)
            sl = tok.obs_slice()
            _, free_idx = plan(pol.transformer, qz, pol.condition(s0, r0, b.get("goal_G")), REF)
            logits = pol.transformer(
                pol.condition(s0, r0, b.get("goal_G")), qz.teacher_forcing_inputs(gt_idx)
            )
            for k, (lg, g) in enumerate(zip(logits.split(list(qz.schedule), dim=1), gt_idx)):
                acc[k] += (lg.argmax(-1) == g).float().mean()
            for k in range(1, K + 1):
                for name, idx in (("free", free_idx), ("gt", gt_idx)):
                    p = tok.decode(qz.idx_to_fhat(idx[:k]), cond_tok)[:, :, sl]
                    err[(f"{name}_near", k)] += float(masked_mse(p[:, near], obs[:, near], mask[:, near]))
                    err[(f"{name}_all", k)] += float(masked_mse(p, obs, mask))
            n += 1
    for k in range(1, K + 1):
        rows.append(
            {
                "ds": r.ds,
                "K": K,
                "seed": r.seed,
                "scales": k,
                "tf_acc": float(acc[k - 1]) / n,
                **{w: err[(w, k)] / n for w in ("free_near", "free_all", "gt_near", "gt_all")},
            }
        )
    print(r.ds, K, r.seed, "done", flush=True)
df = pd.DataFrame(rows)
print(
    df.groupby(["ds", "K", "scales"])[["tf_acc", "free_near", "free_all", "gt_near", "gt_all"]]
    .mean()
    .round(3)
    .to_string()
)
