"""Checkpoint directories: the on-disk format, written without knowing the model classes.

Layout::

    config.json          the ExperimentConfig as a dict (loading re-validates it: unknown keys raise)
    meta.json            data facts: dims, action bounds, task, normalisers, format version
    episode_returns.npy  dataset episode returns (RTG targets as percentiles)
    tokenizer.pt         TrajectoryTokenizer state_dict
    policy.pt            MagePolicy state_dict (absent after stage 1 only)
    train_state.pt       resume state: stage, epoch, optimizer (optional)
    time_limit.json      present when a time limit ended stage 2 early: stage, epochs_done, epochs, steps

Writing needs only ``state_dict()``s, so the training stages save through here without importing each
other; ``mage.policy.checkpoint.load_checkpoint`` rebuilds the models.

Writing is atomic (``mage.fsutil.atomic_dir``): the files go to a unique temporary directory next to the
target, are fsynced, and the complete tree replaces the target only then. A save that fails or is killed
midway leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from mage.config import ExperimentConfig
from mage.fsutil import atomic_dir

FORMAT_VERSION = 1
TRAIN_STATE_FILE = "train_state.pt"  # the resume state inside a checkpoint dir (optional)
TIME_LIMIT_FILE = "time_limit.json"  # a checkpoint whose stage 2 a time limit ended early (optional)


class _Normalizers(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class DataMeta:
    """Facts about the training data that the models and the agent need at load time."""

    task: str  # task / dataset name
    obs_dim: int
    act_dim: int
    goal_dim: int
    act_low: list[float]  # per-dim action bounds (dataset min/max, within the env's bounds)
    act_high: list[float]


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The real module inside a DDP / Ray-prepared wrapper (which keeps it in ``.module``)."""
    return getattr(model, "module", model)


def save_checkpoint(
    out_dir: str | Path,
    cfg: ExperimentConfig,
    meta: DataMeta,
    normalizers: _Normalizers,
    episode_returns: np.ndarray,
    tokenizer: torch.nn.Module,
    policy: torch.nn.Module | None = None,
    train_state: dict[str, Any] | None = None,
    time_limit: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint directory ``out_dir`` atomically, replacing a previous checkpoint there whole.
    ``time_limit``: how far a time limit let stage 2 get (``mage.loop.TrainHooks.cut``), when it ended early.

    ``out_dir`` may be new, empty or a checkpoint; any other non-empty directory is refused (replacing it
    would delete files that are not ours)."""
    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise FileExistsError(
            f"{out} is a non-empty directory that is not a MAGE checkpoint (no config.json); saving would "
            "replace it whole: pass a new or empty directory"
        )
    with atomic_dir(out) as tmp:
        (tmp / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        meta_d = {
            "format_version": FORMAT_VERSION,
            "data": asdict(meta),
            "normalizers": normalizers.to_dict(),
        }
        (tmp / "meta.json").write_text(json.dumps(meta_d, indent=2))
        np.save(tmp / "episode_returns.npy", np.asarray(episode_returns, dtype=np.float64))
        torch.save(unwrap(tokenizer).state_dict(), tmp / "tokenizer.pt")
        if policy is not None:
            torch.save(unwrap(policy).state_dict(), tmp / "policy.pt")
        if train_state is not None:
            torch.save(train_state, tmp / TRAIN_STATE_FILE)
        if time_limit is not None:
            (tmp / TIME_LIMIT_FILE).write_text(json.dumps(time_limit, indent=2))
    return out


def stage_saver(
    cfg: ExperimentConfig,
    meta: DataMeta,
    normalizers: _Normalizers,
    episode_returns: np.ndarray,
    tokenizer: torch.nn.Module,
    policy: torch.nn.Module | None,
) -> Callable[[Path, dict[str, Any]], None]:
    """``save_fn(dir, train_state)`` for ``mage.loop.run_stage``: a full checkpoint, weights unwrapped."""

    def save(d: Path, train_state: dict[str, Any]) -> None:
        ts = {**train_state, "tokenizer": unwrap(tokenizer).state_dict()}
        if policy is not None:
            ts["policy"] = unwrap(policy).state_dict()
        save_checkpoint(d, cfg, meta, normalizers, episode_returns, tokenizer, policy, ts)

    return save


def _require_dir(d: Path) -> None:
    if not (d / "config.json").is_file():
        raise FileNotFoundError(
            f"{d} is not a MAGE checkpoint directory (no config.json); pass the dir save_checkpoint wrote"
        )


def read_config(ckpt_dir: str | Path) -> ExperimentConfig:
    """The checkpoint's config (re-validated), without loading any weights."""
    d = Path(ckpt_dir)
    _require_dir(d)
    return ExperimentConfig.from_dict(json.loads((d / "config.json").read_text()))


def read_meta(ckpt_dir: str | Path) -> tuple[DataMeta, dict[str, Any]]:
    """(data facts, normalisers as a dict); refuses another format version."""
    d = Path(ckpt_dir)
    _require_dir(d)
    meta_d = json.loads((d / "meta.json").read_text())
    if meta_d.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{d}: checkpoint format {meta_d.get('format_version')} != {FORMAT_VERSION}; retrain or convert"
        )
    return DataMeta(**meta_d["data"]), meta_d["normalizers"]


def read_episode_returns(ckpt_dir: str | Path) -> np.ndarray:
    """The dataset episode returns stored with the checkpoint (the R̂_0 percentiles refer to them)."""
    d = Path(ckpt_dir)
    _require_dir(d)
    return np.load(d / "episode_returns.npy")


def read_train_state(ckpt_dir: str | Path) -> dict[str, Any] | None:
    p = Path(ckpt_dir) / TRAIN_STATE_FILE
    return torch.load(p, map_location="cpu", weights_only=False) if p.is_file() else None


def read_time_limit(d: str | Path) -> dict[str, Any] | None:
    """How far a time limit let stage 2 of checkpoint ``d`` get; None for a checkpoint trained to its end."""
    f = Path(d) / TIME_LIMIT_FILE
    return json.loads(f.read_text()) if f.is_file() else None
