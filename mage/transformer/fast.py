"""Eval-only fast path of NextScaleTransformer's cached generation (``start``/``step`` are the reference).

The planner backend ``"fast"`` (``SamplingConfig.backend``, mage/policy/planner.py) runs on it; it is kept
only because it is measured >= 1.4x faster per env step at batch 1 on CPU (bench/latency.py).

Same function, fewer and cheaper CPU ops (batch 1 is per-op-overhead bound, batch 64 FLOP bound):
- weights are used as plain tensors (no nn.Module calls); derived tensors are built at runtime, never stored
  in the state_dict, and rebuilt whenever a parameter changes (data_ptr / ``_version`` key);
- every block's and the head's AdaLN linear run as ONE matmul per plan, with the ``1 +`` of the scales folded
  into the bias;
- per-scale input bias (word_embed bias + position + level) is precomputed;
- one KV buffer per (batch size, dtype, device), allocated once and reused by every plan;
- batch 1: the AdaLN modulation rides in layer_norm's weight/bias (one op instead of two);
- GELU(tanh) as x * sigmoid(2u) (identical function): torch's tanh kernel is slow on this CPU;
- ``rows`` on the last scale: only the leading query rows are pushed through the last block and the head
  (keys/values still come from all rows), for callers that need only the first tokens' logits.
Results equal ``start``/``step`` up to float rounding (tests/test_transformer.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_GELU_C = 2.0 * math.sqrt(2.0 / math.pi)  # 0.5 x (1 + tanh u) == x * sigmoid(2u), u = sqrt(2/pi)(x + a x^3)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU(approximate="tanh") in 4 vectorised element-wise ops (torch.tanh is ~7x slower than sigmoid here)."""
    c = _GELU_C1.get((x.dtype, x.device))
    if c is None:
        c = _GELU_C1[(x.dtype, x.device)] = torch.full((1,), _GELU_C, dtype=x.dtype, device=x.device)
    t = torch.addcmul(c, x, x, value=_GELU_C * 0.044715)  # 2c'(1 + a x^2); a tensor, so no scalar wrapping
    return t.mul_(x).sigmoid_().mul_(x)


_GELU_C1: dict[tuple, torch.Tensor] = {}


@dataclass
class BlockWeights:
    qkv_w: torch.Tensor
    qkv_b: torch.Tensor
    proj_w: torch.Tensor
    proj_b: torch.Tensor
    fc1_w: torch.Tensor
    fc1_b: torch.Tensor
    fc2_w: torch.Tensor
    fc2_b: torch.Tensor


@dataclass
class FastTables:
    blocks: list[BlockWeights]
    ada_w: torch.Tensor  # (depth * 6D + 2D, D): every block's AdaLN linear, then the head's
    ada_b: torch.Tensor  # with +1 folded into the scale rows
    sos_lD: torch.Tensor  # pos_start + position + level of scale 1
    in_bias: list[torch.Tensor | None]  # (l_k, D): word_embed bias + position + level, scales 2..K
    head_w: torch.Tensor
    head_b: torch.Tensor


@dataclass
class FastState:
    """Per-plan state: AdaLN vectors (gate, scale = 1 + s, shift) per block and head, KV buffer, progress."""

    t: FastTables
    mods: list[tuple[torch.Tensor, ...]]
    head_mod: tuple[torch.Tensor, torch.Tensor]
    sos_BlD: torch.Tensor
    kv: torch.Tensor  # (depth, 2, B, heads, L, hd)
    k: int = 0
    n: int = 0


def _params_key(model: torch.nn.Module) -> tuple:
    # The Parameter objects survive load_state_dict / .to() (only their data and _version change), so the list
    # is collected once; train() drops it with the rest of the cache.
    if model._fast_params is None:
        model._fast_params = list(model.parameters())
    return tuple((p.data_ptr(), p._version, p.dtype) for p in model._fast_params)


@torch.no_grad()
def tables(model) -> FastTables:
    """Derived tensors of ``model`` (a NextScaleTransformer), cached until a parameter changes."""
    key = _params_key(model)
    if model._fast is not None and model._fast[0] == key:
        return model._fast[1]
    D = model.cfg.width
    blocks = [
        BlockWeights(
            b.attn.qkv.weight, b.attn.qkv.bias, b.attn.proj.weight, b.attn.proj.bias,
            b.mlp[0].weight, b.mlp[0].bias, b.mlp[2].weight, b.mlp[2].bias,
        )
        for b in model.blocks
    ]  # fmt: skip
    ada_w = torch.cat([b.ada[1].weight for b in model.blocks] + [model.head.ada[1].weight])
    ada_b = torch.cat([b.ada[1].bias for b in model.blocks] + [model.head.ada[1].bias]).clone()
    # Block chunks are (gate1, gate2, scale1, scale2, shift1, shift2), the head's (scale, shift).
    for i in range(len(model.blocks)):
        ada_b[(6 * i + 2) * D : (6 * i + 4) * D] += 1
    ada_b[len(model.blocks) * 6 * D : (len(model.blocks) * 6 + 1) * D] += 1
    pos_lvl_LD = model._pos_lvl()[0]
    in_bias: list[torch.Tensor | None] = [None]
    n = model.schedule[0]
    for lk in model.schedule[1:]:
        in_bias.append((pos_lvl_LD[n : n + lk] + model.word_embed.bias).contiguous())
        n += lk
    t = FastTables(
        blocks, ada_w.contiguous(), ada_b, (model.pos_start_1lD[0] + pos_lvl_LD[: model.schedule[0]]),
        in_bias, model.head.out.weight, model.head.out.bias,
    )  # fmt: skip
    model._fast = (key, t)
    return t


