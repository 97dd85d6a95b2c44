"""Data preparation for training: the dataset as a run sees it, normalisers, train/val windows, data facts.

data = prepare_data(cfg)        # load_episodes -> seeded train/val split -> normalisers -> WindowDatasets

With ``data.goal_relabel`` the episodes are hindsight sub-episodes (``mage.data.relabel``), so the RTG and
goal normalisers are fitted on the relabelled training episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from mage.checkpoint import DataMeta
from mage.config import DataConfig, ExperimentConfig
from mage.data.d4rl_io import load_dataset
from mage.data.episodes import Episodes, split_episodes, with_horizon_rtg
from mage.data.normalization import DatasetNormalizers
from mage.data.relabel import hindsight_episodes
from mage.data.windows import WindowDataset
from mage.envs.maze_layouts import get_maze, goal_cell
from mage.envs.registry import get_spec


@dataclass
class PreparedData:
    episodes: Episodes  # all episodes (train + val)
    normalizers: DatasetNormalizers  # fitted on the training episodes
    train: Dataset  # WindowDataset items (batch contract)
    val: Dataset
    episode_returns: np.ndarray  # dataset episode returns (RTG percentiles)
    meta: DataMeta  # dims, action bounds, task
    extras: dict[str, Any] = field(default_factory=dict)


def load_episodes(dc: DataConfig, seed: int = 0) -> tuple[Episodes, str]:
    """The dataset as a run sees it: episodes (Diffuser re-split for maze2d, ``max_steps``, hindsight goals of
    ``data.goal_relabel`` with rewards against them, the RTG of ``data.rtg_horizon``) and the task name.
    ``seed``: the random cuts of ``goal_relabel=future`` (``prepare_data`` passes ``train.seed``)."""
    spec = get_spec(dc.dataset)
    if spec.maze is None and (dc.diffuser_resplit or dc.goal_relabel != "none"):
        raise ValueError(
            f"{spec.name} is not a maze task: data.diffuser_resplit and data.goal_relabel need a maze goal; "
            "set data.diffuser_resplit=false and data.goal_relabel=none"
        )
    raw = load_dataset(dc.path or spec.dataset, task=spec.name)
    goal_xy = goal_cell(get_maze(spec.maze)) if dc.diffuser_resplit and spec.maze else None
    eps = split_episodes(raw, diffuser_resplit=dc.diffuser_resplit, goal_xy=goal_xy, max_steps=dc.max_steps)
    if dc.goal_relabel != "none":
        infos_goal = raw.get("infos/goal")
        eps = hindsight_episodes(
            eps,
            dc.goal_relabel,
            reward_type=get_spec(spec.dataset).reward_type,  # the dataset's own reward rule
            infos_goal_N2=None if infos_goal is None else np.asarray(infos_goal)[: eps.num_steps],
            min_len=dc.goal_min_len,
            max_len=dc.goal_max_len or max(spec.horizon, dc.goal_min_len),
            copies=dc.goal_copies,
            seed=seed,
        )
    if dc.rtg_horizon is not None:
        eps = with_horizon_rtg(eps, dc.rtg_horizon)
    return eps, spec.name


def prepare_data(cfg: ExperimentConfig) -> PreparedData:
    """Load the dataset (``load_episodes``), fit normalisers, build windows."""
    eps, task = load_episodes(cfg.data, seed=cfg.train.seed)
    return prepare_from_episodes(cfg, eps, task=task)


def prepare_from_episodes(cfg: ExperimentConfig, eps: Episodes, task: str) -> PreparedData:
    """Split episodes (as ``load_episodes`` returns them) into train/val (seeded), fit normalisers on train,
    build WindowDatasets."""
    E = eps.num_episodes
    perm = np.random.default_rng(cfg.train.seed).permutation(E)
    n_val = min(max(1, round(cfg.data.val_fraction * E)), E - 1) if E > 1 else 0
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    norms = DatasetNormalizers.fit(eps.select(train_idx))
    H = cfg.data.horizon
    train = WindowDataset(eps, norms, H, episode_indices=train_idx)
    val = WindowDataset(eps, norms, H, episode_indices=val_idx) if n_val else train
    extras: dict[str, Any] = {}
    if cfg.data.rest_weight != 1.0:
        if get_spec(task).family != "maze2d":
            raise ValueError(
                f"data.rest_weight={cfg.data.rest_weight} reads a maze2d velocity (obs = x, y, vx, vy); "
                f"{task} is not a maze2d task: set data.rest_weight=1"
            )
        extras["rest_window_share"] = train.weight_rest_starts(cfg.data.rest_speed, cfg.data.rest_weight)
    meta = DataMeta(
        task=task,
        obs_dim=eps.obs_dim,
        act_dim=eps.act_dim,
        goal_dim=eps.goal_EG.shape[1],
        act_low=eps.act_NA.min(0).astype(float).tolist(),
        act_high=eps.act_NA.max(0).astype(float).tolist(),
    )
    return PreparedData(eps, norms, train, val, np.asarray(eps.returns_E), meta, extras)
