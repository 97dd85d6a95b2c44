"""Main results table: our measured normalised scores beside the papers' QUOTED numbers.

Measured rows: every finished run in --experiment (default ``mage-train``; the main table's runs come from
``sweeps/main_results.py``: ``--experiment mage-main-results``; baselines alone: ``mage-baselines``) with
``eval/norm_score``, except sweep parents and RTG-study evaluations; one row per method (``mage.method``: MAGE
or a baseline trained here) × protocol; mean ± 95 % CI over runs (seeds) per dataset. An evaluation at a chosen
R̂_0 other than the default (``mage evaluate --rtg-percentile 50``) is a row of its own (``MAGE (..., R̂₀ p50)``).
Quoted rows: ``analysis/paper_numbers.py`` (HD Table 1, the track-R numbers of shared/spec/protocol.md §4, MAGE
averages), each marked "quoted" with its source; their ± is the paper's reported std.

Every row says its protocol (docs/protocol.md): ``track`` R (reward only) / G (goal given) and its
``switches`` (own action or state tracking, + hold); runs without the tags count as R / own, no hold. Runs of
different protocols are never averaged together. The ``kind`` column says measured / quoted. A diagnostics
table beside it gives, per measured row and maze, seeds × episodes, success rate, median first arrival, mean
dwell and the absorbing score (a diagnostic, not comparable with the published tables).
Writes ``main_table.{md,tex,csv,png}`` under --out (the CSV is long: one row per row × maze, with the protocol
and the diagnostics; the PNG: bars per maze and average, measured rows with their CI in one panel, quoted rows
in another) and prints the markdown.

    python analysis/main_table.py [--experiment mage-main-results] [--tracking-uri URI] [--out DIR]
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pandas as pd

from analysis import paper_numbers as paper
from analysis import report
from analysis.main_table_render import (
    SUITE_TITLES,
    _measured_label,
    _seeds_x_episodes,
    diagnostics_rows,
    latex,
    markdown,
    plot,
)
from analysis.tables import (
    DIAGNOSTICS,
    PROTOCOL_KEYS,
    protocol_cell,
    require_columns,
    run_diagnostics,
    with_protocol,
)
from mage.config import EvalConfig
from mage.tracking.query import NoRunsError, load_runs
from mage.tracking.store import default_tracking_uri

EXPERIMENT = "mage-train"
NAME = "main_table"
RTG_STUDY_SWEEP = "rtg_generalization"  # the mage.sweep tag of sweeps/rtg_generalization.py's evaluations
DEFAULT_RTG_PERCENTILE = EvalConfig().rtg_percentile  # R̂_0 of a run that does not say otherwise
_MAZE_RE = re.compile(r"^maze2d-(umaze|medium|large)(-dense)?(-multi)?-v\d+$")
__all__ = ["SUITE_TITLES", "build", "diagnostics_rows", "latex", "long_table", "markdown", "measured", "run"]


def suite_of(dataset: str) -> tuple[str, str] | None:
    """('maze2d'|'multi2d'|..., maze) for a Maze2D task name, None otherwise."""
    m = _MAZE_RE.match(dataset or "")
    if not m:
        return None
    maze, dense, multi = m.groups()
    suite = "maze2d" + ("-dense" if dense else "")
    if multi:
        suite = "multi2d" if not dense else "maze2d-dense-multi"
    return suite, maze


def measured(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per method × protocol × dataset: suite, column (maze or dataset), dataset, method,
    track, acting, hold, switches, protocol, mean, ci95, n (seeds), episodes (per seed), the diagnostics."""
    require_columns(runs, ["metrics.eval/norm_score"], "main table")
    # An RTG study's evaluations are not rows; one R̂_0 chosen with `mage evaluate --rtg-percentile` is.
    study = runs["rtg_kind"].eq("ood") | runs["sweep"].eq(RTG_STUDY_SWEEP)
    chosen = runs["rtg_kind"].eq("percentile") & ~study
    ok = runs["metrics.eval/norm_score"].notna() & (runs["run_type"] != "sweep")
    ok &= (runs["rtg_kind"].isna() | chosen) & (runs["status"] == "FINISHED")
    r = with_protocol(runs[ok])
    if r.empty:
        raise NoRunsError(
            "no finished runs with eval/norm_score (train/trial runs) in the selected experiment(s)"
        )
    r["method"] = r["method"].fillna("mage")
    # A goal-conditioned MAGE is another model, not another seed of MAGE: its own row, like the baselines' -goal
    goal = (r["variant"] == "goal") | (r["use_goal"].astype(str).str.lower() == "true")
    r.loc[goal & (r["method"] == "mage"), "method"] = "mage-goal"
    # A non-default R̂_0 makes its own row (``method@p50``): never averaged with the default's runs as a seed.
    pct = pd.to_numeric(r["rtg_value"], errors="coerce")
    other = r["rtg_kind"].eq("percentile") & pct.ne(DEFAULT_RTG_PERCENTILE)
    if other.any():
        r.loc[other, "method"] = [f"{m}@p{v:g}" for m, v in zip(r.loc[other, "method"], pct[other])]
    # A named row (`mage evaluate --row-name`, e.g. another training budget) is never a seed of the others.
    named = r["row"].fillna("").astype(str).ne("")
    if named.any():
        r.loc[named, "method"] = [f"{m}[{n}]" for m, n in zip(r.loc[named, "method"], r.loc[named, "row"])]
    # A transfer evaluation (`mage evaluate --allow-other-data`) measures a model of other data: its own row.
    moved = r["transfer"].fillna("").astype(str).eq("true")
    if moved.any():
        r.loc[moved, "method"] = [
            f"{m}[trained on {t}]" for m, t in zip(r.loc[moved, "method"], r.loc[moved, "trained_on"])
        ]
    rows = []
    for (method, dataset, *proto), g in r.groupby(["method", "dataset", *PROTOCOL_KEYS], sort=True):
        so = suite_of(dataset)
        rows.append(
            {
                "suite": so[0] if so else "other",
                "column": so[1] if so else dataset,
                "dataset": dataset,
                "method": method,
                **protocol_cell(g, proto, episode_ci=True),
                **run_diagnostics(g),
            }
        )
    return pd.DataFrame(rows)


