"""1-D temporal conv ResNet encoder/decoder over windows ``x_BHCi``, and the condition adapters D'.

The decoder's adapters are FiLM layers (zero-initialised, so they start as identity) driven by an embedding
of the condition (R_0, s_0); they are the parameter-efficient "condition-guided decoder" D'(Z, R_0, s_0).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, ch), ch)


class CondAdapter(nn.Module):
    """FiLM adapter: h * (1 + scale(c)) + shift(c); zero-init so D' = D before training."""

    def __init__(self, cond_width: int, ch: int):
        super().__init__()
        self.proj = nn.Linear(cond_width, 2 * ch)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h_BCH: torch.Tensor, c_BW: torch.Tensor) -> torch.Tensor:
        scale_BC, shift_BC = self.proj(c_BW).unsqueeze(-1).chunk(2, dim=1)
        return h_BCH * (1 + scale_BC) + shift_BC


class ResBlock(nn.Module):
    def __init__(self, ch: int, cond_width: int = 0):
        super().__init__()
        self.norm1, self.conv1 = _norm(ch), nn.Conv1d(ch, ch, 3, padding=1)
        self.norm2, self.conv2 = _norm(ch), nn.Conv1d(ch, ch, 3, padding=1)
        self.act = nn.SiLU()
        self.adapter = CondAdapter(cond_width, ch) if cond_width else None

    def forward(self, x_BCH: torch.Tensor, c_BW: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x_BCH)))
        h = self.norm2(h)
        if self.adapter is not None:
            h = self.adapter(h, c_BW)
        return x_BCH + self.conv2(self.act(h))


class Encoder(nn.Module):
    """x_BHCi -> f_BCh with h = H / downsample (stride-2 convs)."""

    def __init__(self, in_ch: int, hidden: int, code_dim: int, downsample: int, num_res_blocks: int):
        super().__init__()
        self.conv_in = nn.Conv1d(in_ch, hidden, 3, padding=1)
        layers: list[nn.Module] = []
        for _ in range(int(math.log2(downsample))):
            layers += [ResBlock(hidden) for _ in range(num_res_blocks)]
            layers.append(nn.Conv1d(hidden, hidden, 4, stride=2, padding=1))
        layers += [ResBlock(hidden) for _ in range(num_res_blocks)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Sequential(_norm(hidden), nn.SiLU(), nn.Conv1d(hidden, code_dim, 1))

    def forward(self, x_BHCi: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(self.conv_in(x_BHCi.transpose(1, 2))))


class Decoder(nn.Module):
    """f_hat_BCh (+ condition embedding for the adapters D') -> x_BHCi."""

    def __init__(
        self, out_ch: int, hidden: int, code_dim: int, downsample: int, num_res_blocks: int, cond_width: int
    ):
        super().__init__()
        self.conv_in = nn.Conv1d(code_dim, hidden, 3, padding=1)
        self.blocks = nn.ModuleList()
        n_up = int(math.log2(downsample))
        for i in range(n_up + 1):
            self.blocks.extend(ResBlock(hidden, cond_width) for _ in range(num_res_blocks))
            if i < n_up:
                self.blocks.append(
                    nn.Sequential(
                        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(hidden, hidden, 3, padding=1)
                    )
                )
        self.out = nn.Sequential(_norm(hidden), nn.SiLU(), nn.Conv1d(hidden, out_ch, 3, padding=1))

    def forward(self, f_BCh: torch.Tensor, c_BW: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv_in(f_BCh)
        for blk in self.blocks:
            h = blk(h, c_BW) if isinstance(blk, ResBlock) else blk(h)
        return self.out(h).transpose(1, 2)
