"""Diffuser's temporal U-Net (``jannerm/diffuser`` ``diffuser/models/temporal.py`` TemporalUnet, written anew).

1-D convolutions over the plan's time axis: residual blocks (Conv1d, GroupNorm(8), Mish, twice) take the
diffusion-step embedding (sinusoidal, then an MLP), ``len(dim_mults)`` resolutions down and one fewer up with
skip connections. Decision Diffuser's variant adds a condition embedding (an MLP of the return) concatenated to
the step embedding; its keep mask (1: keep, 0: drop) implements classifier-free guidance's condition dropout.

Ours differs in one place: a horizon that is not a multiple of ``2 ** (len(dim_mults) - 1)`` is padded at the
end with its last frame and cropped back, so any horizon works (HD's medium / large high levels have 17 / 26
subgoals; HD sets per-level kernel sizes instead).
"""

from __future__ import annotations

import math

import torch
from torch import nn

GROUPS = 8  # GroupNorm groups of every block (Diffuser's Conv1dBlock n_groups)


class SinusoidalEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t_B: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freq = torch.exp(torch.arange(half, device=t_B.device) * -(math.log(10000) / (half - 1)))
        arg_BD = t_B.float()[:, None] * freq[None, :]
        return torch.cat([arg_BD.sin(), arg_BD.cos()], dim=-1)


def conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(GROUPS, c_out), nn.Mish()
    )


class ResidualTemporalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, embed_dim: int, kernel: int) -> None:
        super().__init__()
        self.block1 = conv_block(c_in, c_out, kernel)
        self.block2 = conv_block(c_out, c_out, kernel)
        self.embed = nn.Sequential(nn.Mish(), nn.Linear(embed_dim, c_out))
        self.residual = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x_BCH: torch.Tensor, e_BE: torch.Tensor) -> torch.Tensor:
        out = self.block1(x_BCH) + self.embed(e_BE)[:, :, None]
        return self.block2(out) + self.residual(x_BCH)


class TemporalUnet(nn.Module):
    """``forward(x_BHC, t_B, cond_BD=None, keep_B=None) -> out_BHC`` (the denoiser's x0 or noise estimate)."""

    def __init__(
        self,
        transition_dim: int,
        dim: int = 32,
        dim_mults: tuple[int, ...] = (1, 4, 8),
        kernel_size: int = 5,
        cond_dim: int = 0,
    ) -> None:
        super().__init__()
        if dim % GROUPS or dim < GROUPS or not dim_mults:
            raise ValueError(f"dim={dim} must be a positive multiple of {GROUPS} and dim_mults non-empty")
        dims = [transition_dim, *(dim * m for m in dim_mults)]
        in_out = list(zip(dims[:-1], dims[1:]))
        self.factor = 2 ** (len(in_out) - 1)  # the horizon is padded to a multiple of this
        self.cond_dim = cond_dim
        self.time_mlp = nn.Sequential(
            SinusoidalEmbedding(dim), nn.Linear(dim, dim * 4), nn.Mish(), nn.Linear(dim * 4, dim)
        )
        embed = dim
        if cond_dim:  # Decision Diffuser's returns_mlp
            self.cond_mlp = nn.Sequential(
                nn.Linear(cond_dim, dim),
                nn.Mish(),
                nn.Linear(dim, dim * 4),
                nn.Mish(),
                nn.Linear(dim * 4, dim),
            )
            embed = 2 * dim
        last = len(in_out) - 1
        self.downs = nn.ModuleList(
            nn.ModuleList(
                [
                    ResidualTemporalBlock(c_in, c_out, embed, kernel_size),
                    ResidualTemporalBlock(c_out, c_out, embed, kernel_size),
                    nn.Conv1d(c_out, c_out, 3, 2, 1) if i < last else nn.Identity(),
                ]
            )
            for i, (c_in, c_out) in enumerate(in_out)
        )
        mid = dims[-1]
        self.mid1 = ResidualTemporalBlock(mid, mid, embed, kernel_size)
        self.mid2 = ResidualTemporalBlock(mid, mid, embed, kernel_size)
        self.ups = nn.ModuleList(
            nn.ModuleList(
                [
                    ResidualTemporalBlock(c_out * 2, c_in, embed, kernel_size),
                    ResidualTemporalBlock(c_in, c_in, embed, kernel_size),
                    nn.ConvTranspose1d(c_in, c_in, 4, 2, 1),
                ]
            )
            for c_in, c_out in reversed(in_out[1:])
        )
        self.final = nn.Sequential(
            conv_block(dims[1], dims[1], kernel_size), nn.Conv1d(dims[1], transition_dim, 1)
        )

    def forward(
        self,
        x_BHC: torch.Tensor,
        t_B: torch.Tensor,
        cond_BD: torch.Tensor | None = None,
        keep_B: torch.Tensor | None = None,
    ) -> torch.Tensor:
        H = x_BHC.shape[1]
        pad = -H % self.factor
        if pad:
            x_BHC = torch.cat([x_BHC, x_BHC[:, -1:].expand(-1, pad, -1)], dim=1)
        e_BE = self.time_mlp(t_B)
        if self.cond_dim:
            if cond_BD is None:
                raise ValueError("this U-Net is conditioned (cond_dim > 0): pass cond_BD")
            c_BE = self.cond_mlp(cond_BD)
            if keep_B is not None:
                c_BE = c_BE * keep_B[:, None]
            e_BE = torch.cat([e_BE, c_BE], dim=-1)
        x = x_BHC.transpose(1, 2)
        skips = []
        for block1, block2, down in self.downs:
            x = block2(block1(x, e_BE), e_BE)
            skips.append(x)
            x = down(x)
        x = self.mid2(self.mid1(x, e_BE), e_BE)
        for block1, block2, up in self.ups:
            x = up(block2(block1(torch.cat([x, skips.pop()], dim=1), e_BE), e_BE))
        out_BHC = self.final(x).transpose(1, 2)
        return out_BHC[:, :H] if pad else out_BHC
