"""Action heads. MAGE: a_0 = I(f_hat[:, :, 0] [, s_0]) on the aggregated latent (paper).
Ablation (Decision-Diffuser style): a_0 = f(s_0, s_1) with s_1 decoded from the plan. The third readout,
``policy.action_source="generated"`` (schemes RSA / A), has no head: a_0 is the decoded plan's action channel
(``MagePolicy.action_from_decoded``)."""

from __future__ import annotations

import torch
from torch import nn


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out)
    )


class LatentInverseDynamics(nn.Module):
    def __init__(self, code_dim: int, obs_dim: int, act_dim: int, hidden: int, use_state: bool):
        super().__init__()
        self.use_state = use_state
        self.net = _mlp(code_dim + (obs_dim if use_state else 0), hidden, act_dim)

    def forward(self, f_hat_BCh: torch.Tensor, obs_BS: torch.Tensor) -> torch.Tensor:
        """Normalised a_0 from the t = 0 slice of f_hat (it covers the first ``downsample`` env steps)."""
        return self.from_first_step(f_hat_BCh[:, :, 0], obs_BS)

    def from_first_step(self, z_BC: torch.Tensor, obs_BS: torch.Tensor) -> torch.Tensor:
        """The same head on f_hat[:, :, 0] alone (what the fast planner returns)."""
        return self.net(torch.cat([z_BC, obs_BS], dim=-1) if self.use_state else z_BC)


class StateInverseDynamics(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int):
        super().__init__()
        self.net = _mlp(2 * obs_dim, hidden, act_dim)

    def forward(self, obs0_BS: torch.Tensor, obs1_BS: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs0_BS, obs1_BS], dim=-1))
