"""Statistics and table formatting shared by the reports: mean ± CI cells, markdown, required columns, and
the evaluation protocol and goal diagnostics every row carries.

The confidence interval itself is ``mage.eval.scores.mean_std_ci`` (the platform's one Student-t CI); the
runs come from ``mage.tracking.query``. No MLflow, no model code.

Protocol (docs/protocol.md): every table row says its information track (``R``: reward only, ``G``: goal
given) and its switches (``own`` action or state ``track``ing, ``+ hold``), in the columns ``track`` (str),
``acting`` (str), ``hold`` (bool), ``switches`` and ``protocol`` (``G / track + hold``, the label
``mage.eval.protocol.EvalProtocol.label`` writes). The reader gives the tags as strings, missing ones as None;
``with_protocol`` fills runs without them with the only protocol there was before the tags: R / own, no hold.
Rows of different protocols are never averaged together: group by ``PROTOCOL_KEYS`` too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mage.eval.scores import mean_std_ci, task_has_goal
from mage.tracking.query import NoRunsError


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float, int]:
    """(mean, CI half-width, n) of the values that are not None/NaN; the half-width is NaN for n < 2 and the
    mean NaN for n = 0 (a report cell then reads '—')."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, 0
    mean, _, half = mean_std_ci(x, confidence=level)
    return mean, half, int(x.size)


def run_k(runs: pd.DataFrame) -> pd.Series:
    """Each run's hierarchy depth K: its ``mage.K`` tag (evaluations), else its ``tokenizer.num_scales`` param
    (trainings); <NA> where neither is recorded."""
    k = pd.to_numeric(runs["K"], errors="coerce").astype("Float64")
    if "params.tokenizer.num_scales" in runs:
        k = k.fillna(pd.to_numeric(runs["params.tokenizer.num_scales"], errors="coerce").astype("Float64"))
    return k


def paired_difference(a_by_seed: pd.Series, b_by_seed: pd.Series, a: str, b: str) -> dict[str, Any]:
    """``a - b`` on the seeds both have (series indexed by seed): ``diff_mean``, ``diff_ci95`` (Student t over
    those seeds), ``n_seeds`` and a ``verdict`` that says whether the difference clears its CI. Pairing by
    seed removes what a seed does to both (same data split, same env seeds)."""
    mean, ci, n = mean_ci((a_by_seed - b_by_seed).dropna())
    if n == 0:
        verdict = "no common seed"
    elif n < 2:
        verdict = "one seed: no CI"
    elif mean - ci > 0:
        verdict = f"{a} higher beyond the CI"
    elif mean + ci < 0:
        verdict = f"{b} higher beyond the CI"
    else:
        verdict = "within the CI"
    return {"diff_mean": mean, "diff_ci95": ci, "n_seeds": n, "verdict": verdict}


def paired_markdown(lead: dict[str, Any], diff: pd.DataFrame, what: str = "difference") -> str:
    """A table of ``paired_difference`` rows: the ``lead`` columns, then ``<what> (95% CI, paired by seed)``,
    the seeds and the verdict."""
    cells = [fmt_pm(m, c) for m, c in zip(diff["diff_mean"], diff["diff_ci95"])]
    shown = {**lead, f"{what} (95% CI, paired by seed)": cells, "seeds": diff["n_seeds"]}
    return to_markdown(pd.DataFrame({**shown, "verdict": diff["verdict"]}))


# The protocol of a run without the tags (before they were recorded there was only this one).
PROTOCOL_DEFAULTS: dict[str, Any] = {"track": "R", "acting": "own", "hold": False}
PROTOCOL_KEYS = ["track", "acting", "hold"]

# Goal diagnostics of an evaluation (mage.eval.rollout; docs/protocol.md): table column -> (run metric, how the
# runs of a row are combined). The absorbing score is Diffusion Veteran's count: never comparable with the
# published tables, so its header says so.
DIAGNOSTICS: dict[str, tuple[str, str]] = {
    "success_rate": ("metrics.eval/success_rate", "mean"),
    "first_arrival_median": ("metrics.eval/first_arrival_median", "median"),
    "dwell_mean": ("metrics.eval/dwell_mean", "mean"),
    "norm_score_absorbing": ("metrics.eval/norm_score_absorbing", "mean"),
}
DIAGNOSTIC_TITLES = {
    "success_rate": "success",
    "first_arrival_median": "first arrival (median step)",
    "dwell_mean": "dwell (mean)",
    "norm_score_absorbing": "absorbing (diag., not comparable)",
}
DIAGNOSTICS_NOTE = (
    "Diagnostics: success = share of episodes that came within 0.5 of the goal; first arrival = 1-based step of "
    "the first arrival (median over arrived episodes; over several runs, the median of the runs' medians); "
    "dwell = share of the steps from the first arrival to the end spent at the goal (mean over arrived "
    "episodes); absorbing = Diffusion Veteran's count (every step after the first arrival scores), a labelled "
    "diagnostic NOT comparable with published tables. — = not recorded (runs older than the diagnostics)."
)


def switches(acting: str, hold: bool) -> str:
    """``own``, ``track``, ``own + hold``, ``track + hold``."""
    return f"{acting}{' + hold' if hold else ''}"


def protocol_label(track: str, acting: str, hold: bool) -> str:
    """``R / own``, ``G / track + hold``, ...: the same text as ``EvalProtocol.label``."""
    return f"{track} / {switches(acting, hold)}"


