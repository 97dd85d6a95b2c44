"""NextScaleTransformer: p(m_1..m_K | c) = prod_k p(m_k | m_<k, c) with c = (R_0, s_0[, goal]).

Token layout (VAR): scale 1 is l_1 start tokens = cond embedding + ``pos_start``; scale k+1's inputs are the
word-embedded, area-downsampled f_hat accumulated over scales <= k. Every token adds its level and position
embedding. The condition also modulates every block (and the head) through AdaLN, per token:

- ``rtg_scales="all"`` (MAGE): every token's AdaLN sees c = (R, s[, goal]).
- ``rtg_scales="first"`` (paper ablation "w/o RTG in m_{k>1}"): tokens of scale 1 (the start tokens) see c;
  tokens of scales > 1 see c with R replaced by a learned null value ``rtg_null`` (s and goal kept). They
  still attend to the scale-1 tokens (block-causal mask), so R reaches them only through the first scale.
- ``cond_every_scale=False`` (extra ablation row ``no_adaln_condition``): the blocks get a learned
  unconditional vector, so no token's AdaLN sees c (neither R nor s); only the start tokens' content does.

The condition's layout is ``mage.tokenizer.vqvae.make_cond``'s (R, s[, goal]): R is column ``RTG_COL`` = 0.

Training: ``forward(cond, x_BLC)`` -> logits for all L tokens (block-causal mask, one pass).
Inference: ``start(cond)`` once, then ``step(state, x_BlC)`` per scale with a KV cache. ``fast_start`` /
``fast_step`` (mage/transformer/fast.py) are the same computation with fewer CPU ops, eval only: the planner's
``"fast"`` backend (``SamplingConfig.backend``), chosen explicitly.
Imports nothing from the tokenizer: the planner feeds code-space inputs x_BlC in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mage.config import TransformerConfig
from mage.transformer import fast
from mage.transformer.blocks import AdaLNBlock, AdaLNHead, KVCache
from mage.transformer.masks import block_causal_mask, level_ids

RTG_COL = 0  # R's column in the condition (R, s[, goal]) (mage.tokenizer.vqvae.make_cond)
RTG_NULL_INIT = -1.0  # the null R's initial value: outside the normalised RTG range [0, 1] of the data


@dataclass
class GenerationState:
    """Everything that depends only on the condition, computed once per plan, plus the KV caches."""

    mods: list[tuple[torch.Tensor, ...]]  # per-block AdaLN modulation
    head_mod: tuple[torch.Tensor, ...]
    sos_BlD: torch.Tensor  # scale-1 inputs (already with position/level embeddings)
    pos_lvl_1LD: torch.Tensor
    caches: list[KVCache]
    k: int = 0  # next scale to generate
    n: int = 0  # tokens generated so far
    mods_later: list[tuple[torch.Tensor, ...]] | None = None  # rtg_scales="first": AdaLN of scales > 1
    head_mod_later: tuple[torch.Tensor, ...] | None = None


@dataclass
class RtgMaskedFastState(fast.FastState):
    """``fast.FastState`` plus the AdaLN vectors of scales > 1 (R masked) for ``rtg_scales="first"``."""

    mods_later: list[tuple[torch.Tensor, ...]] | None = None
    head_mod_later: tuple[torch.Tensor, torch.Tensor] | None = None


class NextScaleTransformer(nn.Module):
    def __init__(
        self, cfg: TransformerConfig, schedule: Sequence[int], code_dim: int, vocab_size: int, cond_dim: int
    ):
        super().__init__()
        self.cfg, self.schedule = cfg, tuple(schedule)
        self.L, self.vocab_size = sum(self.schedule), vocab_size
        D = cfg.width
        self.cond_emb = nn.Sequential(nn.Linear(cond_dim, D), nn.SiLU(), nn.Linear(D, D))
        self.uncond_1D = None if cfg.cond_every_scale else nn.Parameter(torch.zeros(1, D))
        if cfg.rtg_scales not in ("all", "first"):
            raise ValueError(f"transformer.rtg_scales={cfg.rtg_scales!r} must be 'all' or 'first'")
        if cfg.rtg_scales == "first" and not cfg.cond_every_scale:
            raise ValueError(
                "transformer.rtg_scales='first' needs cond_every_scale=True (an AdaLN condition)"
            )
        # A learned null R rather than R = 0: a normalised R of 0 is real data (nothing left to collect), and
        # cond_emb is shared with the scale-1 tokens, which must keep telling the two apart.
        self.rtg_null = nn.Parameter(torch.full((1,), RTG_NULL_INIT)) if cfg.rtg_scales == "first" else None
        self.word_embed = nn.Linear(code_dim, D)
        self.pos_start_1lD = nn.Parameter(torch.randn(1, self.schedule[0], D) * 0.02)
        self.pos_1LD = nn.Parameter(torch.randn(1, self.L, D) * 0.02)
        self.lvl_embed = nn.Embedding(len(self.schedule), D)
        nn.init.normal_(self.lvl_embed.weight, std=0.02)
        dpr = [cfg.drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(AdaLNBlock(D, cfg.heads, cfg.mlp_ratio, cfg.dropout, p) for p in dpr)
        self.head = AdaLNHead(D, vocab_size)
        self.register_buffer("lvl_L", level_ids(self.schedule), persistent=False)
        self.register_buffer("allowed_LL", block_causal_mask(self.schedule), persistent=False)
        # Runtime-only inference caches (never in the state_dict): derived weights, KV buffers per batch size.
        self._fast: tuple[tuple, fast.FastTables] | None = None
        self._fast_params: list[nn.Parameter] | None = None
        self._kv_pool: dict[tuple, torch.Tensor] = {}

    def train(self, mode: bool = True) -> NextScaleTransformer:
        self._fast, self._fast_params, self._kv_pool = None, None, {}
        return super().train(mode)

    def _ada_input(self, c_BD: torch.Tensor) -> torch.Tensor:
        return c_BD if self.uncond_1D is None else self.uncond_1D.expand_as(c_BD)

    def rtg_masked(self, cond_BCc: torch.Tensor) -> torch.Tensor:
        """The condition of scales > 1 under ``rtg_scales="first"``: R replaced by ``rtg_null``."""
        null_B1 = self.rtg_null.to(cond_BCc.dtype).expand(cond_BCc.shape[0], 1)
        return torch.cat([cond_BCc[:, :RTG_COL], null_B1, cond_BCc[:, RTG_COL + 1 :]], dim=-1)

    def _later_ada_input(self, cond_BCc: torch.Tensor) -> torch.Tensor | None:
        """AdaLN input of the tokens of scales > 1 when it differs from scale 1's (rtg_scales="first")."""
        return None if self.rtg_null is None else self.cond_emb(self.rtg_masked(cond_BCc))

    def _pos_lvl(self) -> torch.Tensor:
        return self.pos_1LD + self.lvl_embed(self.lvl_L).unsqueeze(0)

    def forward(self, cond_BCc: torch.Tensor, x_BLC: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits_BLV; x_BLC holds the inputs of scales 2..K (L - l_1 tokens)."""
        c_BD = self.cond_emb(cond_BCc)
        a_BD = self._ada_input(c_BD)
        a_later_BD = self._later_ada_input(cond_BCc)
        sos_BlD = c_BD.unsqueeze(1) + self.pos_start_1lD
        x_BLD = torch.cat([sos_BlD, self.word_embed(x_BLC)], dim=1) + self._pos_lvl()

        def mod(m: nn.Module) -> tuple[torch.Tensor, ...]:
            """m's AdaLN vectors: (B, 1, D) shared by all tokens, or (B, L, D) per token (scale 1 | later)."""
            if a_later_BD is None:
                return m.modulation(a_BD)
            l1, rest = self.schedule[0], self.L - self.schedule[0]
            return tuple(
                torch.cat([v1.expand(-1, l1, -1), v2.expand(-1, rest, -1)], dim=1)
                for v1, v2 in zip(m.modulation(a_BD), m.modulation(a_later_BD))
            )

        for blk in self.blocks:
            x_BLD = blk(x_BLD, mod(blk), self.allowed_LL)
        return self.head(x_BLD, mod(self.head))

    def start(self, cond_BCc: torch.Tensor) -> GenerationState:
        """Inference: condition-only work, once per plan (not once per scale)."""
        c_BD = self.cond_emb(cond_BCc)
        a_BD = self._ada_input(c_BD)
        a_later_BD = self._later_ada_input(cond_BCc)
        pos_lvl_1LD = self._pos_lvl()
        B, l1 = c_BD.shape[0], self.schedule[0]
        hd = self.cfg.width // self.cfg.heads
        return GenerationState(
            mods=[blk.modulation(a_BD) for blk in self.blocks],
            head_mod=self.head.modulation(a_BD),
            sos_BlD=c_BD.unsqueeze(1) + self.pos_start_1lD + pos_lvl_1LD[:, :l1],
            pos_lvl_1LD=pos_lvl_1LD,
            caches=[KVCache(B, self.cfg.heads, self.L, hd, c_BD) for _ in self.blocks],
            mods_later=None if a_later_BD is None else [blk.modulation(a_later_BD) for blk in self.blocks],
            head_mod_later=None if a_later_BD is None else self.head.modulation(a_later_BD),
        )

    def step(self, state: GenerationState, x_BlC: torch.Tensor | None) -> torch.Tensor:
        """Inference: logits_BlV of the next scale; x_BlC is its code-space input (None for scale 1)."""
        k, n = state.k, state.n
        lk = self.schedule[k]
        mods, head_mod = state.mods, state.head_mod
        if k == 0:
            x_BlD = state.sos_BlD
        else:
            x_BlD = self.word_embed(x_BlC) + state.pos_lvl_1LD[:, n : n + lk]
            if state.mods_later is not None:
                mods, head_mod = state.mods_later, state.head_mod_later
        for blk, mod, cache in zip(self.blocks, mods, state.caches):
            x_BlD = blk(x_BlD, mod, None, cache)
        state.k, state.n = k + 1, n + lk
        return self.head(x_BlD, head_mod)

    def fast_start(self, cond_BCc: torch.Tensor) -> fast.FastState:
        """``start`` for the fast path (eval, no autograd): see mage/transformer/fast.py. With
        ``rtg_scales="first"`` the AdaLN vectors of scales > 1 come from a second ``fast.start`` on the
        R-masked condition (it shares the pooled KV buffer; only its modulation is kept)."""
        state = fast.start(self, cond_BCc)
        if self.rtg_null is None:
            return state
        later = fast.start(self, self.rtg_masked(cond_BCc))
        fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
        return RtgMaskedFastState(**fields, mods_later=later.mods, head_mod_later=later.head_mod)

    def fast_step(
        self, state: fast.FastState, x_BlC: torch.Tensor | None, rows: int | None = None
    ) -> torch.Tensor:
        """``step`` for the fast path; ``rows`` (last scale only) limits the output to the first rows' logits."""
        if state.k > 0 and isinstance(state, RtgMaskedFastState):
            state.mods, state.head_mod = state.mods_later, state.head_mod_later
        return fast.step(self, state, x_BlC, rows)
