"""The K-sweep trials of runs/baselines.db with their final checkpoints and validation loaders: the one place the
plan diagnostics (runs/plan-*-diag.py) find what they measure."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch

from mage.data.prepare import prepare_data
from mage.loop import TrainHooks, make_loader
from mage.policy.checkpoint import Checkpoint, load_checkpoint

DB = "/work/main/runs/baselines.db"
QUERY = """select r.run_uuid run, s.value storage, n.value fit,
 (select value from tags where run_uuid=r.run_uuid and key='mage.dataset') ds,
 (select value from tags where run_uuid=r.run_uuid and key='mage.K') K,
 (select value from tags where run_uuid=r.run_uuid and key='mage.seed') seed,
 (select value from tags where run_uuid=r.run_uuid and key='mage.budget') budget,
 (select value from latest_metrics where run_uuid=r.run_uuid and key='eval/success_rate') succ,
 m.value score
 from runs r join experiments e on e.experiment_id=r.experiment_id and e.name='mage-hierarchy-depth'
 join tags s on s.run_uuid=r.run_uuid and s.key='mage.fit_storage'
 join tags n on n.run_uuid=r.run_uuid and n.key='mage.fit_name'
 join latest_metrics m on m.run_uuid=r.run_uuid and m.key='eval/norm_score'
 where r.lifecycle_stage='active' and r.status='FINISHED'"""


DEMO = "400+800 steps, batch 128"  # the K sweeps' budget; the 3x stage-2 runs are another study


def trials(dataset: str | None = None, ks: tuple[int, ...] = (), budget: str = DEMO) -> pd.DataFrame:
    """One row per finished trial with a score (R / track): run, ds, K, seed, succ, score, ckpt (last checkpoint)."""
    t = pd.read_sql(QUERY, sqlite3.connect(DB))
    t["K"], t["seed"] = t["K"].astype(int), t["seed"].astype(int)
    t = t[(t["ds"] == dataset) if dataset else t["ds"].notna()]
    t = t[t["K"].isin(ks)] if ks else t
    t = t[t["budget"] == budget]
    t["ckpt"] = [
        str(sorted(Path(s).glob(f"{f}-*/checkpoint_*/"))[-1])
        for s, f in zip(t.storage, t.fit)  # -train or -policy
    ]
    return t.sort_values(["ds", "K", "seed"]).reset_index(drop=True)


def val_batches(ck: Checkpoint) -> Iterator[dict[str, torch.Tensor]]:
    """The first train.val_batches validation batches of the checkpoint's own split (what validation averaged)."""
    data = prepare_data(ck.cfg)
    loader = make_loader(ck.cfg, data.val, TrainHooks(), shuffle=False, device=torch.device("cpu"))
    for i, b in enumerate(loader):
        if i >= ck.cfg.train.val_batches:
            return
        yield b


def window(b: dict[str, torch.Tensor], tok) -> tuple:
    """(obs, act, rtg, mask, s0, r0, cond_tok, gt_idx) of a validation batch: the condition the decoder gets and
    the tokenizer's own codes of the window."""
    from mage.tokenizer.vqvae import make_cond

    obs, act, rtg, mask = b["obs_HS"], b["act_HA"], b["rtg_H"], b["mask_H"]
    s0, r0 = obs[:, 0], rtg[:, 0]
    return obs, act, rtg, mask, s0, r0, make_cond(s0, r0), tok.encode(tok.make_window(obs, act, rtg))


def load(ckpt: str) -> Checkpoint:
    torch.set_num_threads(1)
    ck = load_checkpoint(ckpt)
    ck.policy.eval(), ck.tokenizer.eval()
    return ck
