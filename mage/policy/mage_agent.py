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

from mage.data.normalization import Normalizer
from mage.policy.checkpoint import Checkpoint, load_checkpoint
from mage.policy.model import MagePolicy
from mage.policy.planner import SamplingConfig
from mage.tokenizer.vqvae import TrajectoryTokenizer


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
        *,
        target_return: float,
        sampling: SamplingConfig | None = None,
        seed: int = 0,
        rtg_update: str | None = None,
        track_lookahead: int | None = None,
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
        self.default_target = float(target_return)  # absolute R̂_0 (mage.eval.rtg resolves percentiles)
        self.rtg_update = rtg_update or ec.rtg_update
        if self.rtg_update not in ("decrement", "hold"):
            raise ValueError(f"rtg_update={self.rtg_update!r} must be 'decrement' (DT) or 'hold'")
        self.sampling = sampling or SamplingConfig(
            greedy=ec.sampling == "greedy", temperature=ec.temperature, top_k=ec.top_k, scales=ec.plan_scales
        )
        self.track_lookahead = track_lookahead or ec.track_lookahead  # acting=track: follow ŝ_k
        if self.track_lookahead < 1:
            raise ValueError(f"track_lookahead={self.track_lookahead} must be >= 1")
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.rtg_B = torch.zeros(0, device=self.device)

    @classmethod
    def from_checkpoint(
        cls,
        ckpt_dir: str | Path,
        device: str | torch.device = "cpu",
        *,
        target_return: float,
        sampling: SamplingConfig | None = None,
        seed: int = 0,
        rtg_update: str | None = None,
    ) -> MageAgent:
        """``target_return``: the absolute R̂_0 (``mage.eval.rtg.resolve_target_return`` derives it from a
        percentile of the checkpoint's dataset returns)."""
        return cls(
            load_checkpoint(ckpt_dir, device),
            device,
            target_return=target_return,
            sampling=sampling,
            seed=seed,
            rtg_update=rtg_update,
        )

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        tgt = self.default_target if target_return is None else target_return
        self.rtg_B = torch.as_tensor(
            np.broadcast_to(np.asarray(tgt, dtype=np.float32), (num_envs,)).copy(), device=self.device
        )

    def _inputs(
        self, obs_BS: np.ndarray, goal_BG: np.ndarray | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Normalised (obs, current R̂, goal) for the policy."""
        obs = self._obs.norm(torch.as_tensor(obs_BS, dtype=torch.float32, device=self.device))
        if obs.shape[0] != self.rtg_B.shape[0]:
            raise ValueError(
                f"act got {obs.shape[0]} observations but reset() was called for {self.rtg_B.shape[0]} envs"
            )
        rtg = self._rtg.norm(self.rtg_B.unsqueeze(-1)).squeeze(-1)
        goal = None
        if self.policy.goal_dim:
            if goal_BG is None:
                raise ValueError(
                    "this policy is goal-conditioned (transformer.use_goal); evaluate it with the goal given "
                    "(eval.goal=given / mage evaluate --goal given)"
                )
            goal = self._goal.norm(torch.as_tensor(goal_BG, dtype=torch.float32, device=self.device))
        return obs, rtg, goal

    @torch.inference_mode()
    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        obs, rtg, goal = self._inputs(obs_BS, goal_BG)
        a_n = self.policy.act(self.tokenizer, obs, rtg, goal, self.sampling, self.generator)
        a = torch.minimum(torch.maximum(self._act.unnorm(a_n), self.act_low), self.act_high)
        return a.cpu().numpy()

    @torch.inference_mode()
    def plan_next_state(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        """The state ``acting='track'`` follows (``mage.agent.StatePlanner``): the observed state plus the
        plan's displacement over ``eval.track_lookahead`` = k steps, s_t + (ŝ_k - ŝ_0). Diffuser's plan starts
        at the inpainted, exact s_t; ours is a reconstruction, so its absolute ŝ_k carries the decoder's
        offset, which the difference cancels. Diffuser tracks k = 1 of a plan made once; an agent that
        replans every step gets a near-zero tracker action from k = 1 (docs/results.md).
        Needs a tokenizer that generates states (scheme RS, RSA or S)."""
        k = self.track_lookahead
        if k >= self.cfg.data.horizon:  # before planning: nothing is computed for a plan it cannot follow
            raise ValueError(
                f"eval.track_lookahead={k} must be < data.horizon={self.cfg.data.horizon} (the plan covers H "
                "steps); pass --set eval.track_lookahead=K with a smaller K"
            )
        obs, rtg, goal = self._inputs(obs_BS, goal_BG)
        s_BHS = self._obs.unnorm(
            self.policy.plan_states(self.tokenizer, obs, rtg, goal, self.sampling, self.generator)
        )
        s_BS = torch.as_tensor(obs_BS, dtype=torch.float32, device=self.device) + s_BHS[:, k] - s_BHS[:, 0]
        return s_BS.cpu().numpy()

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        """R̂ -= r (``decrement``, as DT) or R̂ stays R̂_0 (``hold``: the right update for an n-step RTG,
        ``data.rtg_horizon``, and what keeps an agent at a sparse goal once the dataset's returns run out)."""
        if self.rtg_update == "hold":
            return
        self.rtg_B -= torch.as_tensor(np.asarray(reward_B, dtype=np.float32), device=self.device)
