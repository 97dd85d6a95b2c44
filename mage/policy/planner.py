"""Next-scale planning: condition -> K cached transformer calls -> tokens -> f_hat (VAR's autoregressive
inference; the tokenizer's ``next_scale_input`` turns each scale's codes into the next scale's input)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mage.tokenizer.quantizer import MultiScaleResidualVQ
from mage.transformer.model import NextScaleTransformer


@dataclass(frozen=True)
class SamplingConfig:
    greedy: bool = True  # argmax tokens (deterministic plans)
    temperature: float = 1.0  # softmax temperature when sampling
    top_k: int = 0  # keep the k most likely codes when sampling (0 = all)


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
    """Generate scales 1..K coarse to fine; returns (f_hat_BCh, idx_Bl per scale)."""
    sampling = sampling or GREEDY
    state = transformer.start(cond_BCc)
    x_BlC, f_hat_BCh = None, None
    idx_list: list[torch.Tensor] = []
    for k in range(len(transformer.schedule)):
        idx_Bl = sample_tokens(transformer.step(state, x_BlC), sampling, generator)
        f_hat_BCh, x_BlC = quantizer.next_scale_input(k, f_hat_BCh, quantizer.codebook(idx_Bl))
        idx_list.append(idx_Bl)
    return f_hat_BCh, idx_list
