"""The single-process MAGE pipeline: prepare the data, fit stage 1, fit stage 2, write one checkpoint.

    data = prepare_data(cfg)
    tok = fit_tokenizer(cfg, data, hooks)            # stage 1 (mage/tokenizer/fit.py)
    pol = fit_policy(cfg, data, tok, hooks)          # stage 2 (mage/policy/fit.py), tokenizer frozen

``mage train --local`` runs this; the Ray Train path (``mage.distributed.train``) runs the same two stage
functions inside its workers, one ``TorchTrainer`` per stage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mage.checkpoint import save_checkpoint
from mage.config import ExperimentConfig
from mage.data.prepare import PreparedData, prepare_data
from mage.loop import TrainHooks
from mage.policy.fit import fit_policy
from mage.rng import seed_everything
from mage.tokenizer.fit import fit_tokenizer


def run_local(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    log_fn: Callable[[dict[str, float]], None] | None = None,
    data: PreparedData | None = None,
    progress: bool = False,
) -> Path:
    """Train both stages in this process and write the final checkpoint to ``out_dir``; ``progress``: a bar
    of optimiser steps per stage with rate and ETA."""
    seed_everything(cfg.train.seed)
    data = data if data is not None else prepare_data(cfg)
    hooks = TrainHooks(report=lambda m, save_fn: log_fn(m) if log_fn else None, progress=progress)
    tok = fit_tokenizer(cfg, data, hooks)
    pol = fit_policy(cfg, data, tok, hooks)
    return save_checkpoint(out_dir, cfg, data.meta, data.normalizers, data.episode_returns, tok, pol)
