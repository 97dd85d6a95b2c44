"""Hierarchical Diffuser (Chen et al. 2024, ``changchencc/Simple-Hierarchical-Planning-with-Diffusion``).

- **High level** (``config/maze2d_hl.py``, ``jump_action='none'``): a DDPM over M = hl_horizon // K states
  s_0, s_K, ..., s_{(M-1)K} (jumpy subgoals, no actions), the first inpainted and, when the goal is given, the
  last = (goal, zero velocity) (GoalDataset at index M - 1).
- **Low level** (``config/maze2d_ll.py``): a Diffuser over K + 1 steps ``[a | s]``, both end states inpainted.
  Planning runs it once per consecutive subgoal pair, batched (B (M - 1) segments), and stitches the
  segments as ``scripts/hd_plan_maze2d.py`` does: s_0, then states 1..K of every segment, so the plan has
  1 + (M - 1) K states; the actions are every segment's first K actions (the last state gets a zero action).

The two levels reuse the U-Net and the DDPM of ``gaussian``/``unet`` and Diffuser's helpers. They are trained
in one loop, one batch of each per step (the source trains them as two runs).
"""

from __future__ import annotations

import torch
from torch import nn

from mage.baselines.diffusion.configs import HDConfig
from mage.baselines.diffusion.diffuser import Plan, action_weights, drop_last, ends_known, make_diffusion


class HierarchicalDiffuser(nn.Module):
    def __init__(self, cfg: HDConfig, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.cfg, self.obs_dim, self.act_dim = cfg, obs_dim, act_dim
        self.jump, self.subgoals = cfg.jump, cfg.subgoals
        self.horizon = 1 + (self.subgoals - 1) * self.jump  # stitched plan length
        self.high = make_diffusion(cfg, obs_dim, cfg.hl_diffusion_steps)
        self.low = make_diffusion(cfg, act_dim + obs_dim, cfg.ll_diffusion_steps)
        self.register_buffer("hl_weight_HC", torch.ones(self.subgoals, obs_dim), persistent=False)
        self.register_buffer(
            "ll_weight_HC",
            action_weights(self.jump + 1, act_dim, obs_dim, cfg.action_weight),
            persistent=False,
        )
        self._all = slice(0, obs_dim)
        self._states = slice(act_dim, act_dim + obs_dim)

    def windows(self) -> dict[str, int]:
        return {"high": self.horizon, "low": self.jump + 1}

    def loss(self, batches: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        hi = batches["high"]["obs_BHS"][:, :: self.jump]  # (B, M, S): every K-th state
        known, _ = ends_known(hi.shape, self._all, hi[:, 0], hi[:, -1])
        hl_loss = self.high.loss(hi, drop_last(known, self.cfg.goal_dropout), self.hl_weight_HC)
        lo = batches["low"]
        x0 = torch.cat([lo["act_BHA"], lo["obs_BHS"]], dim=-1)
        known, _ = ends_known(x0.shape, self._states, lo["obs_BHS"][:, 0], lo["obs_BHS"][:, -1])
        return hl_loss + self.low.loss(x0, known, self.ll_weight_HC)

    @torch.no_grad()
    def subgoal_plan(
        self,
        obs_BS: torch.Tensor,
        goal_BS: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The high level's normalised subgoals (B, M, S); index 0 = ``obs_BS``, M - 1 = ``goal_BS`` if given."""
        known, value = ends_known((obs_BS.shape[0], self.subgoals, self.obs_dim), self._all, obs_BS, goal_BS)
        return self.high.sample(known, value, generator=generator)

    @torch.no_grad()
    def fill(
        self,
        subgoals_BMS: torch.Tensor,
        generator: torch.Generator | None = None,
        trace: list[torch.Tensor] | None = None,
    ) -> Plan:
        """The low level between every consecutive pair of subgoals, stitched into one plan."""
        B, M, S = subgoals_BMS.shape
        start = subgoals_BMS[:, :-1].reshape(B * (M - 1), S)
        end = subgoals_BMS[:, 1:].reshape(B * (M - 1), S)
        shape = (B * (M - 1), self.jump + 1, self.act_dim + S)
        known, value = ends_known(shape, self._states, start, end)
        seg = self.low.sample(known, value, generator=generator, trace=trace).reshape(
            B, M - 1, self.jump + 1, -1
        )
        states = torch.cat(
            [seg[:, 0, :1, self._states], seg[:, :, 1:, self._states].reshape(B, -1, S)], dim=1
        )
        actions = seg[:, :, :-1, : self.act_dim].reshape(B, -1, self.act_dim)
        actions = torch.cat([actions, torch.zeros_like(actions[:, :1])], dim=1)
        return Plan(states, actions)

    @torch.no_grad()
    def plan(
        self,
        obs_BS: torch.Tensor,
        goal_BS: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Plan:
        return self.fill(self.subgoal_plan(obs_BS, goal_BS, generator), generator)
