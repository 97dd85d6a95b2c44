"""Diffuser (Janner et al. 2022), maze2d variant: one DDPM over (H, A + S) trajectories ``[a_t | s_t]``.

Training (``diffuser/datasets/sequence.py`` GoalDataset): windows of H steps, the first state and the last
state inpainted (the last one left out with probability ``goal_dropout``, ours, so that the model also learns
plans without a goal). Planning (``scripts/plan_maze2d.py``): s_0 = the current observation inpainted at t = 0
and, when the goal is given, (goal, zero velocity) at t = H - 1.

``Plan`` is what every planner of this package returns: normalised states (B, H, S) whose index 0 is the
current state, and the normalised actions (B, H, A) (None for Decision Diffuser, which acts by inverse
dynamics).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from mage.baselines.diffusion.configs import DiffuserConfig, DiffusionConfig
from mage.baselines.diffusion.gaussian import GaussianDiffusion, inpaint
from mage.baselines.diffusion.unet import TemporalUnet


class Plan(NamedTuple):
    states_BHS: torch.Tensor  # normalised planned states; index 0 = the current state
    actions_BHA: torch.Tensor | None  # normalised planned actions (None: inverse dynamics, DD)


def make_diffusion(
    cfg: DiffusionConfig, channels: int, n_steps: int, cond_dim: int = 0, **kw: float
) -> GaussianDiffusion:
    """The U-Net of ``cfg`` over ``channels`` and its DDPM (shared by the three planners)."""
    net = TemporalUnet(channels, cfg.dim, tuple(cfg.dim_mults), cfg.kernel_size, cond_dim=cond_dim)
    return GaussianDiffusion(
        net,
        n_steps,
        predict_epsilon=cfg.predict_epsilon,
        clip_denoised=cfg.clip_denoised,
        temperature=cfg.temperature,
        **kw,
    )


def goal_state(goal_BG: torch.Tensor, obs_dim: int) -> torch.Tensor:
    """Diffuser's goal condition ``[*target, 0, 0]``: the goal position, every other dimension 0 (raw)."""
    g_BS = torch.zeros(goal_BG.shape[0], obs_dim, device=goal_BG.device)
    g_BS[:, : goal_BG.shape[1]] = goal_BG
    return g_BS


def ends_known(
    shape: tuple[int, int, int], states: slice, s0_BS: torch.Tensor, last_BS: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inpainting of the first state and, if given, the last one (channels ``states``)."""
    entries = [(0, states, s0_BS)]
    if last_BS is not None:
        entries.append((shape[1] - 1, states, last_BS))
    return inpaint(shape, s0_BS.device, entries)


def drop_last(known_BHC: torch.Tensor, p: float) -> torch.Tensor:
    """Training: un-inpaint the last state of a random fraction ``p`` of the windows."""
    if p <= 0:
        return known_BHC
    drop_B = torch.rand(known_BHC.shape[0], device=known_BHC.device) < p
    known_BHC = known_BHC.clone()
    known_BHC[:, -1] &= ~drop_B[:, None]
    return known_BHC


def action_weights(horizon: int, act_dim: int, obs_dim: int, action_weight: float) -> torch.Tensor:
    """Diffuser's loss weights over ``[a | s]``: 1 everywhere, ``action_weight`` on the first action."""
    w_HC = torch.ones(horizon, act_dim + obs_dim)
    w_HC[0, :act_dim] = action_weight
    return w_HC


class Diffuser(nn.Module):
    def __init__(self, cfg: DiffuserConfig, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.cfg, self.obs_dim, self.act_dim = cfg, obs_dim, act_dim
        self.horizon = cfg.horizon
        self.diffusion = make_diffusion(cfg, act_dim + obs_dim, cfg.n_diffusion_steps)
        self.register_buffer(
            "weight_HC", action_weights(cfg.horizon, act_dim, obs_dim, cfg.action_weight), persistent=False
        )
        self._states = slice(act_dim, act_dim + obs_dim)

    def windows(self) -> dict[str, int]:
        """Window lengths the trainer samples, by name."""
        return {"plan": self.horizon}

    def loss(self, batches: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        b = batches["plan"]
        x0 = torch.cat([b["act_BHA"], b["obs_BHS"]], dim=-1)
        known, _ = ends_known(x0.shape, self._states, b["obs_BHS"][:, 0], b["obs_BHS"][:, -1])
        return self.diffusion.loss(x0, drop_last(known, self.cfg.goal_dropout), self.weight_HC)

    @torch.no_grad()
    def plan(
        self,
        obs_BS: torch.Tensor,
        goal_BS: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        trace: list[torch.Tensor] | None = None,
    ) -> Plan:
        """A plan from the normalised ``obs_BS``, ending at the normalised goal state ``goal_BS`` if given."""
        shape = (obs_BS.shape[0], self.horizon, self.act_dim + self.obs_dim)
        known, value = ends_known(shape, self._states, obs_BS, goal_BS)
        x = self.diffusion.sample(known, value, generator=generator, trace=trace)
        return Plan(x[..., self._states], x[..., : self.act_dim])
