"""Statistics and table formatting shared by the reports: mean ± CI cells, markdown, required columns.

The confidence interval itself is ``mage.eval.scores.mean_std_ci`` (the platform's one Student-t CI); the
runs come from ``mage.tracking.query``. No MLflow, no model code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mage.eval.scores import mean_std_ci
from mage.tracking.query import NoRunsError


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float, int]:
    """(mean, CI half-width, n) of the values that are not None/NaN; the half-width is NaN for n < 2 and the
    mean NaN for n = 0 (a report cell then reads '—')."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, 0
    mean, _, half = mean_std_ci(x, confidence=level)
    return mean, half, int(x.size)


def fmt_pm(mean: float, ci: float, digits: int = 1) -> str:
    """'12.3 ± 4.5', or '12.3' when the CI is undefined, or '—' when there is no value."""
    if mean is None or math.isnan(mean):
        return "—"
    if ci is None or math.isnan(ci):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Fail with one message naming every missing column (a store written with another schema)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise NoRunsError(
            f"{what}: the runs lack {', '.join(missing)} (see docs/architecture.md, MLflow layout)"
        )


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub markdown table without the optional `tabulate` dependency."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")
