"""Training data of the diffusion planners: per-dimension normalisers and uniformly sampled full windows.

A window is ``length`` consecutive steps inside one episode; windows that would run past the episode end are
not used (Diffuser's maze2d ``use_padding=False``), which is why ``mage.data.windows.WindowDataset`` (it pads
past the end) is not used here. Everything lives as tensors on the training device, and a batch is one
fancy-index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.signal import lfilter

from mage.data.episodes import Episodes
from mage.data.normalization import Normalizer


@dataclass
class PlanNormalizers:
    obs: Normalizer  # per-dimension, states (and the inpainted goal state)
    act: Normalizer  # per-dimension, actions

    @classmethod
    def fit(cls, episodes: Episodes, kind: str) -> PlanNormalizers:
        return cls(Normalizer.fit(episodes.obs_NS, kind), Normalizer.fit(episodes.act_NA, kind))

    def to_dict(self) -> dict[str, Any]:
        return {"obs": self.obs.to_dict(), "act": self.act.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanNormalizers:
        return cls(Normalizer.from_dict(d["obs"]), Normalizer.from_dict(d["act"]))


def discounted_returns(episodes: Episodes, discount: float) -> np.ndarray:
    """Per row, the discounted return from that step to its episode's end (Decision Diffuser's condition)."""
    out = np.empty(episodes.num_steps, dtype=np.float64)
    for s, n in zip(episodes.starts_E, episodes.lengths_E):
        r = episodes.rew_N[s : s + n].astype(np.float64)
        out[s : s + n] = lfilter([1.0], [1.0, -discount], r[::-1])[::-1]
    return out


class Windows:
    """Full windows of ``length`` steps; ``sample(B)`` -> ``obs_BHS``, ``act_BHA`` (normalised) and, when
    ``returns_N`` is given, ``ret_B1`` (the return from the window's first step)."""

    def __init__(
        self,
        episodes: Episodes,
        norm: PlanNormalizers,
        length: int,
        device: torch.device | str = "cpu",
        returns_N: np.ndarray | None = None,
    ) -> None:
        n_E = np.maximum(episodes.lengths_E - length + 1, 0)
        if n_E.sum() == 0:
            raise ValueError(
                f"no episode has {length} steps (longest: {int(episodes.lengths_E.max(initial=0))}): lower the "
                "planner's horizon (baseline.horizon / baseline.hl_horizon) or use more data"
            )
        first_E = np.repeat(episodes.starts_E, n_E)
        offset = np.arange(int(n_E.sum())) - np.repeat(np.cumsum(n_E) - n_E, n_E)
        self.length = length
        self.episodes = int((n_E > 0).sum())  # episodes that hold at least one window
        self.start_W = torch.as_tensor(first_E + offset, device=device)
        self.obs_NS = torch.as_tensor(norm.obs.normalize(episodes.obs_NS), dtype=torch.float32, device=device)
        self.act_NA = torch.as_tensor(norm.act.normalize(episodes.act_NA), dtype=torch.float32, device=device)
        self.ret_N = (
            None if returns_N is None else torch.as_tensor(returns_N, dtype=torch.float32, device=device)
        )
        self._arange_H = torch.arange(length, device=device)

    def __len__(self) -> int:
        return len(self.start_W)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        w_B = torch.randint(0, len(self.start_W), (batch_size,), device=self.start_W.device)
        rows_BH = self.start_W[w_B][:, None] + self._arange_H
        out = {"obs_BHS": self.obs_NS[rows_BH], "act_BHA": self.act_NA[rows_BH]}
        if self.ret_N is not None:
            out["ret_B1"] = self.ret_N[rows_BH[:, 0]][:, None]
        return out