def build(meas: pd.DataFrame, experiments: list[str]) -> pd.DataFrame:
    """Wide table, one row per (suite, method, protocol): cells are (mean, ±) per maze, plus kind (measured /
    quoted), track, switches, protocol, source, seeds × episodes; measured rows also carry per maze
    ``<maze>_n``, ``<maze>_episodes`` and ``<maze>_<diagnostic>``."""
    rows = []
    suites = [s for s in paper.SUITES if s in set(meas["suite"])] or list(paper.SUITES)[:1]
    suites += sorted(set(meas["suite"]) - set(paper.SUITES) - {"other"})
    for suite in suites:
        for q in paper.SUITES.get(suite, ()):
            p = q.protocol
            row = {
                "suite": suite,
                "method": q.method,
                "kind": "quoted",
                "track": p.track,
                "acting": p.acting,
                "hold": p.hold,
                "switches": p.switches,
                "protocol": p.label,
                "source": q.source,
                "pm": "std",
                "seeds_x_episodes": None,
            }
            for maze in paper.MAZES:
                row[maze], row[f"{maze}_pm"] = q.per_task.get(maze, (math.nan, None))
            row["avg"], row["avg_pm"] = (q.average if q.average is not None else math.nan), None
            rows.append(row)
        mine = meas[meas["suite"] == suite]
        for (method, *proto), g in mine.groupby(["method", *PROTOCOL_KEYS], sort=True):
            row = {
                "suite": suite,
                "method": _measured_label(method),
                "kind": "measured",
                **dict(zip(PROTOCOL_KEYS, proto)),
                "switches": g["switches"].iloc[0],
                "protocol": g["protocol"].iloc[0],
                "source": f"measured: {', '.join(experiments)}",
                "pm": "95% CI",
                "seeds_x_episodes": _seeds_x_episodes(set(g["n"]), set(g["episodes"].dropna())),
            }
            for maze in paper.MAZES:
                hit = g[g["column"] == maze]
                row[maze] = float(hit["mean"].iloc[0]) if len(hit) else math.nan
                row[f"{maze}_pm"] = float(hit["ci95"].iloc[0]) if len(hit) else None
                row[f"{maze}_n"] = int(hit["n"].iloc[0]) if len(hit) else None
                row[f"{maze}_over"] = hit["ci_over"].iloc[0] if len(hit) else "seeds"
                row[f"{maze}_episodes"] = hit["episodes"].iloc[0] if len(hit) else None
                for d in DIAGNOSTICS:
                    row[f"{maze}_{d}"] = float(hit[d].iloc[0]) if len(hit) else math.nan
            vals = [row[m] for m in paper.MAZES]
            # the paper's average is over the three mazes; a partial average would not be comparable
            row["avg"] = sum(vals) / 3 if all(not math.isnan(v) for v in vals) else math.nan
            row["avg_pm"] = None
            rows.append(row)
    return pd.DataFrame(rows)


