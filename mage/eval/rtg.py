"""Target return R̂_0 for return-conditioned agents: a percentile of the dataset's episode returns, an
absolute value, or a multiple of the best dataset return (out-of-distribution targets)."""

from __future__ import annotations

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


def target_return_from_config(eval_cfg: object, returns_E: np.ndarray) -> float:
    """``EvalConfig``: ``target_return`` (absolute) overrides ``rtg_percentile``."""
    absolute = getattr(eval_cfg, "target_return", None)
    if absolute is not None:
        return target_return(returns_E, absolute=absolute)
    pct = getattr(eval_cfg, "rtg_percentile", None)
    if pct is None:
        raise ValueError("eval.target_return and eval.rtg_percentile are both None; set one of them")
    return target_return(returns_E, percentile=pct)
