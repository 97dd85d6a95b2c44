"""issue 13 diagnostic: would a K = 8 model plan better from its coarse scales alone? On the validation windows
of the K = 4 and K = 8 checkpoints, decode the greedy plan's f_hat summed over its first k scales only
(k = 1..K) and measure the error over plan steps 1..8 and over the window, beside the same truncation of the
tokenizer's own codes (gt: what k scales can represent at best) and the per-scale token accuracy under
teacher forcing."""

import sqlite3
import subprocess

import pandas as pd
import torch

from mage.data.prepare import prepare_data
from mage.loop import TrainHooks, make_loader
from mage.policy.checkpoint import load_checkpoint
from mage.policy.planner import SamplingConfig, plan
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
runs = runs[runs.K.isin(["4", "8"])]
rows = []
near = slice(1, 9)
REF = SamplingConfig(backend="reference")
for r in runs.itertuples():
    d = subprocess.run(f"ls -d {r.storage}/{r.fit}-train/checkpoint_*/ | sort | tail -1", shell=True,
                       capture_output=True, text=True).stdout.strip()
    ck = load_checkpoint(d)
    tok, pol, qz = ck.tokenizer, ck.policy, ck.tokenizer.quantizer
    K = qz.num_scales
    data = prepare_data(ck.cfg)
    loader = make_loader(ck.cfg, data.val, TrainHooks(), shuffle=False, device=torch.device("cpu"))
    acc = torch.zeros(K)
    err = {(w, k): 0.0 for w in ("free_near", "free_all", "gt_near", "gt_all") for k in range(1, K + 1)}
    n = 0
    with torch.no_grad():
        for b in loader:
            obs, act, rtg, mask = b["obs_HS"], b["act_HA"], b["rtg_H"], b["mask_H"]
            s0, r0 = obs[:, 0], rtg[:, 0]
            cond_tok, sl = make_cond(s0, r0), tok.obs_slice()
            gt_idx = tok.encode(tok.make_window(obs, act, rtg))
            _, free_idx = plan(pol.transformer, qz, pol.condition(s0, r0, b.get("goal_G")), REF)
            logits = pol.transformer(pol.condition(s0, r0, b.get("goal_G")), qz.teacher_forcing_inputs(gt_idx))
            for k, (lg, g) in enumerate(zip(logits.split(list(qz.schedule), dim=1), gt_idx)):
                acc[k] += (lg.argmax(-1) == g).float().mean()
            for k in range(1, K + 1):
                for name, idx in (("free", free_idx), ("gt", gt_idx)):
                    p = tok.decode(qz.idx_to_fhat(idx[:k]), cond_tok)[:, :, sl]
                    err[(f"{name}_near", k)] += float(masked_mse(p[:, near], obs[:, near], mask[:, near]))
                    err[(f"{name}_all", k)] += float(masked_mse(p, obs, mask))
            n += 1
            if n >= ck.cfg.train.val_batches:
                break
    for k in range(1, K + 1):
        rows.append({"ds": r.ds, "K": K, "seed": int(r.seed), "scales": k, "tf_acc": float(acc[k - 1]) / n,
                     **{w: err[(w, k)] / n for w in ("free_near", "free_all", "gt_near", "gt_all")}})
    print(r.ds, K, r.seed, "done", flush=True)
df = pd.DataFrame(rows)
print(df.groupby(["ds", "K", "scales"])[["tf_acc", "free_near", "free_all", "gt_near", "gt_all"]].mean().round(3)
      .to_string())
