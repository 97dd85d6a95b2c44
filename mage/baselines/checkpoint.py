"""Baseline directories: d3rlpy's own model file plus our config and meta, written atomically.

Layout::

    model.d3             ``algo.save`` (d3rlpy's format: its config, scalers and weights; a pickle, so load
                         only directories you trust)
    config.json          {"method": ..., "config": <our typed config as a dict>}
    meta.json            BaselineMeta: method, d3rlpy class and version, dataset, dims, goal, scalers, ...
    episode_returns.npy  returns of the episodes d3rlpy trained on (DT's default target: their maximum)

``load_baseline`` re-validates config.json (unknown keys raise) and loads the model with
``d3rlpy.load_learnable``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from mage.baselines.config_base import D3rlpyConfig
from mage.baselines.configs import CONFIGS
from mage.fsutil import atomic_dir

FORMAT_VERSION = 1
MODEL_FILE = "model.d3"


@dataclass
class BaselineMeta:
    method: str  # registry name, e.g. iql-goal
    algo: str  # algorithm key, e.g. iql
    d3rlpy_class: str  # e.g. IQL ("" for a diffusion planner)
    d3rlpy_version: str  # the version that wrote model.d3 ("" for a diffusion planner)
    dataset: str | None  # dataset name the data came from (None: unnamed episodes)
    obs_dim: int  # the env's observation size (without the goal)
    act_dim: int
    goal_dim: int  # 2 when the goal (x, y) is appended to the observation, else 0
    goal_relabel: str | None  # future | episode for -goal variants, else None
    track: str  # R (state + reward) or G (goal given)
    plans_states: bool  # False for d3rlpy policies (actions only), True for the diffusion planners
    transformer: bool  # Decision Transformer: stateful, return-conditioned
    act_low: list[float]  # per-dim action bounds of the data (actions are clipped to them)
    act_high: list[float]
    observation_scaler: str  # none | standard | min_max (d3rlpy's scaler, saved inside model.d3)
    reward_scaler: str  # none | multiply | return_based
    steps: int  # gradient steps trained
    seed: int
    episodes: int  # d3rlpy episodes (relabelled sub-trajectories for -goal future)
    transitions: int  # transitions d3rlpy sampled from
    train_s: float  # wall seconds of fit
    context_size: int | None = None  # DT
    max_timestep: int | None = None  # DT: timestep embedding size
    target_return: float | None = None  # DT: configured R̂_0 (None: the best episode return)
    kind: str = "d3rlpy"  # d3rlpy (model.d3) or diffusion (mage.baselines.diffusion, model.pt)
    format_version: int = FORMAT_VERSION

    @property
    def goal_conditioned(self) -> bool:
        return self.goal_dim > 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BaselineMeta:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown baseline meta key(s) {unknown}; written by a newer version?")
        return cls(**d)


@dataclass
class LoadedBaseline:
    algo: Any  # the d3rlpy algorithm, built and loaded
    meta: BaselineMeta
    config: D3rlpyConfig
    episode_returns: np.ndarray
    path: Path


def save_baseline(
    out_dir: str | Path, algo: Any, cfg: D3rlpyConfig, meta: BaselineMeta, episode_returns: np.ndarray
) -> Path:
    """Write the directory atomically (a failed save leaves the previous one as it was)."""
    with atomic_dir(out_dir) as tmp:
        algo.save(str(tmp / MODEL_FILE))
        (tmp / "config.json").write_text(
            json.dumps({"method": meta.method, "config": cfg.to_dict()}, indent=2)
        )
        (tmp / "meta.json").write_text(json.dumps(asdict(meta), indent=2))
        np.save(tmp / "episode_returns.npy", np.asarray(episode_returns, dtype=np.float64))
    return Path(out_dir)


def read_meta(path: str | Path) -> BaselineMeta:
    p = Path(path) / "meta.json"
    if not p.is_file():
        raise FileNotFoundError(
            f"{path} is not a baseline directory (no meta.json); train one with train_baseline"
        )
    meta = BaselineMeta.from_dict(json.loads(p.read_text()))
    if meta.format_version != FORMAT_VERSION:
        raise ValueError(f"{path}: baseline format {meta.format_version}, this code reads {FORMAT_VERSION}")
    return meta


def load_baseline(path: str | Path, device: str = "cpu") -> LoadedBaseline:
    """The d3rlpy algorithm of a baseline directory on ``device``, with its meta and config."""
    import d3rlpy

    root = Path(path)
    meta = read_meta(root)
    if meta.kind != "d3rlpy":
        raise ValueError(
            f"{path} holds the {meta.kind} baseline {meta.method!r}: load it with load_diffusion"
        )
    saved = json.loads((root / "config.json").read_text())
    cfg = CONFIGS[meta.algo].from_dict(saved["config"])
    algo = d3rlpy.load_learnable(str(root / MODEL_FILE), device=device)
    returns = np.load(root / "episode_returns.npy")
    return LoadedBaseline(algo=algo, meta=meta, config=cfg, episode_returns=returns, path=root)
