"""Directories of the diffusion planners, written atomically; the same layout idea as the d3rlpy ones::

    model.pt             the EMA weights (state_dict; loaded with weights_only=True)
    config.json          {"method": ..., "config": <the typed config; DD's returns_scale resolved>}
    meta.json            mage.baselines.checkpoint.BaselineMeta with kind = "diffusion"
    normalizers.json     per-dimension obs / act normalisers (PlanNormalizers)
    episode_returns.npy  returns of the training episodes (what the harness reads for R̂_0)

The network is rebuilt from config.json and the dims in meta.json, so the weights file holds no code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mage.baselines.checkpoint import BaselineMeta, read_meta
from mage.baselines.diffusion.batches import PlanNormalizers
from mage.baselines.diffusion.configs import CONFIGS, DiffusionConfig
from mage.baselines.diffusion.decision import DecisionDiffuser
from mage.baselines.diffusion.diffuser import Diffuser
from mage.baselines.diffusion.hierarchical import HierarchicalDiffuser
from mage.fsutil import atomic_dir

MODEL_FILE = "model.pt"
PLANNERS: dict[str, type[nn.Module]] = {
    "diffuser": Diffuser,
    "hd": HierarchicalDiffuser,
    "dd": DecisionDiffuser,
}


def build_planner(algo: str, cfg: DiffusionConfig, obs_dim: int, act_dim: int) -> nn.Module:
    """The untrained planner ``algo`` (diffuser, hd, dd) of ``cfg``."""
    return PLANNERS[algo](cfg, obs_dim, act_dim)


@dataclass
class LoadedDiffusion:
    planner: nn.Module  # Diffuser, HierarchicalDiffuser or DecisionDiffuser, EMA weights, eval mode
    meta: BaselineMeta
    config: DiffusionConfig
    normalizers: PlanNormalizers
    episode_returns: np.ndarray
    path: Path


def save_diffusion(
    out_dir: str | Path,
    planner: nn.Module,
    cfg: DiffusionConfig,
    meta: BaselineMeta,
    normalizers: PlanNormalizers,
    episode_returns: np.ndarray,
) -> Path:
    with atomic_dir(out_dir) as tmp:
        torch.save({k: v.detach().cpu() for k, v in planner.state_dict().items()}, tmp / MODEL_FILE)
        (tmp / "config.json").write_text(
            json.dumps({"method": meta.method, "config": cfg.to_dict()}, indent=2)
        )
        (tmp / "meta.json").write_text(json.dumps(asdict(meta), indent=2))
        (tmp / "normalizers.json").write_text(json.dumps(normalizers.to_dict(), indent=2))
        np.save(tmp / "episode_returns.npy", np.asarray(episode_returns, dtype=np.float64))
    return Path(out_dir)


def load_diffusion(path: str | Path, device: str = "cpu") -> LoadedDiffusion:
    """The planner of a diffusion baseline directory on ``device`` (eval mode), with its meta and config."""
    root = Path(path)
    meta = read_meta(root)
    if meta.kind != "diffusion":
        raise ValueError(f"{path} holds the {meta.kind} baseline {meta.method!r}, not a diffusion planner")
    cfg = CONFIGS[meta.algo].from_dict(json.loads((root / "config.json").read_text())["config"])
    planner = build_planner(meta.algo, cfg, meta.obs_dim, meta.act_dim)
    planner.load_state_dict(torch.load(root / MODEL_FILE, map_location="cpu", weights_only=True))
    planner.to(device).eval()
    return LoadedDiffusion(
        planner=planner,
        meta=meta,
        config=cfg,
        normalizers=PlanNormalizers.from_dict(json.loads((root / "normalizers.json").read_text())),
        episode_returns=np.load(root / "episode_returns.npy"),
        path=root,
    )
