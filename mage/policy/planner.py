"""Next-scale planning: condition -> K cached transformer calls -> tokens -> f_hat (VAR's autoregressive
inference; the tokenizer's ``next_scale_input`` turns each scale's codes into the next scale's input).

Two named backends, chosen explicitly with ``SamplingConfig.backend`` (``MagePolicy.act`` dispatches on it,
nothing switches automatically):

- ``"reference"``: ``plan``, the transformer's ``start``/``step`` and the quantiser's ``next_scale_input``;
  works in train and eval mode.
- ``"fast"`` (default): ``plan_fast``, the same f_hat with the fast transformer path and the quantiser's
  cached matrices (mage/transformer/fast.py, ``inference_tables``), and with ``first_step_only`` (greedy)
  only what the latent action head reads, f_hat[:, :, 0]; eval only. Kept because it is measured >= 1.4x
  faster per env step at batch 1 on CPU (bench/latency.py prints the ratio; docs/results.md). Equivalence
  (same tokens, same actions for the same seed): tests/test_policy.py, tests/test_transformer.py,
  tests/test_quantizer.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from mage.tokenizer.quantizer import MultiScaleResidualVQ
from mage.transformer.model import NextScaleTransformer

Backend = Literal["fast", "reference"]
BACKENDS: tuple[str, ...] = get_args(Backend)


@dataclass(frozen=True)
class SamplingConfig:
    greedy: bool = True  # argmax tokens (deterministic plans)
    temperature: float = 1.0  # softmax temperature when sampling
    top_k: int = 0  # keep the k most likely codes when sampling (0 = all)
    backend: Backend = "fast"  # planner implementation: "fast" (plan_fast, eval only) or "reference" (plan)
    scales: int = 0  # generate the first k scales only; f_hat sums those (0 = all K; eval.plan_scales)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} must be one of {', '.join(BACKENDS)}")
        if self.scales < 0:
            raise ValueError(f"scales={self.scales} must be >= 0 (0 plans with all K scales)")

    def num_scales(self, K: int) -> int:
        """How many of a K-scale model's scales to generate."""
        if self.scales > K:
            raise ValueError(
                f"eval.plan_scales={self.scales} but the model has K = {K} scales; pass 1..{K} (0 = all)"
            )
        return self.scales or K


GREEDY = SamplingConfig()


def sample_tokens(
    logits_BlV: torch.Tensor, sampling: SamplingConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """idx_Bl from logits: greedy, or temperature / top-k sampling."""
    if sampling.greedy:
        return logits_BlV.argmax(-1)
    logits_BlV = logits_BlV / max(sampling.temperature, 1e-6)
    if 0 < sampling.top_k < logits_BlV.shape[-1]:
        kth_Bl1 = logits_BlV.topk(sampling.top_k, dim=-1).values[..., -1:]
        logits_BlV = logits_BlV.masked_fill(logits_BlV < kth_Bl1, float("-inf"))
    probs_NV = logits_BlV.softmax(-1).flatten(0, 1)
    return torch.multinomial(probs_NV, 1, generator=generator).view(logits_BlV.shape[:-1])


def plan(
    transformer: NextScaleTransformer,
    quantizer: MultiScaleResidualVQ,
    cond_BCc: torch.Tensor,
    sampling: SamplingConfig | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Generate scales 1..K (or ``sampling.scales``) coarse to fine; returns (f_hat_BCh, idx_Bl per scale)."""
    sampling = sampling or GREEDY
    state = transformer.start(cond_BCc)
    x_BlC, f_hat_BCh = None, None
    idx_list: list[torch.Tensor] = []
    for k in range(sampling.num_scales(len(transformer.schedule))):
        idx_Bl = sample_tokens(transformer.step(state, x_BlC), sampling, generator)
        f_hat_BCh, x_BlC = quantizer.next_scale_input(k, f_hat_BCh, quantizer.codebook(idx_Bl))
        idx_list.append(idx_Bl)
    return f_hat_BCh, idx_list


@torch.inference_mode()
def plan_fast(
    transformer: NextScaleTransformer,
    quantizer: MultiScaleResidualVQ,
    cond_BCc: torch.Tensor,
    sampling: SamplingConfig | None = None,
    generator: torch.Generator | None = None,
    first_step_only: bool = False,
) -> torch.Tensor:
    """``plan``'s f_hat_BCh (equal up to float rounding), or f_hat[:, :, 0] as (B, C) with ``first_step_only``.

    first_step_only with greedy decoding: on the last scale only the tokens that reach latent step 0 (via
    linear upsampling and phi's 3-tap conv) are decoded; sampling draws every token as ``plan`` does, so the
    generator stream (and so every sampled token) stays the same.
    """
    sampling = sampling or GREEDY
    tabs = quantizer.inference_tables()
    codebook_VC = quantizer.codebook.weight
    state = transformer.fast_start(cond_BCc)
    B, C, h = cond_BCc.shape[0], quantizer.code_dim, quantizer.h
    K = sampling.num_scales(quantizer.num_scales)
    f_hat_BhC, x_BlC = None, None  # time-major f_hat: the area-downsampling matmul gives (B, l, C) directly
    for k in range(K):
        tk = tabs[k]
        if first_step_only and k == K - 1:
            # only the rows that reach step 0; the transformer allows that on its own last scale only
            rows = tk.rows0 if sampling.greedy and quantizer.num_scales == K else None
            idx_Bl = sample_tokens(transformer.fast_step(state, x_BlC, rows), sampling, generator)
            z_BlC = F.embedding(idx_Bl[:, : tk.rows0], codebook_VC)
            h0_BC = torch.addmm(tk.b_C, torch.matmul(tk.G0_3l, z_BlC).view(B, 3 * C), tk.W_3CC)
            return h0_BC if f_hat_BhC is None else f_hat_BhC[:, 0] + h0_BC
        idx_Bl = sample_tokens(transformer.fast_step(state, x_BlC), sampling, generator)
        y_BhC = torch.matmul(tk.G_3hl, F.embedding(idx_Bl, codebook_VC)).view(B * h, 3 * C)
        h_BhC = torch.addmm(tk.b_C, y_BhC, tk.W_3CC).view(B, h, C)
        f_hat_BhC = h_BhC if f_hat_BhC is None else f_hat_BhC.add_(h_BhC)
        if tk.down_lh is not None:
            x_BlC = torch.matmul(tk.down_lh, f_hat_BhC)
    return f_hat_BhC.transpose(1, 2)
