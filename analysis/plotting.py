"""Shared matplotlib helpers of the reports: headless backend, readable defaults, grids, CI bands, saving."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and clusters have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mage.tracking.store import project_root  # noqa: E402

SCORE_LABEL = "normalised score (D4RL refs, 100 = expert)"
DPI = 120

plt.rcParams.update(
    {
        "figure.dpi": DPI,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
    }
)


def default_out(name: str) -> Path:
    return project_root() / "analysis" / "out" / name


def subplots_grid(
    n: int, *, width: float = 4.6, height: float = 3.6, max_cols: int = 3
) -> tuple[Any, list[Any]]:
    cols = min(max(n, 1), max_cols)
    rows = math.ceil(max(n, 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def line_with_band(
    ax: Any,
    x: Sequence[float],
    mean: Sequence[float],
    ci: Sequence[float],
    *,
    label: str,
    marker: str = "o",
    color: Any = None,
) -> Any:
    """Mean line with a shaded 95 % CI band (the band is skipped where the CI is undefined)."""
    x_ = np.asarray(x, float)
    m = np.asarray(mean, float)
    c = np.asarray(ci, float)
    (line,) = ax.plot(x_, m, marker=marker, label=label, color=color, lw=1.6, ms=5)
    ok = np.isfinite(c)
    if ok.any():
        ax.fill_between(x_[ok], (m - c)[ok], (m + c)[ok], color=line.get_color(), alpha=0.2, lw=0)
    return line


def save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
