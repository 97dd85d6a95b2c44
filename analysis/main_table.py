"""Main results table: our measured normalised scores beside the papers' QUOTED numbers.

Measured rows: every finished run in --experiment (default ``mage-train``) with ``eval/norm_score``, except
sweep parents and RTG-study evaluations; mean ± 95 % CI over runs (seeds) per method × dataset. Quoted rows:
``analysis/paper_numbers.py`` (HD Table 1, MAGE averages), each marked "quoted" with its source; their ± is the
paper's reported std. Writes ``main_table.{md,tex,csv}`` under --out and prints the markdown.

    python analysis/main_table.py [--experiment mage-train] [--tracking-uri URI] [--out DIR]
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pandas as pd

from analysis import paper_numbers as paper
from analysis import report
from analysis.tables import fmt_pm, mean_ci, require_columns, to_markdown
from mage.tracking.query import NoRunsError, load_runs
from mage.tracking.store import default_tracking_uri

EXPERIMENT = "mage-train"
NAME = "main_table"
_MAZE_RE = re.compile(r"^maze2d-(umaze|medium|large)(-dense)?(-multi)?-v\d+$")
SUITE_TITLES = {
    "maze2d": "Maze2D (single task)",
    "multi2d": "Multi2D (random goal)",
    "maze2d-dense": "Maze2D dense",
    "maze2d-dense-multi": "Multi2D dense",
}


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
    """Long table: suite, method, maze (or dataset), mean, ci95, n, episodes."""
    require_columns(runs, ["metrics.eval/norm_score"], "main table")
    ok = runs["metrics.eval/norm_score"].notna() & (runs["run_type"] != "sweep") & runs["rtg_kind"].isna()
    ok &= runs["status"] == "FINISHED"
    r = runs[ok].copy()
    if r.empty:
        raise NoRunsError(
            "no finished runs with eval/norm_score (train/trial runs) in the selected experiment(s)"
        )
    r["method"] = r["method"].fillna("mage")
    rows = []
    for (method, dataset), g in r.groupby(["method", "dataset"], sort=True):
        mean, ci, n = mean_ci(g["metrics.eval/norm_score"])
        so = suite_of(dataset)
        eps = g["metrics.eval/episodes"].dropna() if "metrics.eval/episodes" in g else pd.Series(dtype=float)
        rows.append(
            {
                "suite": so[0] if so else "other",
                "column": so[1] if so else dataset,
                "dataset": dataset,
                "method": method,
                "mean": mean,
                "ci95": ci,
                "n": n,
                "episodes": int(eps.median()) if len(eps) else None,
            }
        )
    return pd.DataFrame(rows)


def _measured_label(method: str) -> str:
    return f"{'MAGE' if method == 'mage' else method} (ours, measured)"


def build(meas: pd.DataFrame, experiments: list[str]) -> pd.DataFrame:
    """Wide table, one row per (suite, method): cells are (mean, ±), plus kind and source columns."""
    rows = []
    suites = [s for s in paper.SUITES if s in set(meas["suite"])] or list(paper.SUITES)[:1]
    suites += sorted(set(meas["suite"]) - set(paper.SUITES) - {"other"})
    for suite in suites:
        for q in paper.SUITES.get(suite, ()):
            row = {"suite": suite, "method": q.method, "kind": "quoted", "source": q.source, "pm": "std"}
            for maze in paper.MAZES:
                row[maze], row[f"{maze}_pm"] = q.per_task.get(maze, (math.nan, None))
            row["avg"], row["avg_pm"] = (q.average if q.average is not None else math.nan), None
            rows.append(row)
        for method, g in meas[meas["suite"] == suite].groupby("method", sort=True):
            ns = sorted(set(int(n) for n in g["n"]))
            eps = sorted(set(int(e) for e in g["episodes"].dropna()))
            src = f"measured: {', '.join(experiments)}; {'/'.join(map(str, ns))} seed(s)"
            if eps:
                src += f" × {'/'.join(map(str, eps))} episodes"
            row = {
                "suite": suite,
                "method": _measured_label(method),
                "kind": "measured",
                "source": src,
                "pm": "95% CI",
            }
            for maze in paper.MAZES:
                hit = g[g["column"] == maze]
                row[maze] = float(hit["mean"].iloc[0]) if len(hit) else math.nan
                row[f"{maze}_pm"] = float(hit["ci95"].iloc[0]) if len(hit) else None
            vals = [row[m] for m in paper.MAZES]
            # the paper's average is over the three mazes; a partial average would not be comparable
            row["avg"] = sum(vals) / 3 if all(not math.isnan(v) for v in vals) else math.nan
            row["avg_pm"] = None
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(v: float, pm: float | None) -> str:
    return fmt_pm(v, pm if pm is not None else math.nan)


def markdown(table: pd.DataFrame, other: pd.DataFrame) -> str:
    parts = []
    for suite, t in table.groupby("suite", sort=False):
        shown = pd.DataFrame(
            {
                "method": [
                    f"{m} *(quoted)*" if k == "quoted" else f"**{m}**" for m, k in zip(t["method"], t["kind"])
                ],
                **{
                    paper.MAZE_TITLES[m]: [_cell(v, p) for v, p in zip(t[m], t[f"{m}_pm"])]
                    for m in paper.MAZES
                },
                "avg": [_cell(v, None) for v in t["avg"]],
                "±": t["pm"],
                "source": t["source"],
            }
        )
        parts.append(f"### {SUITE_TITLES.get(suite, suite)}\n\n{to_markdown(shown)}")
    if len(other):
        shown = pd.DataFrame(
            {
                "method": other["method"].map(_measured_label),
                "dataset": other["dataset"],
                "norm. score (95% CI)": [fmt_pm(m, c) for m, c in zip(other["mean"], other["ci95"])],
                "seeds": other["n"],
            }
        )
        parts.append(f"### Other datasets (no paper numbers)\n\n{to_markdown(shown)}")
    note = (
        "Normalised score, D4RL reference returns (100 = expert). *quoted* rows are copied from the papers "
        "(see the source column and analysis/paper_numbers.py), ± is the paper's std; **measured** rows are "
        "ours, ± is the 95% Student-t CI over seeds. avg is shown only when all three mazes are measured."
    )
    return note + "\n\n" + "\n\n".join(parts)


def _tex(s: str) -> str:
    return (
        s.replace("\\", "\\textbackslash{}")
        .replace("&", "\\&")
        .replace("%", "\\%")
        .replace("_", "\\_")
        .replace("#", "\\#")
        .replace("×", "$\\times$")
    )


def latex(table: pd.DataFrame) -> str:
    out = []
    for suite, t in table.groupby("suite", sort=False):
        lines = [
            "\\begin{table}[t]",
            "\\centering",
            f"\\caption{{{_tex(SUITE_TITLES.get(suite, suite))}: normalised score. Quoted rows (\\textit{{q}}) are "
            "copied from the papers (± = reported std); bold rows are measured here (± = 95\\% CI over seeds).}",
            "\\begin{tabular}{l" + "c" * (len(paper.MAZES) + 1) + "}",
            "\\toprule",
            "Method & " + " & ".join(paper.MAZE_TITLES[m] for m in paper.MAZES) + " & Avg \\\\",
            "\\midrule",
        ]
        for r in t.itertuples(index=False):
            d = r._asdict()
            cells = [_cell(d[m], d[f"{m}_pm"]).replace("±", "$\\pm$").replace("—", "--") for m in paper.MAZES]
            cells.append(_cell(d["avg"], None).replace("—", "--"))
            if r.kind == "measured":
                name = f"\\textbf{{{_tex(r.method)}}}"
                cells = [f"\\textbf{{{c}}}" for c in cells]
            else:
                name = f"{_tex(r.method)}$^{{q}}$"
            lines.append(name + " & " + " & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        sources = sorted(set(t.loc[t["kind"] == "quoted", "source"]))
        lines.append("% quoted sources: " + "; ".join(sources))
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


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
    long = table.melt(
        id_vars=["suite", "method", "kind", "source", "pm"],
        value_vars=[*paper.MAZES, "avg"],
        var_name="maze",
        value_name="score",
    )
    long["plus_minus"] = [
        table.loc[(table["suite"] == s) & (table["method"] == m), f"{z}_pm"].iloc[0] if z != "avg" else None
        for s, m, z in zip(long["suite"], long["method"], long["maze"])
    ]
    pd.concat(
        [
            long,
            other.assign(
                kind="measured",
                maze=other["dataset"],
                score=other["mean"],
                plus_minus=other["ci95"],
                pm="95% CI",
                source="measured",
            )[long.columns],
        ]
    ).to_csv(out / f"{NAME}.csv", index=False)
    md = markdown(table, other)
    md_path = report.write_markdown(out / f"{NAME}.md", "Main results", experiments, md)
    (out / f"{NAME}.tex").write_text(latex(table))
    report.announce(md, [md_path, out / f"{NAME}.tex", out / f"{NAME}.csv"])
    return table


def main(argv: list[str] | None = None) -> int:
    a = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME).parse_args(argv)
    return report.run_cli(run, a, experiment=EXPERIMENT, name=NAME)


if __name__ == "__main__":
    sys.exit(main())
