"""Trained runs a study evaluates: their checkpoint, method, task and dataset episode returns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mage.tracking.context import Tracking


@dataclass
class Source:
    """One trained run to study."""

    run_id: str | None  # None for a scripted method (no checkpoint)
    method: str  # rollout-registry key (mage.method tag)
    task: str  # evaluation task
    checkpoint: str | None  # local checkpoint dir
    returns_E: np.ndarray  # dataset episode returns the targets are derived from
    agent_kwargs: dict[str, Any]  # extra agent-factory kwargs for every rollout of this source


def dataset_returns(checkpoint: Path, cfg: dict[str, Any], task: str) -> np.ndarray:
    """The checkpoint's stored dataset episode returns; else the dataset read and split as the run's config
    says (a method whose checkpoints do not store them: DT/DD later)."""
    stored = checkpoint / "episode_returns.npy"
    if stored.is_file():
        return np.load(stored)
    from mage.config import DataConfig
    from mage.data.prepare import load_episodes

    data = dict(cfg.get("data", {}))
    data["dataset"] = data.get("dataset") or task
    eps, _ = load_episodes(DataConfig.from_dict(data, where="data."))
    return np.asarray(eps.returns_E, dtype=np.float64)


def load_source(run_id: str, tracking_uri: str | None, rtg_update: str | None = None) -> Source:
    """A trained run: its ``checkpoint/`` artifact (downloaded), method (``mage.method`` tag) and task.

    A MAGE agent samples as the run's own evaluation did (the checkpoint's ``eval`` settings); ``rtg_update``
    (decrement | hold) overrides the checkpoint's R̂ update.
    """
    from mage.tracking.evaluation import checkpoint_from_run
    from mage.tracking.query import get_run

    run = get_run(run_id, tracking_uri=tracking_uri)
    method = run.data.tags.get("mage.method", "mage")
    ckpt = Path(checkpoint_from_run(run_id, tracking_uri=tracking_uri))
    cfg = json.loads((ckpt / "config.json").read_text()) if (ckpt / "config.json").is_file() else {}
    task = cfg.get("data", {}).get("dataset") or run.data.tags.get("mage.dataset")
    if not task:
        raise ValueError(f"run {run_id}: no dataset in its checkpoint config or mage.dataset tag")
    kwargs: dict[str, Any] = {}
    if method == "mage" and rtg_update:
        kwargs["rtg_update"] = rtg_update
    return Source(run_id, method, task, str(ckpt), dataset_returns(ckpt, cfg, task), kwargs)


def train_smoke_source(dataset: str, tracking: Tracking, *, storage: str | None = None) -> tuple[str, float]:
    """A study's --smoke source: one smoke MAGE run (tiny data/model, 1 rollout actor) on ``dataset``.
    Returns (run id, eval/norm_score)."""
    from mage.config import make_config
    from mage.distributed.resources import Resources
    from mage.distributed.train import run_experiment
    from sweeps.driver.cli import SMOKE_OVERRIDES
    from sweeps.driver.data import ensure_dataset

    path = ensure_dataset(dataset, smoke=True)
    cfg = make_config("smoke", {**SMOKE_OVERRIDES, "data.dataset": dataset, "data.path": path})
    res = run_experiment(cfg, resources=Resources(num_actors=1, storage_path=storage), tracking=tracking)
    return res.run_id, float(res.metrics.get("eval/norm_score", float("nan")))
