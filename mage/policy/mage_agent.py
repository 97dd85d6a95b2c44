"""MageAgent: the mage.agent.Agent for MAGE. Replans every step (Decision-Transformer-style RTG):

    cond = (R̂_t, s_t[, goal])  ->  K cached transformer calls  ->  f_hat  ->  a_t = I(f_hat_0, s_t)
    observe(r):  R̂_{t+1} = R̂_t - r_t

Normalisation runs in torch with pre-built affine tensors, so act() is K transformer calls plus a handful of
element-wise ops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mage.checkpoint import Checkpoint, load_checkpoint
from mage.data.normalization import Normalizer
from mage.policy.model import MagePolicy
from mage.policy.planner import SamplingConfig
from mage.tokenizer.vqvae import TrajectoryTokenizer


def target_from_percentile(episode_returns: np.ndarray, percentile: float) -> float:
    """R̂_0 as a percentile (0..100) of the dataset's episode returns."""
    r = np.asarray(episode_returns, dtype=np.float64)
    if r.size == 0 or not 0.0 <= percentile <= 100.0:
        raise ValueError(
            f"need non-empty returns and 0 <= percentile <= 100 (got {percentile}, {r.size} returns)"
        )
    return float(np.percentile(r, percentile))


class _Affine:
    """y = (x - shift) / div as torch tensors on the agent's device."""

    def __init__(self, n: Normalizer, device: torch.device):
        self.shift = torch.as_tensor(n.shift, dtype=torch.float32, device=device)
        self.div = torch.as_tensor(n.div, dtype=torch.float32, device=device)

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.div

    def unnorm(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.div + self.shift


class MageAgent:
    def __init__(
        self,
        ckpt: Checkpoint,
        device: str | torch.device = "cpu",
        target_return: float | None = None,
        sampling: SamplingConfig | None = None,
        seed: int = 0,
        rtg_update: str | None = None,
    ):
        if ckpt.policy is None:
            raise ValueError("checkpoint has no policy.pt (stage 2 not trained); train both stages first")
        self.device = torch.device(device)
        self.cfg, self.meta = ckpt.cfg, ckpt.meta
        self.tokenizer: TrajectoryTokenizer = ckpt.tokenizer.to(self.device).eval()
        self.policy: MagePolicy = ckpt.policy.to(self.device).eval()
        self.episode_returns = ckpt.episode_returns
        n = ckpt.normalizers
        self._obs, self._act, self._rtg, self._goal = (
            _Affine(x, self.device) for x in (n.obs, n.act, n.rtg, n.goal)
        )
        self.act_low = torch.tensor(self.meta.act_low, dtype=torch.float32, device=self.device)
        self.act_high = torch.tensor(self.meta.act_high, dtype=torch.float32, device=self.device)
        ec = self.cfg.eval
        if target_return is None:
            target_return = (
                ec.target_return
                if ec.target_return is not None
                else target_from_percentile(
                    self.episode_returns, ec.rtg_percentile if ec.rtg_percentile is not None else 100.0
                )
            )
        self.default_target = float(target_return)
        self.rtg_update = rtg_update or ec.rtg_update
        if self.rtg_update not in ("decrement", "hold"):
            raise ValueError(f"rtg_update={self.rtg_update!r} must be 'decrement' (DT) or 'hold'")
        self.sampling = sampling or SamplingConfig(
            greedy=ec.sampling == "greedy", temperature=ec.temperature, top_k=ec.top_k
        )
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.rtg_B = torch.zeros(0, device=self.device)

    @classmethod
    def from_checkpoint(
        cls,
        ckpt_dir: str | Path,
        device: str | torch.device = "cpu",
        target: float | None = None,
        percentile: float | None = None,
        sampling: SamplingConfig | None = None,
        seed: int = 0,
        rtg_update: str | None = None,
    ) -> MageAgent:
        """``target``: absolute R̂_0; ``percentile``: of dataset episode returns; neither: the config's eval
        settings (default the 100th percentile, the dataset max)."""
        if target is not None and percentile is not None:
            raise ValueError("give target (absolute R̂_0) or percentile, not both")
        ckpt = load_checkpoint(ckpt_dir, device)
        if percentile is not None:
            target = target_from_percentile(ckpt.episode_returns, percentile)
        return cls(ckpt, device, target, sampling, seed, rtg_update)

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        tgt = self.default_target if target_return is None else target_return
        self.rtg_B = torch.as_tensor(
            np.broadcast_to(np.asarray(tgt, dtype=np.float32), (num_envs,)).copy(), device=self.device
        )

    @torch.inference_mode()
    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        obs = self._obs.norm(torch.as_tensor(obs_BS, dtype=torch.float32, device=self.device))
        if obs.shape[0] != self.rtg_B.shape[0]:
            raise ValueError(
                f"act got {obs.shape[0]} observations but reset() was called for {self.rtg_B.shape[0]} envs"
            )
        rtg = self._rtg.norm(self.rtg_B.unsqueeze(-1)).squeeze(-1)
        goal = None
        if self.policy.goal_dim:
            if goal_BG is None:
                raise ValueError("this policy is goal-conditioned (transformer.use_goal); pass goal_BG")
            goal = self._goal.norm(torch.as_tensor(goal_BG, dtype=torch.float32, device=self.device))
        a_n = self.policy.act(self.tokenizer, obs, rtg, goal, self.sampling, self.generator)
        a = torch.minimum(torch.maximum(self._act.unnorm(a_n), self.act_low), self.act_high)
        return a.cpu().numpy()

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        """R̂ -= r (``decrement``, as DT) or R̂ stays R̂_0 (``hold``: the right update for an n-step RTG,
        ``data.rtg_horizon``, and what keeps an agent at a sparse goal once the dataset's returns run out)."""
        if self.rtg_update == "hold":
            return
        self.rtg_B -= torch.as_tensor(np.asarray(reward_B, dtype=np.float32), device=self.device)
