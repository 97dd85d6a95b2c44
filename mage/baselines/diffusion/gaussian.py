"""DDPM over trajectories with inpainting and classifier-free guidance (Diffuser's ``GaussianDiffusion``,
Decision Diffuser's ``GaussianInvDynDiffusion`` sampling, written anew).

- Cosine beta schedule (Nichol & Dhariwal), ``n_steps`` steps; the network predicts x0 (Diffuser's maze2d
  ``predict_epsilon=False``) or the noise (DD); the x0 estimate is clipped to [-1, 1] (``clip_denoised``).
- **Inpainting.** A condition is a boolean mask ``known_BHC`` and the values ``value_BHC`` there. The known
  entries are written into x before the first step and after every denoising step (``torch.where``: exact),
  and in training they are noise-free in x_t and left out of the loss (Diffuser ``apply_conditioning``; DD
  zeroes the noise and the loss weight of the conditioned state the same way).
- **Guidance.** With a condition ``cond_BD`` the network sees the condition embedding kept (``keep = 1``) or
  dropped (``keep = 0``); training drops it with probability ``cond_dropout``, sampling mixes
  ``uncond + w (cond - uncond)`` (both passes in one batched call).
- ``temperature`` scales the initial and the per-step noise (DD samples with 0.5, Diffuser with 1).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mage.baselines.diffusion.unet import TemporalUnet


def cosine_betas(n_steps: int, s: float = 0.008) -> np.ndarray:
    """The cosine schedule's betas, clipped to 0.999 (Diffuser ``cosine_beta_schedule``)."""
    x = np.linspace(0, n_steps + 1, n_steps + 1)
    ac = np.cos(((x / (n_steps + 1)) + s) / (1 + s) * math.pi * 0.5) ** 2
    ac = ac / ac[0]
    return np.clip(1 - ac[1:] / ac[:-1], 0, 0.999)


