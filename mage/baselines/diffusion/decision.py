"""Decision Diffuser (Ajay et al. 2023, ``anuragajay/decision-diffuser`` ``GaussianInvDynDiffusion``).

- A DDPM over states only (B, H, S), predicting the noise, conditioned on the normalised discounted return
  from the window's first step (``ret / returns_scale``) through the U-Net's condition embedding, with
  classifier-free guidance (condition dropout 0.25 in training, weight w = 1.2 when sampling); s_0 is
  inpainted.
- An inverse-dynamics MLP a_t = f(s_t, s_{t+1}) (2 hidden ReLU layers of 256) trained on the same windows.
  The loss is (diffusion + inverse) / 2, as in the source.
- Acting: plan with R = ``test_ret`` (0.9 of the data's best discounted return), then a = f(s, ŝ_1).

DD has no goal input: track R.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mage.baselines.diffusion.configs import DDConfig
from mage.baselines.diffusion.diffuser import Plan, make_diffusion
from mage.baselines.diffusion.gaussian import inpaint


class DecisionDiffuser(nn.Module):
    def __init__(self, cfg: DDConfig, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.cfg, self.obs_dim, self.act_dim = cfg, obs_dim, act_dim
        self.horizon = cfg.horizon
        self.diffusion = make_diffusion(
            cfg,
            obs_dim,
            cfg.n_diffusion_steps,
            cond_dim=1,
            guidance_w=cfg.guidance_w,
            cond_dropout=cfg.cond_dropout,
        )
        h = cfg.inv_hidden
        self.inverse_net = nn.Sequential(
            nn.Linear(2 * obs_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, act_dim)
        )
        self.register_buffer("weight_HC", torch.ones(cfg.horizon, obs_dim), persistent=False)
        self._all = slice(0, obs_dim)

    def windows(self) -> dict[str, int]:
        return {"plan": self.horizon}

    def inverse(self, s_BS: torch.Tensor, s_next_BS: torch.Tensor) -> torch.Tensor:
        """The normalised action that takes normalised ``s_BS`` to ``s_next_BS``."""
        return self.inverse_net(torch.cat([s_BS, s_next_BS], dim=-1))

    def loss(self, batches: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        b = batches["plan"]
        x0 = b["obs_BHS"]
        known, _ = inpaint(x0.shape, x0.device, [(0, self._all, x0[:, 0])])
        diffuse = self.diffusion.loss(x0, known, self.weight_HC, cond_BD=b["ret_B1"])
        a_pred = self.inverse(x0[:, :-1], x0[:, 1:])
        return 0.5 * (diffuse + F.mse_loss(a_pred, b["act_BHA"][:, :-1]))

    @torch.no_grad()
    def plan(
        self,
        obs_BS: torch.Tensor,
        goal_BS: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        returns_B1: torch.Tensor | None = None,
        trace: list[torch.Tensor] | None = None,
    ) -> Plan:
        """States from the normalised ``obs_BS`` conditioned on ``returns_B1`` (default ``test_ret``); the goal
        is not an input of DD and is ignored."""
        B = obs_BS.shape[0]
        if returns_B1 is None:
            returns_B1 = torch.full((B, 1), self.cfg.test_ret, device=obs_BS.device)
        known, value = inpaint((B, self.horizon, self.obs_dim), obs_BS.device, [(0, self._all, obs_BS)])
        x = self.diffusion.sample(known, value, cond_BD=returns_B1, generator=generator, trace=trace)
        return Plan(x, None)
