"""issue 13 diagnostic: does the greedy plan's state error predict closed-loop success, and over which part of
the plan? Per K-sweep checkpoint: plan MSE over steps 1..8 (what track follows, lookahead 8), 1..32, and the
whole window, on the validation windows; Spearman against the run's success rate (R / track)."""

import sqlite3
import subprocess
import sys

import pandas as pd
import torch
from scipy import stats

from mage.data.prepare import prepare_data
from mage.loop import TrainHooks, make_loader
from mage.policy.checkpoint import load_checkpoint

DB = "/work/main/runs/baselines.db"
c = sqlite3.connect(DB)
q = """select r.run_uuid run, s.value storage, n.value fit,
 (select value from tags where run_uuid=r.run_uuid and key='mage.dataset') ds,
 (select value from tags where run_uuid=r.run_uuid and key='mage.K') K,
 (select value from tags where run_uuid=r.run_uuid and key='mage.seed') seed,
 (select value from latest_metrics where run_uuid=r.run_uuid and key='eval/success_rate') succ,
 (select value from latest_metrics where run_uuid=r.run_uuid and key='eval/norm_score') score
 from runs r join experiments e on e.experiment_id=r.experiment_id and e.name='mage-hierarchy-depth'
 join tags s on s.run_uuid=r.run_uuid and s.key='mage.fit_storage'
 join tags n on n.run_uuid=r.run_uuid and n.key='mage.fit_name'
 where r.lifecycle_stage='active' and r.status='FINISHED'"""
runs = pd.read_sql(q, c).dropna(subset=["score"])
rows = []
torch.set_num_threads(1)
for r in runs.itertuples():
    ck_dir = subprocess.run(f"ls -d {r.storage}/{r.fit}-train/checkpoint_*/ | sort | tail -1", shell=True,
                            capture_output=True, text=True).stdout.strip()
    ck = load_checkpoint(ck_dir)
    data = prepare_data(ck.cfg)
    loader = make_loader(ck.cfg, data.val, TrainHooks(), shuffle=False, device=torch.device("cpu"))
    err = {8: [], 32: [], 0: []}
    n = 0
    with torch.no_grad():
        for b in loader:
            obs, mask = b["obs_HS"], b["mask_H"]
            plan = ck.policy.plan_states(ck.tokenizer, obs[:, 0], b["rtg_H"][:, 0])
            e_BH = ((plan - obs) ** 2).mean(-1) * mask
            for h in err:
                hh = slice(1, h + 1) if h else slice(None)
                err[h].append((e_BH[:, hh].sum() / mask[:, hh].sum()).item())
            n += 1
            if n >= ck.cfg.train.val_batches:
                break
    rows.append({"ds": r.ds, "K": int(r.K), "seed": int(r.seed), "succ": r.succ, "score": r.score,
                 **{f"mse_{h or 'all'}": sum(v) / len(v) for h, v in err.items()}})
    print(rows[-1], flush=True)
d = pd.DataFrame(rows).sort_values(["ds", "K", "seed"])
print(d.to_string(index=False))
for ds, g in d.groupby("ds"):
    for col in ("mse_8", "mse_32", "mse_all"):
        rho, p = stats.spearmanr(g["succ"], g[col])
        print(f"{ds} success ~ {col}: Spearman {rho:+.2f} (p {p:.2f}, n {len(g)})")
    print(g.groupby("K")[["succ", "mse_8", "mse_32", "mse_all"]].mean().round(3).to_string())
sys.exit(0)
