"""Main results table: our measured normalised scores beside the papers' QUOTED numbers.

Measured rows: every finished run in --experiment (default ``mage-train``) with ``eval/norm_score``, except
sweep parents and RTG-study evaluations; mean ± 95 % CI over runs (seeds) per method × protocol × dataset.
Quoted rows: ``analysis/paper_numbers.py`` (HD Table 1, the track-R numbers of shared/spec/protocol.md §4, MAGE
averages), each marked "quoted" with its source; their ± is the paper's reported std.

Every row says its protocol (docs/protocol.md): ``track`` R (reward only) / G (goal given) and its
``switches`` (own action or state tracking, + hold); runs without the tags count as R / own, no hold. Runs of
different protocols are never averaged together. The ``kind`` column says measured / quoted. A diagnostics
table beside it gives, per measured row and maze, seeds × episodes, success rate, median first arrival, mean
dwell and the absorbing score (a diagnostic, not comparable with the published tables).
Writes ``main_table.{md,tex,csv}`` under --out (the CSV is long: one row per row × maze, with the protocol and
the diagnostics) and prints the markdown.

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
from analysis.tables import (
    DIAGNOSTIC_TITLES,
    DIAGNOSTICS,
    DIAGNOSTICS_NOTE,
    PROTOCOL_KEYS,
    diagnostic_cells,
    fmt_diagnostic,
    fmt_pm,
    mean_ci,
    require_columns,
    run_diagnostics,
    to_markdown,
    with_protocol,
)
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
    """Long table, one row per method × protocol × dataset: suite, column (maze or dataset), dataset, method,
    track, acting, hold, switches, protocol, mean, ci95, n (seeds), episodes (per seed), the diagnostics."""
    require_columns(runs, ["metrics.eval/norm_score"], "main table")
    ok = runs["metrics.eval/norm_score"].notna() & (runs["run_type"] != "sweep") & runs["rtg_kind"].isna()
    ok &= runs["status"] == "FINISHED"
    r = with_protocol(runs[ok])
    if r.empty:
        raise NoRunsError(
            "no finished runs with eval/norm_score (train/trial runs) in the selected experiment(s)"
        )
    r["method"] = r["method"].fillna("mage")
    rows = []
    for (method, dataset, *proto), g in r.groupby(["method", "dataset", *PROTOCOL_KEYS], sort=True):
        mean, ci, n = mean_ci(g["metrics.eval/norm_score"])
        so = suite_of(dataset)
        eps = g["metrics.eval/episodes"].dropna() if "metrics.eval/episodes" in g else pd.Series(dtype=float)
        rows.append(
            {
                "suite": so[0] if so else "other",
                "column": so[1] if so else dataset,
                "dataset": dataset,
                "method": method,
                **dict(zip(PROTOCOL_KEYS, proto)),
                "switches": g["switches"].iloc[0],
                "protocol": g["protocol"].iloc[0],
                "mean": mean,
                "ci95": ci,
                "n": n,
                "episodes": int(eps.median()) if len(eps) else None,
                **run_diagnostics(g),
            }
        )
    return pd.DataFrame(rows)


def _measured_label(method: str) -> str:
    return f"{'MAGE' if method == 'mage' else method} (ours, measured)"


def _measured_cells(m: pd.DataFrame) -> dict[str, object]:
    """The columns that say what a measured row is: method, track, switches, dataset, seeds × episodes."""
    return {
        "method": m["method"].map(_measured_label),
        "track": m["track"],
        "switches": m["switches"],
        "dataset": m["dataset"],
        "seeds × episodes": [_seeds_x_episodes(n, e) for n, e in zip(m["n"], m["episodes"])],
    }


def _seeds_x_episodes(n: object, episodes: object) -> str:
    """'3 × 100' (seeds × episodes per seed); '3/2 × 100' when the mazes of a row differ."""

    def join(values: object) -> str:
        vs = [values] if not isinstance(values, (list, tuple, set)) else sorted(values)
        vs = [int(v) for v in vs if v is not None and not pd.isna(v)]
        return "/".join(str(v) for v in sorted(set(vs))) or "?"

    return f"{join(n)} × {join(episodes)}"


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
                "seeds": r["n"],
                "episodes": r["episodes"],
                **{d: r[d] for d in DIAGNOSTICS},
            }
        )
    return pd.DataFrame(rows)


def _cell(v: float, pm: float | None) -> str:
    return fmt_pm(v, pm if pm is not None else math.nan)


def diagnostics_rows(meas: pd.DataFrame) -> pd.DataFrame:
    """Markdown rows of the diagnostics table: one per measured method × protocol × dataset."""
    m = meas.sort_values(["suite", "method", "protocol", "dataset"], kind="stable")
    return pd.DataFrame(
        {
            **_measured_cells(m),
            "norm. score (95% CI)": [fmt_pm(a, c) for a, c in zip(m["mean"], m["ci95"])],
            **diagnostic_cells(m),
        }
    )


def markdown(table: pd.DataFrame, other: pd.DataFrame, meas: pd.DataFrame | None = None) -> str:
    parts = []
    for suite, t in table.groupby("suite", sort=False):
        shown = pd.DataFrame(
            {
                "method": [
                    f"{m} *(quoted)*" if k == "quoted" else f"**{m}**" for m, k in zip(t["method"], t["kind"])
                ],
                "kind": t["kind"],
                "track": t["track"],
                "switches": t["switches"],
                **{
                    paper.MAZE_TITLES[m]: [_cell(v, p) for v, p in zip(t[m], t[f"{m}_pm"])]
                    for m in paper.MAZES
                },
                "avg": [_cell(v, None) for v in t["avg"]],
                "±": t["pm"],
                "seeds × episodes": t["seeds_x_episodes"],
                "source": t["source"],
            }
        )
        parts.append(f"### {SUITE_TITLES.get(suite, suite)}\n\n{to_markdown(shown)}")
    if len(other):
        shown = pd.DataFrame(
            {
                **_measured_cells(other),
                "norm. score (95% CI)": [fmt_pm(m, c) for m, c in zip(other["mean"], other["ci95"])],
            }
        )
        parts.append(f"### Other datasets (no paper numbers)\n\n{to_markdown(shown)}")
    if meas is not None and len(meas):
        parts.append(
            f"### Diagnostics (measured rows)\n\n{DIAGNOSTICS_NOTE}\n\n{to_markdown(diagnostics_rows(meas))}"
        )
    note = (
        "Normalised score, D4RL reference returns (100 = expert). *quoted* rows are copied from the papers "
        "(see the source column and analysis/paper_numbers.py), ± is the paper's std; **measured** rows are "
        "ours, ± is the 95% Student-t CI over seeds. avg is shown only when all three mazes are measured.\n\n"
        "Protocol (docs/protocol.md): track R = reward only (state and target return), G = the goal is given "
        "to the agent; switches: own = the agent's own action, track = a controller follows its planned "
        "states, + hold = privileged hold at the goal once there. Rows of different protocols are separate "
        "and never averaged. Quoted protocols from shared/spec/protocol.md: Diffuser and HD give the goal, "
        "track and hold (open loop); MAGE's is not published (G?); ? = not stated. Measured runs without "
        "protocol tags (older runs) are R / own. seeds × episodes: seeds per maze × episodes per seed."
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


def latex(table: pd.DataFrame, meas: pd.DataFrame | None = None) -> str:
    out = []
    for suite, t in table.groupby("suite", sort=False):
        lines = [
            "\\begin{table}[t]",
            "\\centering",
            f"\\caption{{{_tex(SUITE_TITLES.get(suite, suite))}: normalised score. Quoted rows (\\textit{{q}}) are "
            "copied from the papers (± = reported std); bold rows are measured here (± = 95\\% CI over seeds). "
            "Track: R = reward only, G = goal given (G? = not published, ? = not stated); switches: own action "
            "or state tracking, + hold at the goal. Different protocols are never averaged.}",
            "\\begin{tabular}{lll" + "c" * (len(paper.MAZES) + 1) + "}",
            "\\toprule",
            "Method & Track & Switches & "
            + " & ".join(paper.MAZE_TITLES[m] for m in paper.MAZES)
            + " & Avg \\\\",
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
            proto = [_tex(str(r.track)), _tex(str(r.switches))]
            lines.append(name + " & " + " & ".join(proto + cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        sources = sorted(set(t.loc[t["kind"] == "quoted", "source"]))
        lines.append("% quoted sources: " + "; ".join(sources))
        out.append("\n".join(lines))
    if meas is not None and len(meas):
        out.append(_latex_diagnostics(meas))
    return "\n\n".join(out) + "\n"


def _latex_diagnostics(meas: pd.DataFrame) -> str:
    m = meas.sort_values(["suite", "method", "protocol", "dataset"], kind="stable")
    heads = ["Method", "Track", "Switches", "Dataset", "Seeds $\\times$ episodes", "Score"]
    heads += [_tex(DIAGNOSTIC_TITLES[d]) for d in DIAGNOSTICS]
    lines = [
        "\\begin{table}[t]",
        "\\centering",
        "\\caption{Goal diagnostics of the measured rows. Success: share of episodes reaching the goal; first "
        "arrival: median step; dwell: share of the steps after the first arrival at the goal; absorbing: "
        "Diffusion Veteran's count, a diagnostic not comparable with published scores.}",
        "\\begin{tabular}{llll" + "c" * (len(heads) - 4) + "}",
        "\\toprule",
        " & ".join(heads) + " \\\\",
        "\\midrule",
    ]
    for r in m.to_dict("records"):
        cells = [
            _tex(_measured_label(r["method"])),
            _tex(str(r["track"])),
            _tex(str(r["switches"])),
            _tex(str(r["dataset"])),
            _tex(_seeds_x_episodes(r["n"], r["episodes"])),
            fmt_pm(r["mean"], r["ci95"]).replace("±", "$\\pm$").replace("—", "--"),
        ]
        cells += [_tex(fmt_diagnostic(d, r[d])).replace("—", "--") for d in DIAGNOSTICS]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines)


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
    report.announce(md, [md_path, out / f"{NAME}.tex", out / f"{NAME}.csv"])
    return table


def main(argv: list[str] | None = None) -> int:
    a = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME).parse_args(argv)
    return report.run_cli(run, a, experiment=EXPERIMENT, name=NAME)


if __name__ == "__main__":
    sys.exit(main())
