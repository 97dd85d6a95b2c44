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
from typing import Any

from mage.checkpoint import read_config, read_train_state, save_checkpoint
from mage.config import ExperimentConfig
from mage.config_base import describe_differences
from mage.data.prepare import PreparedData, prepare_data
from mage.fsutil import remove_path
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
    state_dir: str | Path | None = None,
    resume_state: dict[str, Any] | None = None,
    deadline: float | None = None,
    finish_at_deadline: bool = False,
) -> Path:
    """Train both stages in this process and write the final checkpoint to ``out_dir``; ``progress``: a bar
    of optimiser steps per stage with rate and ETA. With ``state_dir`` every epoch replaces a resumable
    checkpoint there (weights, optimiser, RNGs, stage and epoch), removed once ``out_dir`` is written;
    ``resume_state`` (what :func:`local_resume_state` read from it) continues from there. ``deadline``
    (``time.monotonic()``): no epoch starts that would end after it; ``mage.loop.TimeLimitReached`` then stops
    the run with its last epoch's state in ``state_dir``. ``finish_at_deadline``: a deadline that falls in stage 2
    ends training there instead, after at least one whole stage-2 epoch, and that model is the checkpoint;
    ``time_limit.json`` in it records how far it got (a deadline in stage 1 still raises)."""
    seed_everything(cfg.train.seed)
    data = data if data is not None else prepare_data(cfg)

    def report(metrics: dict[str, float], save_fn: Callable[[Path], None]) -> None:
        if log_fn:
            log_fn(metrics)
        if state_dir is not None:
            save_fn(Path(state_dir))

    hooks = TrainHooks(
        report=report,
        progress=progress,
        resume_state=resume_state,
        deadline=deadline,
        finish_stage="policy" if finish_at_deadline else None,
    )
    tok = fit_tokenizer(cfg, data, hooks)
    pol = fit_policy(cfg, data, tok, hooks)
    ck = save_checkpoint(
        out_dir, cfg, data.meta, data.normalizers, data.episode_returns, tok, pol, time_limit=hooks.cut
    )
    if state_dir is not None:
        remove_path(Path(state_dir))
    return ck


def local_resume_state(state_dir: str | Path | None, cfg: ExperimentConfig) -> dict[str, Any]:
    """The state an interrupted ``run_local`` left in ``state_dir``; one clear error when there is none or
    when it was trained with other settings (continuing it under them would mix two runs)."""
    state = read_train_state(state_dir) if state_dir is not None else None
    if state is None:
        raise FileNotFoundError(
            f"nothing to resume in {state_dir}: no interrupted run left its state there; start without --resume"
        )
    saved, asked = read_config(state_dir).flatten(), cfg.flatten()
    shown = describe_differences(saved, asked, saved.keys() | asked.keys())
    if shown:
        raise ValueError(
            f"the interrupted run in {state_dir} was trained with {shown}: resume it with the same settings, "
            "or start a new run in another --out"
        )
    return state
