"""A baseline fit's mid-training state, so that a fit stopped part-way continues instead of starting over.

Given a ``state_dir``, the trainers (``mage.baselines.train``, ``mage.baselines.diffusion.train``) write
``train_state.pt`` there after every epoch (atomically: a stop while writing leaves the previous one) and read it
when they start: the step, the weights and optimiser states, the EMA, and the global RNGs, so the continued fit
draws the batches an unbroken one would have. The state is keyed by what defines the fit (method, config, steps,
seed, data); a state of another fit is refused, never silently mixed in. The trainer removes it once the final
model is saved. The sweeps give every baseline trial its own dir under the sweep's Tune dir, so ``--resume``
continues an interrupted trial from its last epoch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mage.config import ConfigError
from mage.data.episodes import Episodes
from mage.fsutil import atomic_file
from mage.rng import rng_state, set_rng_state

STATE_FILE = "train_state.pt"


def fit_key(**parts: Any) -> str:
    """A short hash of what defines a fit (JSON of ``parts``, keys sorted; non-JSON values by ``str``)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_key(episodes: Episodes) -> dict[str, Any]:
    """What identifies a training set cheaply: sizes and float64 sums of the arrays a fit samples."""
    sums = {k: float(getattr(episodes, k).sum(dtype=np.float64)) for k in ("obs_NS", "act_NA", "rew_N")}
    return {"steps": episodes.num_steps, "episodes": episodes.num_episodes, **sums}


def save_state(state_dir: str | Path, key: str, step: int, payload: Mapping[str, Any]) -> None:
    """Write the state after ``step`` optimiser steps: ``payload`` (state dicts) and the RNGs."""
    with atomic_file(Path(state_dir) / STATE_FILE) as tmp:
        torch.save({"key": key, "step": int(step), "rng": rng_state(), **payload}, tmp)


def load_state(state_dir: str | Path | None, key: str) -> dict[str, Any] | None:
    """The saved state of this fit with its RNGs restored, or None (no dir, no file). A state saved by another
    fit raises ``ConfigError`` naming the file and the fixes."""
    if state_dir is None:
        return None
    path = Path(state_dir) / STATE_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("key") != key:
        raise ConfigError(
            f"{path} is the training state of another fit (other method, config, steps, seed or data): "
            "continue it with the settings it was started with, or remove the file to start over"
        )
    set_rng_state(state["rng"])
    return state


def saved_step(state_dir: str | Path | None) -> int | None:
    """The step a fit with this state dir would continue from (None: it starts at 0)."""
    path = Path(state_dir) / STATE_FILE if state_dir is not None else None
    if path is None or not path.is_file():
        return None
    # mmap: the tensors (tens of MB of weights and moments) are mapped, not read, for one integer
    return int(torch.load(path, map_location="cpu", weights_only=False, mmap=True)["step"])


def clear_state(state_dir: str | Path | None) -> None:
    """Remove the state once the final model is saved (it holds optimiser moments: several times the model)."""
    if state_dir is not None:
        (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)
