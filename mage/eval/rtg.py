"""Target return R̂_0 for return-conditioned agents: a percentile of the dataset's episode returns, an
absolute value, or a multiple of the best dataset return (out-of-distribution targets)."""

from __future__ import annotations

import math

import numpy as np


def target_return(
    returns_E: np.ndarray,
    *,
    percentile: float | None = None,
    absolute: float | None = None,
    multiple_of_max: float | None = None,
) -> float:
    """Exactly one of ``percentile`` (0..100), ``absolute`` or ``multiple_of_max`` must be given."""
    given = [
        k
        for k, v in (("percentile", percentile), ("absolute", absolute), ("multiple_of_max", multiple_of_max))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of percentile, absolute, multiple_of_max (got {given or 'none'})")
    if absolute is not None:
        return float(absolute)
    r = np.asarray(returns_E, dtype=np.float64)
    if r.size == 0:
        raise ValueError("dataset episode returns are empty; cannot derive a target return")
    if percentile is not None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile={percentile} must be in [0, 100]")
        return float(np.percentile(r, percentile))
    return float(multiple_of_max * r.max())


_of_returns = target_return  # resolve_target_return's keyword shadows the name


def resolve_target_return(
    returns_E: np.ndarray | None,
    *,
    target_return: float | None = None,
    rtg_percentile: float | None = None,
) -> float | None:
    """The one R̂_0 resolver: ``target_return`` (absolute) wins, else ``rtg_percentile`` of the dataset
    episode returns; None when neither applies (agents that take no target: scripted, reward-free)."""
    if target_return is not None:
        if not math.isfinite(target_return):
            raise ValueError(f"target_return={target_return} must be a finite number")
        return float(target_return)
    if rtg_percentile is None or returns_E is None:
        return None
    return _of_returns(returns_E, percentile=rtg_percentile)
