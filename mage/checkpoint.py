"""Checkpoint directories: everything needed to rebuild the tokenizer, the policy and the agent.

Layout::

    config.json          the ExperimentConfig as a dict (loading re-validates it: unknown keys raise)
    meta.json            data facts: dims, action bounds, task, normalisers, format version
    episode_returns.npy  dataset episode returns (RTG targets as percentiles)
    tokenizer.pt         TrajectoryTokenizer state_dict
    policy.pt            MagePolicy state_dict (absent after stage 1 only)
    train_state.pt       resume state: stage, epoch, optimizer (optional)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mage.config import ExperimentConfig
from mage.data.normalization import DatasetNormalizers
from mage.policy.model import MagePolicy
from mage.tokenizer.vqvae import TrajectoryTokenizer

FORMAT_VERSION = 1


@dataclass
class DataMeta:
    """Facts about the training data that the models and the agent need at load time."""

    task: str  # task / dataset name
    obs_dim: int
    act_dim: int
    goal_dim: int
    act_low: list[float]  # per-dim action bounds (dataset min/max, within the env's bounds)
    act_high: list[float]


@dataclass
class Checkpoint:
    cfg: ExperimentConfig
    meta: DataMeta
    normalizers: DatasetNormalizers
    episode_returns: np.ndarray
    tokenizer: TrajectoryTokenizer
    policy: MagePolicy | None
    train_state: dict[str, Any] | None


def build_models(
    cfg: ExperimentConfig, meta: DataMeta, with_policy: bool = True
) -> tuple[TrajectoryTokenizer, MagePolicy | None]:
    tok = TrajectoryTokenizer(cfg.tokenizer, meta.obs_dim, meta.act_dim, cfg.data.horizon)
    pol = MagePolicy(cfg.transformer, cfg.policy, tok, meta.goal_dim) if with_policy else None
    return tok, pol


def _unwrap(m: torch.nn.Module) -> torch.nn.Module:
    return getattr(m, "module", m)  # DDP / Ray-prepared models keep the real one in .module


def save_checkpoint(
    out_dir: str | Path,
    cfg: ExperimentConfig,
    meta: DataMeta,
    normalizers: DatasetNormalizers,
    episode_returns: np.ndarray,
    tokenizer: torch.nn.Module,
    policy: torch.nn.Module | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    meta_d = {"format_version": FORMAT_VERSION, "data": asdict(meta), "normalizers": normalizers.to_dict()}
    (out / "meta.json").write_text(json.dumps(meta_d, indent=2))
    np.save(out / "episode_returns.npy", np.asarray(episode_returns, dtype=np.float64))
    torch.save(_unwrap(tokenizer).state_dict(), out / "tokenizer.pt")
    if policy is not None:
        torch.save(_unwrap(policy).state_dict(), out / "policy.pt")
    if train_state is not None:
        torch.save(train_state, out / "train_state.pt")
    return out


def load_checkpoint(ckpt_dir: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    d = Path(ckpt_dir)
    if not (d / "config.json").is_file():
        raise FileNotFoundError(
            f"{d} is not a MAGE checkpoint directory (no config.json); pass the dir save_checkpoint wrote"
        )
    cfg = ExperimentConfig.from_dict(json.loads((d / "config.json").read_text()))
    meta_d = json.loads((d / "meta.json").read_text())
    if meta_d.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{d}: checkpoint format {meta_d.get('format_version')} != {FORMAT_VERSION}; retrain or convert"
        )
    meta = DataMeta(**meta_d["data"])
    has_policy = (d / "policy.pt").is_file()
    tok, pol = build_models(cfg, meta, with_policy=has_policy)
    tok.load_state_dict(torch.load(d / "tokenizer.pt", map_location="cpu", weights_only=True))
    tok.to(device).eval()
    if pol is not None:
        pol.load_state_dict(torch.load(d / "policy.pt", map_location="cpu", weights_only=True))
        pol.to(device).eval()
    ts_path = d / "train_state.pt"
    train_state = torch.load(ts_path, map_location="cpu", weights_only=False) if ts_path.is_file() else None
    return Checkpoint(
        cfg=cfg,
        meta=meta,
        normalizers=DatasetNormalizers.from_dict(meta_d["normalizers"]),
        episode_returns=np.load(d / "episode_returns.npy"),
        tokenizer=tok,
        policy=pol,
        train_state=train_state,
    )