class GaussianDiffusion(nn.Module):
    def __init__(
        self,
        net: TemporalUnet,
        n_steps: int,
        *,
        predict_epsilon: bool,
        clip_denoised: bool = True,
        guidance_w: float = 1.0,
        cond_dropout: float = 0.0,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.net = net
        self.n_steps = int(n_steps)
        self.predict_epsilon = predict_epsilon
        self.clip_denoised = clip_denoised
        self.guidance_w = guidance_w
        self.cond_dropout = cond_dropout
        self.temperature = temperature
        betas = cosine_betas(self.n_steps)
        ac = np.cumprod(1 - betas)
        ac_prev = np.concatenate([[1.0], ac[:-1]])
        post_var = betas * (1 - ac_prev) / (1 - ac)
        table = {
            "sqrt_ac": np.sqrt(ac),
            "sqrt_1m_ac": np.sqrt(1 - ac),
            "sqrt_recip_ac": np.sqrt(1 / ac),
            "sqrt_recipm1_ac": np.sqrt(1 / ac - 1),
            "post_std": np.sqrt(np.clip(post_var, 1e-20, None)),
            "post_c1": betas * np.sqrt(ac_prev) / (1 - ac),
            "post_c2": (1 - ac_prev) * np.sqrt(1 - betas) / (1 - ac),
        }
        for name, v in table.items():
            self.register_buffer(name, torch.as_tensor(v, dtype=torch.float32), persistent=False)

    def _coef(self, name: str, t_B: torch.Tensor) -> torch.Tensor:
        return getattr(self, name)[t_B][:, None, None]

    # ------------------------------------------------------------------------------------------- training

    def loss(
        self,
        x0_BHC: torch.Tensor,
        known_BHC: torch.Tensor,
        weight_HC: torch.Tensor,
        cond_BD: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Denoising loss at a uniform random step: weighted MSE to x0 (or the noise) over the unknown entries,
        averaged over all entries (Diffuser's WeightedL2)."""
        B = x0_BHC.shape[0]
        t_B = torch.randint(0, self.n_steps, (B,), device=x0_BHC.device)
        noise_BHC = torch.randn_like(x0_BHC).masked_fill(known_BHC, 0.0)
        xt_BHC = self._coef("sqrt_ac", t_B) * x0_BHC + self._coef("sqrt_1m_ac", t_B) * noise_BHC
        xt_BHC = torch.where(known_BHC, x0_BHC, xt_BHC)
        keep_B = None
        if cond_BD is not None:
            keep_B = (torch.rand(B, device=x0_BHC.device) >= self.cond_dropout).float()
        out_BHC = self.net(xt_BHC, t_B, cond_BD, keep_B)
        target_BHC = noise_BHC if self.predict_epsilon else x0_BHC
        err_BHC = F.mse_loss(out_BHC, target_BHC, reduction="none") * weight_HC * (~known_BHC)
        return err_BHC.mean()

    # ------------------------------------------------------------------------------------------- sampling

    def _model_out(
        self, x_BHC: torch.Tensor, t_B: torch.Tensor, cond_BD: torch.Tensor | None
    ) -> torch.Tensor:
        if cond_BD is None:
            return self.net(x_BHC, t_B)
        if self.guidance_w == 1.0:
            return self.net(x_BHC, t_B, cond_BD, torch.ones_like(t_B, dtype=x_BHC.dtype))
        B = x_BHC.shape[0]
        keep_B = torch.cat([torch.ones(B), torch.zeros(B)]).to(x_BHC)  # B kept, then B dropped
        both = self.net(
            torch.cat([x_BHC, x_BHC]), torch.cat([t_B, t_B]), torch.cat([cond_BD, cond_BD]), keep_B
        )
        cond_BHC, uncond_BHC = both[:B], both[B:]
        return uncond_BHC + self.guidance_w * (cond_BHC - uncond_BHC)

    @torch.no_grad()
    def sample(
        self,
        known_BHC: torch.Tensor,
        value_BHC: torch.Tensor,
        cond_BD: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        trace: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """A sample of x0 (normalised) with the known entries inpainted; ``trace`` receives x after the
        initial inpainting and after every denoising step."""
        dev = value_BHC.device
        x_BHC = self.temperature * torch.randn(value_BHC.shape, generator=generator, device=dev)
        x_BHC = torch.where(known_BHC, value_BHC, x_BHC)
        if trace is not None:
            trace.append(x_BHC.clone())
        for i in reversed(range(self.n_steps)):
            t_B = torch.full((x_BHC.shape[0],), i, device=dev, dtype=torch.long)
            out_BHC = self._model_out(x_BHC, t_B, cond_BD)
            x0_BHC = out_BHC
            if self.predict_epsilon:
                x0_BHC = self.sqrt_recip_ac[i] * x_BHC - self.sqrt_recipm1_ac[i] * out_BHC
            if self.clip_denoised:
                x0_BHC = x0_BHC.clamp(-1.0, 1.0)
            x_BHC = self.post_c1[i] * x0_BHC + self.post_c2[i] * x_BHC  # the posterior mean
            if i > 0:
                noise_BHC = torch.randn(x_BHC.shape, generator=generator, device=dev)
                x_BHC = x_BHC + self.temperature * self.post_std[i] * noise_BHC
            x_BHC = torch.where(known_BHC, value_BHC, x_BHC)
            if trace is not None:
                trace.append(x_BHC.clone())
        return x_BHC


def inpaint(
    shape: tuple[int, int, int], device: torch.device, entries: list[tuple[int, slice, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(known_BHC, value_BHC)`` of ``entries``: (time index, channel slice, values (B, n channels))."""
    known = torch.zeros(shape, dtype=torch.bool, device=device)
    value = torch.zeros(shape, device=device)
    for h, ch, v_BD in entries:
        known[:, h, ch] = True
        value[:, h, ch] = v_BD
    return known, value