def _as_bool(v: Any) -> bool | None:
    """A hold value as read back: bool from a parquet column, 'true'/'false' from an MLflow tag."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    text = str(v).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"unreadable protocol hold value {v!r} (expected true/false)")


def with_protocol(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of run (or episode) rows with ``track``, ``acting``, ``hold`` (bool), ``switches`` and ``protocol``
    filled in: from the reader's short columns, else the raw ``tags.mage.*`` columns (a table cached before the
    short columns), else the old default R / own / no hold."""
    out = df.copy()
    for col, default in PROTOCOL_DEFAULTS.items():
        s = out[col].astype(object) if col in out else pd.Series(None, index=out.index, dtype=object)
        raw = f"tags.mage.{col}"
        if raw in out:
            s = s.where(s.notna(), out[raw].astype(object))
        if col == "hold":
            out[col] = [default if b is None else b for b in map(_as_bool, s)]
            out[col] = out[col].astype(bool)
        else:
            out[col] = s.where(s.notna(), default).astype(str)
    out["switches"] = [switches(a, h) for a, h in zip(out["acting"], out["hold"])]
    out["protocol"] = [protocol_label(t, a, h) for t, a, h in zip(out["track"], out["acting"], out["hold"])]
    return out


EPISODE_CI_MARK = "ᵉ"  # a cell of one seed whose ± is the 95 % CI over that seed's episodes


def protocol_cell(
    g: pd.DataFrame, proto: Iterable[object], score: str = "metrics.eval/norm_score", episode_ci: bool = False
) -> dict:
    """One measured cell of a group of runs (one row × dataset × protocol, as :func:`with_protocol` labels them):
    the protocol keys, ``switches``, ``protocol``, ``mean``, ``ci95`` (Student-t over runs), ``n``, the median
    ``episodes`` per run and ``ci_over`` ("seeds"). With ``episode_ci`` a single run's ``ci95`` is its own
    ``<score>_ci95`` (the CI over its episodes) and ``ci_over`` says "episodes"."""
    mean, ci, n = mean_ci(g[score])
    over = "seeds"
    if episode_ci and n == 1 and f"{score}_ci95" in g:
        own = float(pd.to_numeric(g[f"{score}_ci95"], errors="coerce").iloc[0])
        ci, over = (own, "episodes") if math.isfinite(own) else (ci, over)
    eps = g["metrics.eval/episodes"].dropna() if "metrics.eval/episodes" in g else pd.Series(dtype=float)
    return {
        **dict(zip(PROTOCOL_KEYS, proto)),
        "switches": g["switches"].iloc[0],
        "protocol": g["protocol"].iloc[0],
        "mean": mean,
        "ci95": ci,
        "n": n,
        "episodes": int(eps.median()) if len(eps) else None,
        "ci_over": over,
    }


def run_diagnostics(runs: pd.DataFrame) -> dict[str, float]:
    """The goal diagnostics of a group of runs from their ``eval/*`` metrics (NaN where none has them, and for
    runs of goal-less tasks, e.g. Hopper, whose older runs logged a success rate of 0)."""
    tasks = runs["dataset"].dropna().astype(str).unique() if "dataset" in runs else []
    if len(tasks) and not any(task_has_goal(t) for t in tasks):
        return dict.fromkeys(DIAGNOSTICS, math.nan)
    out = {}
    for col, (metric, how) in DIAGNOSTICS.items():
        x = (
            pd.to_numeric(runs[metric], errors="coerce").dropna()
            if metric in runs
            else pd.Series(dtype=float)
        )
        out[col] = float(getattr(x, how)()) if len(x) else math.nan
    return out


def episode_diagnostics(episodes: pd.DataFrame) -> dict[str, float]:
    """The goal diagnostics pooled over episode rows (``eval/episodes.parquet`` columns; NaN where absent)."""
    nan = math.nan
    out = dict.fromkeys(DIAGNOSTICS, nan)
    if len(episodes) == 0:
        return out
    if "success" in episodes:
        ok = episodes["success"].dropna()
        out["success_rate"] = float(ok.astype(float).mean()) if len(ok) else nan
    if "first_arrival" in episodes:
        first = pd.to_numeric(episodes["first_arrival"], errors="coerce")
        arrived = episodes[first >= 0]
        out["first_arrival_median"] = float(first[first >= 0].median()) if len(arrived) else nan
        if "dwell" in episodes and len(arrived):
            out["dwell_mean"] = float(pd.to_numeric(arrived["dwell"], errors="coerce").mean())
    if "norm_score_absorbing" in episodes:
        ab = pd.to_numeric(episodes["norm_score_absorbing"], errors="coerce").dropna()
        out["norm_score_absorbing"] = float(ab.mean()) if len(ab) else nan
    return out


def fmt_diagnostic(column: str, value: Any) -> str:
    """A diagnostic cell: success in %, first arrival as a step, dwell as a fraction, absorbing as a score."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if column == "success_rate":
        return f"{100 * value:.0f}%"
    if column == "first_arrival_median":
        return f"{value:.0f}"
    if column == "dwell_mean":
        return f"{value:.2f}"
    return f"{value:.1f}"


def diagnostic_cells(df: pd.DataFrame) -> dict[str, list[str]]:
    """Markdown columns (titled by DIAGNOSTIC_TITLES) of the diagnostic columns of `df`."""
    return {
        DIAGNOSTIC_TITLES[c]: [fmt_diagnostic(c, v) for v in df[c]] if c in df else ["—"] * len(df)
        for c in DIAGNOSTICS
    }


def fmt_pm(mean: float, ci: float, digits: int = 1, over: Any = "seeds") -> str:
    """'12.3 ± 4.5' ('12.3 ± 4.5ᵉ' when ``over`` is "episodes"), or '12.3' when the CI is undefined, or '—'
    when there is no value."""
    if mean is None or math.isnan(mean):
        return "—"
    if ci is None or math.isnan(ci):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}" + (EPISODE_CI_MARK if over == "episodes" else "")


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
