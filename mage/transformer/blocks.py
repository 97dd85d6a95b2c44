"""Transformer blocks: SDPA self-attention with an optional per-layer KV cache, MLP, AdaLN modulation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Pre-allocated keys/values of one layer, (B, nh, L, hd); ``n`` tokens filled so far."""

    def __init__(self, B: int, heads: int, L: int, head_dim: int, like: torch.Tensor):
        self.k = like.new_empty(B, heads, L, head_dim)
        self.v = like.new_empty(B, heads, L, head_dim)
        self.n = 0


class DropPath(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty(x.shape[0], *([1] * (x.dim() - 1))).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, width // heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(
        self, x_BLD: torch.Tensor, allowed_LL: torch.Tensor | None, cache: KVCache | None
    ) -> torch.Tensor:
        B, L, D = x_BLD.shape
        q, k, v = (
            self.qkv(x_BLD).view(B, L, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        )  # (B, nh, L, hd)
        if cache is not None:
            # A new scale sees every cached (coarser) token and all of its own tokens: no mask needed.
            n = cache.n
            cache.k[:, :, n : n + L] = k
            cache.v[:, :, n : n + L] = v
            cache.n = n + L
            k, v = cache.k[:, :, : n + L], cache.v[:, :, : n + L]
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed_LL, dropout_p=drop)  # (B, nh, L, hd)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class MLP(nn.Sequential):
    def __init__(self, width: int, ratio: float, dropout: float):
        hidden = round(width * ratio)
        super().__init__(
            nn.Linear(width, hidden),
            nn.GELU(approximate="tanh"),
            nn.Linear(hidden, width),
            nn.Dropout(dropout),
        )


class AdaLNBlock(nn.Module):
    """Pre-norm block whose LayerNorms are modulated by the condition (adaLN-Zero: starts as identity)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float, drop_path: float):
        super().__init__()
        self.ln = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(width, heads, dropout)
        self.mlp = MLP(width, mlp_ratio, dropout)
        self.drop_path = DropPath(drop_path)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def modulation(self, c_BD: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(gamma1, gamma2, scale1, scale2, shift1, shift2), each (B, 1, D); computed once per condition."""
        return self.ada(c_BD).unsqueeze(1).chunk(6, dim=-1)

    def forward(
        self,
        x_BLD: torch.Tensor,
        mod: tuple[torch.Tensor, ...],
        allowed_LL: torch.Tensor | None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        g1, g2, s1, s2, b1, b2 = mod
        x_BLD = x_BLD + self.drop_path(
            self.attn(torch.addcmul(b1, self.ln(x_BLD), 1 + s1), allowed_LL, cache) * g1
        )
        return x_BLD + self.drop_path(self.mlp(torch.addcmul(b2, self.ln(x_BLD), 1 + s2)) * g2)


class AdaLNHead(nn.Module):
    """AdaLN before the output head (VAR's ``AdaLNBeforeHead``) + linear to V logits."""

    def __init__(self, width: int, vocab_size: int):
        super().__init__()
        self.ln = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, vocab_size)

    def modulation(self, c_BD: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.ada(c_BD).unsqueeze(1).chunk(2, dim=-1)

    def forward(self, x_BLD: torch.Tensor, mod: tuple[torch.Tensor, ...]) -> torch.Tensor:
        scale, shift = mod
        return self.out(torch.addcmul(shift, self.ln(x_BLD), 1 + scale))