def long_table(table: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """The CSV: one row per table row × maze (and avg), then the other datasets; protocol and diagnostics."""
    cols = ["suite", "method", "kind", "track", "acting", "hold", "switches", "protocol", "source", "pm"]
    rows = []
    for r in table.to_dict("records"):
        for maze in [*paper.MAZES, "avg"]:
            rows.append(
                {
                    **{c: r[c] for c in cols},
                    "maze": maze,
                    "score": r[maze],
                    "plus_minus": r[f"{maze}_pm"],
                    "ci_over": r.get(f"{maze}_over"),
                    "seeds": r.get(f"{maze}_n"),
                    "episodes": r.get(f"{maze}_episodes"),
                    **{d: r.get(f"{maze}_{d}", math.nan) for d in DIAGNOSTICS},
                }
            )
    for r in other.to_dict("records"):
        rows.append(
            {
                **{c: r.get(c) for c in cols},
                "method": _measured_label(r["method"]),
                "kind": "measured",
                "source": "measured",
                "pm": "95% CI",
                "maze": r["dataset"],
                "score": r["mean"],
                "plus_minus": r["ci95"],
                "ci_over": r["ci_over"],
                "seeds": r["n"],
                "episodes": r["episodes"],
                **{d: r[d] for d in DIAGNOSTICS},
            }
        )
    return pd.DataFrame(rows)


def run(
    experiments: list[str],
    tracking_uri: str | None,
    out: Path,
    *,
    filter_string: str = "",
    cache: bool = True,
) -> pd.DataFrame:
    uri = tracking_uri or default_tracking_uri()
    runs = load_runs(experiments, uri, filter_string=filter_string, cache=cache)
    meas = measured(runs)
    table = build(meas, experiments)
    other = meas[meas["suite"] == "other"]
    out.mkdir(parents=True, exist_ok=True)
    long_table(table, other).to_csv(out / f"{NAME}.csv", index=False)
    md = markdown(table, other, meas)
    md_path = report.write_markdown(out / f"{NAME}.md", "Main results", experiments, md)
    (out / f"{NAME}.tex").write_text(latex(table, meas))
    png = plot(table, out / f"{NAME}.png")
    report.announce(md, [md_path, out / f"{NAME}.tex", out / f"{NAME}.csv", png])
    return table


def main(argv: list[str] | None = None) -> int:
    a = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME).parse_args(argv)
    return report.run_cli(run, a, experiment=EXPERIMENT, name=NAME)


if __name__ == "__main__":
    sys.exit(main())