def _kv_buffer(model, B: int, like: torch.Tensor) -> torch.Tensor:
    """One (depth, 2, B, heads, L, hd) buffer per batch size, reused by every plan (only [:n] is ever read)."""
    key = (B, like.dtype, like.device)
    buf = model._kv_pool.get(key)
    if buf is None:
        c = model.cfg
        buf = like.new_empty(c.depth, 2, B, c.heads, model.L, c.width // c.heads)
        model._kv_pool[key] = buf
    return buf


def start(model, cond_BCc: torch.Tensor) -> FastState:
    t = tables(model)
    D, depth = model.cfg.width, model.cfg.depth
    c_BD = model.cond_emb(cond_BCc)
    a_BD = model._ada_input(c_BD)
    B = c_BD.shape[0]
    ada_BMD = F.linear(F.silu(a_BD), t.ada_w, t.ada_b).view(B, 6 * depth + 2, D)
    # Batch 1: (D,) vectors go straight into layer_norm's weight/bias; otherwise (B, 1, D) for broadcasting.
    vec = (lambda i: ada_BMD[0, i]) if B == 1 else (lambda i: ada_BMD[:, i : i + 1])
    mods = [tuple(vec(6 * i + j) for j in range(6)) for i in range(depth)]
    return FastState(
        t=t,
        mods=mods,
        head_mod=(vec(6 * depth), vec(6 * depth + 1)),
        sos_BlD=c_BD.unsqueeze(1) + t.sos_lD,
        kv=_kv_buffer(model, B, c_BD),
    )


def _mod_ln(x_BlD: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    """shift + LN(x) * scale (AdaLN; scale already holds 1 + s)."""
    D = x_BlD.shape[-1]
    if scale.dim() == 1:
        return F.layer_norm(x_BlD, (D,), scale, shift, eps)
    return torch.addcmul(shift, F.layer_norm(x_BlD, (D,), None, None, eps), scale)


def step(model, state: FastState, x_BlC: torch.Tensor | None, rows: int | None = None) -> torch.Tensor:
    """logits of the next scale, (B, l, V); ``rows``: only the first ``rows`` tokens' logits (last scale only:
    the cached keys/values of those skipped rows would be wrong for a later scale)."""
    t = state.t
    k, n = state.k, state.n
    lk = model.schedule[k]
    if rows is not None and k + 1 != len(model.schedule):
        raise ValueError("rows= truncates the last block, so it is allowed on the last scale only")
    if k == 0:
        x_BlD = state.sos_BlD
    else:
        x_BlD = torch.matmul(x_BlC, model.word_embed.weight.T).add_(t.in_bias[k])
    B = x_BlD.shape[0]
    heads, eps = model.cfg.heads, model.blocks[0].ln.eps
    hd = model.cfg.width // heads
    last = len(t.blocks) - 1
    for i, (w, mod, kv) in enumerate(zip(t.blocks, state.mods, state.kv)):
        g1, g2, s1, s2, b1, b2 = mod
        qkv = F.linear(_mod_ln(x_BlD, s1, b1, eps), w.qkv_w, w.qkv_b)
        qkv = qkv.view(B, lk, 3, heads, hd).permute(2, 0, 3, 1, 4)  # (3, B, heads, l, hd)
        kv[:, :, :, n : n + lk] = qkv[1:]
        q = qkv[0]
        if rows is not None and i == last:  # only these rows' outputs are read; keys/values need all rows
            q, x_BlD = q[:, :, :rows], x_BlD[:, :rows]
        y = F.scaled_dot_product_attention(q, kv[0, :, :, : n + lk], kv[1, :, :, : n + lk])
        y = y.transpose(1, 2).reshape(B, q.shape[2], -1)  # CPU SDPA output is (B, l, heads, hd) in memory
        x_BlD = torch.addcmul(x_BlD, F.linear(y, w.proj_w, w.proj_b), g1)
        hid = gelu_tanh(F.linear(_mod_ln(x_BlD, s2, b2, eps), w.fc1_w, w.fc1_b))
        x_BlD = torch.addcmul(x_BlD, F.linear(hid, w.fc2_w, w.fc2_b), g2)
    state.k, state.n = k + 1, n + lk
    scale, shift = state.head_mod
    return F.linear(_mod_ln(x_BlD, scale, shift, eps), t.head_w, t.head_b)
