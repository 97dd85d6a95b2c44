"""Load a checkpoint directory (``mage.checkpoint`` format) back into a tokenizer, a policy and data facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mage.checkpoint import DataMeta, read_config, read_episode_returns, read_meta, read_train_state
from mage.config import ExperimentConfig
from mage.data.normalization import DatasetNormalizers
from mage.policy.model import MagePolicy
from mage.tokenizer.vqvae import TrajectoryTokenizer


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


def load_checkpoint(ckpt_dir: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    d = Path(ckpt_dir)
    cfg = read_config(d)
    meta, norms = read_meta(d)
    has_policy = (d / "policy.pt").is_file()
    tok, pol = build_models(cfg, meta, with_policy=has_policy)
    tok.load_state_dict(torch.load(d / "tokenizer.pt", map_location="cpu", weights_only=True))
    tok.to(device).eval()
    if pol is not None:
        pol.load_state_dict(torch.load(d / "policy.pt", map_location="cpu", weights_only=True))
        pol.to(device).eval()
    return Checkpoint(
        cfg=cfg,
        meta=meta,
        normalizers=DatasetNormalizers.from_dict(norms),
        episode_returns=read_episode_returns(d),
        tokenizer=tok,
        policy=pol,
        train_state=read_train_state(d),
    )
