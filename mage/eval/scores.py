"""Summary statistics of normalised scores: mean, std (ddof 1) and the 95 % CI half-width (Student t)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def mean_std_ci(x: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, sample std, CI half-width t_{(1+c)/2, n-1} * std / sqrt(n)); std 0 and CI NaN for n = 1."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        raise ValueError("mean_std_ci needs at least one value")
    if a.size == 1:
        return float(a[0]), 0.0, float("nan")
    std = float(a.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, a.size - 1)) * std / math.sqrt(a.size)
    return float(a.mean()), std, half


def summarize(results: Sequence[Any]) -> dict[str, float]:
    """``eval/*`` metrics (docs/architecture.md) from ``EpisodeResult``s."""
    mean, std, ci = mean_std_ci([r.norm_score for r in results])
    rets = np.array([r.ret for r in results])
    return {
        "eval/norm_score": mean,
        "eval/norm_score_std": std,
        "eval/norm_score_ci95": ci,
        "eval/norm_score_ours": float(np.mean([r.norm_score_ours for r in results])),
        "eval/return_mean": float(rets.mean()),
        "eval/return_std": float(rets.std(ddof=1)) if len(rets) > 1 else 0.0,
        "eval/success_rate": float(np.mean([r.success for r in results])),
        "eval/length_mean": float(np.mean([r.length for r in results])),
        "eval/episodes": float(len(results)),
    }
