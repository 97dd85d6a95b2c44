"""Aggregate statistics across tasks and runs: interquartile mean (IQM), mean, median and optimality gap, with
stratified-bootstrap confidence intervals (the ``rliable`` recipe, Agarwal et al., "Deep RL at the Edge of the
Statistical Precipice", NeurIPS 2021). ``rliable`` is not in our pinned set, so this is our own small version.

Scores are given per task (stratum): ``{task: [score of run 1, score of run 2, ...]}``; tasks may have different
numbers of runs. A statistic is computed on the runs of all tasks pooled (for equal run counts this is rliable's
statistic of the runs x tasks matrix). The CI resamples runs *within* each task with replacement (a task keeps
its run count in every replicate and its runs are never mixed with another task's), recomputes the statistic,
and takes the percentile interval of the replicates (rliable's default method).

IQM = the mean of the middle 50 %: ``scipy.stats.trim_mean(x, 0.25)``, i.e. drop ``floor(n / 4)`` values at
each end (rliable uses the same function). Optimality gap = mean of ``max(gamma - x, 0)`` (gamma = 100, the
expert reference of normalised scores). No MLflow, no model code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Statistic = Callable[[np.ndarray, int], np.ndarray]  # (values, axis) -> the statistic along that axis
DEFAULT_REPS = 2000
MAX_CHUNK = 2_000_000  # values resampled at once (reps x runs), to bound memory


def trimmed_mean(x: np.ndarray, axis: int = -1, proportion: float = 0.25) -> np.ndarray:
    """Mean after dropping ``floor(proportion * n)`` values at each end along ``axis`` (scipy's trim_mean)."""
    x = np.sort(np.asarray(x, dtype=float), axis=axis)
    n = x.shape[axis]
    k = int(proportion * n)
    return np.take(x, np.arange(k, n - k), axis=axis).mean(axis=axis)


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the trimmed mean with 25 % cut at each end."""
    return trimmed_mean(x, axis, 0.25)


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def optimality_gap(x: np.ndarray, axis: int = -1, gamma: float = 100.0) -> np.ndarray:
    """Mean shortfall from ``gamma`` (scores above it count as 0): lower is better."""
    return np.mean(np.maximum(gamma - np.asarray(x, dtype=float), 0.0), axis=axis)


STATISTICS: dict[str, Statistic] = {
    "iqm": iqm,
    "mean": mean,
    "median": median,
    "optimality_gap": optimality_gap,
}


@dataclass(frozen=True)
class Interval:
    """A point estimate with its stratified-bootstrap percentile CI."""

    statistic: str
    point: float
    lo: float
    hi: float
    level: float
    reps: int
    n_tasks: int
    n_runs: int  # all runs, pooled over the tasks

    @property
    def half_width(self) -> float:
        """The larger distance from the point to an end (the CI need not be symmetric)."""
        return max(self.point - self.lo, self.hi - self.point)

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi


def _strata(scores: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """The scores as float arrays, checked: at least one task, each with >= 1 finite score."""
    if not isinstance(scores, Mapping):
        raise TypeError(f"scores must map task -> run scores, got {type(scores).__name__}")
    if not scores:
        raise ValueError("no tasks: the scores mapping is empty")
    out = {}
    for task, values in scores.items():
        x = np.asarray(values, dtype=float).ravel()
        if x.size == 0:
            raise ValueError(f"task {task!r} has no runs")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"task {task!r} has non-finite scores (NaN/inf): drop or fix those runs first")
        out[str(task)] = x
    return out


def _statistic(statistic: str | Statistic) -> tuple[str, Statistic]:
    if callable(statistic):
        return getattr(statistic, "__name__", "custom"), statistic
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose from {', '.join(STATISTICS)}")
    return statistic, STATISTICS[statistic]


def bootstrap_replicates(
    scores: Mapping[str, Sequence[float]],
    statistic: str | Statistic = "iqm",
    *,
    reps: int = DEFAULT_REPS,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """``reps`` values of the statistic, each on one stratified resample: every task's runs are drawn with
    replacement from that task only, keeping its run count."""
    strata = _strata(scores)
    _, fn = _statistic(statistic)
    if int(reps) < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n_runs = sum(x.size for x in strata.values())
    chunk = max(1, MAX_CHUNK // n_runs)
    out = []
    for start in range(0, int(reps), chunk):
        r = min(chunk, int(reps) - start)
        parts = [x[rng.integers(0, x.size, size=(r, x.size))] for x in strata.values()]
        out.append(np.asarray(fn(np.concatenate(parts, axis=1), 1), dtype=float))
    return np.concatenate(out)


def stratified_bootstrap_ci(
    scores: Mapping[str, Sequence[float]],
    statistic: str | Statistic = "iqm",
    *,
    level: float = 0.95,
    reps: int = DEFAULT_REPS,
    seed: int | np.random.Generator = 0,
) -> Interval:
    """The statistic of the pooled runs and its stratified-bootstrap percentile CI at ``level``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    strata = _strata(scores)
    name, fn = _statistic(statistic)
    pooled = np.concatenate(list(strata.values()))
    point = float(fn(pooled[None, :], 1)[0])
    reps_ = bootstrap_replicates(strata, fn, reps=reps, seed=seed)
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(reps_, [alpha, 1.0 - alpha])
    return Interval(name, point, float(lo), float(hi), level, int(reps), len(strata), int(pooled.size))


def aggregate(
    scores: Mapping[str, Sequence[float]],
    statistics: Sequence[str] = tuple(STATISTICS),
    *,
    level: float = 0.95,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
) -> dict[str, Interval]:
    """Every named statistic with its CI (each from the same seed: the same resamples)."""
    return {s: stratified_bootstrap_ci(scores, s, level=level, reps=reps, seed=seed) for s in statistics}


def fmt_interval(iv: Interval | None, digits: int = 1) -> str:
    """'12.3 [8.1, 15.0]' (the CI need not be symmetric), '12.3' for a single run, '—' for none."""
    if iv is None or math.isnan(iv.point):
        return "—"
    if iv.n_runs < 2:
        return f"{iv.point:.{digits}f}"
    return f"{iv.point:.{digits}f} [{iv.lo:.{digits}f}, {iv.hi:.{digits}f}]"
