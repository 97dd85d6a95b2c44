"""Fixed-horizon training windows over episodes (the batch contract in docs/architecture.md).

A window of length H starts at every ``stride``-th step of every episode. Past the episode end it is padded:
the last state repeats, actions and RTG are 0, mask is 0. We build ONE padded flat array once (each episode
followed by H - 1 padding rows), so a window is a plain slice and a batch is one fancy-index.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mage.data.episodes import Episodes
from mage.data.normalization import DatasetNormalizers


def padded_layout(lengths_E: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the padded stream: (src_row_P into the episode-packed rows, mask_P, padded_start_E)."""
    padded_len_E = lengths_E + horizon - 1
    padded_start_E = np.concatenate([[0], np.cumsum(padded_len_E)[:-1]]).astype(np.int64)
    starts_E = np.concatenate([[0], np.cumsum(lengths_E)[:-1]]).astype(np.int64)
    ep_P = np.repeat(np.arange(len(lengths_E)), padded_len_E)
    offset_P = np.arange(int(padded_len_E.sum())) - padded_start_E[ep_P]
    mask_P = offset_P < lengths_E[ep_P]
    src_P = starts_E[ep_P] + np.minimum(offset_P, lengths_E[ep_P] - 1)
    return src_P, mask_P, padded_start_E


class WindowDataset(Dataset):
    """Items: ``obs_HS, act_HA, rtg_H, mask_H, goal_G`` float32 tensors, normalised. ``weight_W`` (None:
    uniform) is the relative chance of each window in a shuffled pass (``DeviceBatches``)."""

    def __init__(
        self,
        episodes: Episodes,
        normalizers: DatasetNormalizers,
        horizon: int,
        stride: int = 1,
        episode_indices: np.ndarray | None = None,
    ) -> None:
        if horizon < 1 or stride < 1:
            raise ValueError(f"horizon={horizon} and stride={stride} must be >= 1")
        if episode_indices is not None:
            episodes = episodes.select(episode_indices)
        if episodes.num_episodes == 0:
            raise ValueError("WindowDataset needs at least one episode")
        self.horizon, self.stride = horizon, stride
        self.episodes = episodes
        self.normalizers = normalizers
        src_P, mask_P, padded_start_E = padded_layout(episodes.lengths_E, horizon)
        obs = normalizers.obs.normalize(episodes.obs_NS)
        act = normalizers.act.normalize(episodes.act_NA)
        rtg = normalizers.rtg.normalize(episodes.rtg_N)
        self.obs_PS = torch.as_tensor(np.asarray(obs, dtype=np.float32)[src_P])
        self.act_PA = torch.as_tensor(
            np.where(mask_P[:, None], np.asarray(act, dtype=np.float32)[src_P], 0.0)
        )
        self.rtg_P = torch.as_tensor(np.where(mask_P, np.asarray(rtg, dtype=np.float32)[src_P], 0.0))
        self.mask_P = torch.as_tensor(mask_P.astype(np.float32))
        self.goal_EG = torch.as_tensor(
            np.asarray(normalizers.goal.normalize(episodes.goal_EG), dtype=np.float32)
        )
        # window w covers padded rows [win_start_W[w], win_start_W[w] + H)
        ep_W = np.repeat(np.arange(episodes.num_episodes), (episodes.lengths_E + stride - 1) // stride)
        first_W = np.concatenate([[0], np.cumsum((episodes.lengths_E + stride - 1) // stride)[:-1]])
        k_W = np.arange(len(ep_W)) - first_W[ep_W]
        self.win_start_W = torch.as_tensor(padded_start_E[ep_W] + k_W * stride)
        self.win_episode_W = torch.as_tensor(ep_W)
        self.first_row_W = src_P[self.win_start_W.numpy()]  # each window's first step, in episodes' rows
        self.weight_W: torch.Tensor | None = None
        self._arange_H = torch.arange(horizon)

    def __len__(self) -> int:
        return len(self.win_start_W)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = int(self.win_start_W[i])
        sl = slice(s, s + self.horizon)
        return {
            "obs_HS": self.obs_PS[sl],
            "act_HA": self.act_PA[sl],
            "rtg_H": self.rtg_P[sl],
            "mask_H": self.mask_P[sl],
            "goal_G": self.goal_EG[int(self.win_episode_W[i])],
        }

    def weight_rest_starts(self, rest_speed: float, rest_weight: float) -> float:
        """Windows whose first state moves slower than ``rest_speed`` (maze2d: obs = x, y, vx, vy) get weight
        ``rest_weight``, the others 1. Evaluation episodes start at rest and the data's controller rarely
        stops, so the first action from rest is otherwise learnt from few windows. Returns their share."""
        speed_W = np.linalg.norm(self.episodes.obs_NS[self.first_row_W, 2:4], axis=1)
        at_rest_W = speed_W < rest_speed
        self.weight_W = torch.as_tensor(np.where(at_rest_W, rest_weight, 1.0), dtype=torch.float32)
        return float(at_rest_W.mean())

    _TENSORS = ("obs_PS", "act_PA", "rtg_P", "mask_P", "goal_EG", "win_start_W", "win_episode_W", "_arange_H")

    def to(self, device: torch.device | str) -> WindowDataset:
        """A shallow copy whose tensors live on ``device`` (batches are then gathered there); self if already."""
        device = torch.device(device)
        if self.obs_PS.device == device:
            return self
        moved = copy.copy(self)
        for name in self._TENSORS:
            setattr(moved, name, getattr(self, name).to(device))
        if self.weight_W is not None:
            moved.weight_W = self.weight_W.to(device)
        return moved

    def get_batch(self, indices_B: Any) -> dict[str, torch.Tensor]:
        """Vectorised batch of windows: the item keys (``obs_HS`` ...) with a leading B, exactly what a
        DataLoader would collate, without per-item Python overhead. Indices may be a tensor on the data's
        device."""
        if isinstance(indices_B, torch.Tensor):
            idx_B = indices_B.to(self.win_start_W.device, torch.long)
        else:
            idx_B = torch.as_tensor(np.asarray(indices_B), dtype=torch.long)
        rows_BH = self.win_start_W[idx_B][:, None] + self._arange_H
        return {
            "obs_HS": self.obs_PS[rows_BH],
            "act_HA": self.act_PA[rows_BH],
            "rtg_H": self.rtg_P[rows_BH],
            "mask_H": self.mask_P[rows_BH],
            "goal_G": self.goal_EG[self.win_episode_W[idx_B]],
        }
