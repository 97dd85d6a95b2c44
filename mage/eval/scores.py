"""Scores of an evaluation: the one Student-t CI (``mean_std_ci``) and the one episode summary (``summarize``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
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


def summarize(episodes: pd.DataFrame, prefix: str = "eval/") -> dict[str, float]:
    """The ``eval/*`` metrics (docs/architecture.md) of one evaluation's episode table (one row per episode,
    the columns of ``eval/episodes.parquet``). A task without a goal (locomotion) gets no success rate and no
    goal diagnostics: "0 % success" would read as a failure."""
    ns_mean, ns_std, ns_ci = mean_std_ci(episodes["norm_score"].to_numpy(dtype=np.float64))
    ret_mean, ret_std, _ = mean_std_ci(episodes["return"].to_numpy(dtype=np.float64))
    out = {
        f"{prefix}norm_score": ns_mean,
        f"{prefix}norm_score_std": ns_std,
        f"{prefix}norm_score_ci95": ns_ci,
        f"{prefix}norm_score_ours": float(episodes["norm_score_ours"].mean()),
        f"{prefix}return_mean": ret_mean,
        f"{prefix}return_std": ret_std,
        f"{prefix}length_mean": float(episodes["length"].astype(float).mean()),
        f"{prefix}episodes": float(len(episodes)),
    }
    if not _has_goal(episodes):
        return out | _target(episodes, prefix)
    out[f"{prefix}success_rate"] = float(episodes["success"].astype(float).mean())
    if "first_arrival" in episodes:
        arrived = episodes[episodes["first_arrival"] >= 0]
        nan = float("nan")
        out[f"{prefix}first_arrival_median"] = (
            float(arrived["first_arrival"].median()) if len(arrived) else nan
        )
        out[f"{prefix}dwell_mean"] = float(arrived["dwell"].mean()) if len(arrived) else nan
        # Diffusion Veteran's absorbing count: a labelled diagnostic, not comparable with published tables.
        out[f"{prefix}norm_score_absorbing"] = float(episodes["norm_score_absorbing"].mean())
    return out | _target(episodes, prefix)


def _target(episodes: pd.DataFrame, prefix: str) -> dict[str, float]:
    if "target_return" not in episodes:
        return {}
    return {f"{prefix}target_return": float(episodes["target_return"].iloc[0])}


def _has_goal(episodes: pd.DataFrame) -> bool:
    """Whether the episodes' task has a goal (its ``dataset`` column names the task; without it, assume so)."""
    if "dataset" not in episodes or not len(episodes):
        return True
    return task_has_goal(str(episodes["dataset"].iloc[0]))


def task_has_goal(task: str) -> bool:
    """Whether ``task`` (a registered task or dataset name) has a goal, so that success, arrival and dwell mean
    something; an unknown name counts as having one (its diagnostics are shown, not hidden)."""
    from mage.envs.registry import get_spec

    try:
        return get_spec(task).has_goal
    except (KeyError, ValueError):
        return True
