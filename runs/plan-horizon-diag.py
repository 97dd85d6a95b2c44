"""issue 13 diagnostic: does the greedy plan's state error predict closed-loop success, and over which part of
the plan? Per K-sweep checkpoint: plan MSE over steps 1..8 (what track follows, lookahead 8), 1..32, and the
whole window, on the validation windows; Spearman against the run's success rate (R / track)."""

import pandas as pd
import torch
from ksweep import load, trials, val_batches
from scipy import stats

rows = []
for r in trials().itertuples():
    ck = load(r.ckpt)
    err: dict[int, list[float]] = {8: [], 32: [], 0: []}
    with torch.no_grad():
        for b in val_batches(ck):
            obs, mask = b["obs_HS"], b["mask_H"]
            plan = ck.policy.plan_states(ck.tokenizer, obs[:, 0], b["rtg_H"][:, 0])
            e_BH = ((plan - obs) ** 2).mean(-1) * mask
            for h in err:
                hh = slice(1, h + 1) if h else slice(None)
                err[h].append((e_BH[:, hh].sum() / mask[:, hh].sum()).item())
    rows.append(
        {
            "ds": r.ds,
            "K": r.K,
            "seed": r.seed,
            "succ": r.succ,
            "score": r.score,
            **{f"mse_{h or 'all'}": sum(v) / len(v) for h, v in err.items()},
        }
    )
    print(rows[-1], flush=True)
d = pd.DataFrame(rows)
print(d.to_string(index=False))
for ds, g in d.groupby("ds"):
    for col in ("mse_8", "mse_32", "mse_all"):
        rho, p = stats.spearmanr(g["succ"], g[col])
        print(f"{ds} success ~ {col}: Spearman {rho:+.2f} (p {p:.2f}, n {len(g)})")
    print(g.groupby("K")[["succ", "mse_8", "mse_32", "mse_all"]].mean().round(3).to_string())
