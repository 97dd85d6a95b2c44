"""Ablation table: the paper's ablation rows measured here (``sweeps/ablations.py``), beside the paper's QUOTED numbers.

Measured: every finished trial run in --experiment (default ``mage-ablations``) with a ``mage.ablation`` tag and
``eval/norm_score`` (sweep parents and RTG-study evaluations excluded). One row per ablation × protocol (track
R/G and switches, docs/protocol.md; runs without the tags count as R / own, no hold; protocols are never pooled),
one column per dataset: mean ± 95 % Student-t CI over seeds, with seeds × episodes. An aggregate column across
the datasets: the interquartile mean of all runs of the row with a stratified-bootstrap 95 % CI (runs resampled
within each dataset, ``analysis/aggregate.py``); mean, median and optimality gap with their CIs are in the CSV.
Quoted: the MAGE paper's ablation table (``analysis/paper_numbers.ABLATIONS``) on Adroit pen-expert /
door-cloned, datasets we do not run: their columns are marked quoted and "other dataset" (†), never pooled with
ours. Each row also shows its overrides (from the sweep parent's ``ablation.<row>`` params).
Below the table, each row minus ``ours`` on the same dataset and protocol, paired by seed, with its CI and a
verdict (``ablations_against_ours.csv``). Writes ``ablations.{md,tex,csv,png}`` under --out and prints the
markdown.

    python analysis/ablations.py [--experiment mage-ablations] [--tracking-uri URI] [--out DIR] [--reps 2000]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd

from analysis import aggregate, report
from analysis import paper_numbers as paper
from analysis.ablations_render import (
    against_ours_markdown,
    diagnostics_markdown,
    latex,
    long_table,
    markdown,
    plot,
)
from analysis.main_table import suite_of
from analysis.tables import (
    DIAGNOSTICS_NOTE,
    PROTOCOL_KEYS,
    paired_difference,
    protocol_cell,
    require_columns,
    run_diagnostics,
    run_k,
    with_protocol,
)
from mage.tracking.query import NoRunsError, load_runs
from mage.tracking.store import default_tracking_uri

EXPERIMENT = "mage-ablations"
NAME = "ablations"
SCORE = "metrics.eval/norm_score"
AGG_LABEL = "all tasks"  # the dataset column of the aggregate rows in the CSV

# Our row names (sweeps/ablations.py) in the paper's order, with the paper's label; rows not in the paper last.
ROW_LABELS: dict[str, str] = {
    **{q.row: q.label for q in paper.ABLATIONS},
    "scheme_s": "gen. scheme S only",
    "scheme_a": "gen. scheme A only",
    "decoded_actions": "actions from decoded states (not in the paper)",
    "no_adaln_condition": "condition on start tokens only (not in the paper)",
}
ROW_ORDER = [
    "ours", "k1", "a_cql", "scheme_rsa", "scheme_s", "scheme_a", "no_cond_decoder", "no_rtg_later_scales",
    "no_l_cond", "decoded_actions", "no_adaln_condition",
]  # fmt: skip
QUOTED = {q.row: q for q in paper.ABLATIONS}
__all__ = [
    "ablation_runs",
    "against_ours",
    "build",
    "cells",
    "latex",
    "long_table",
    "markdown",
    "plot",
    "run",
]


def row_key(row: str) -> tuple[int, str]:
    return (ROW_ORDER.index(row) if row in ROW_ORDER else len(ROW_ORDER), row)


def dataset_key(dataset: str) -> tuple[str, int, str]:
    """Maze2D tasks by suite, then U-Maze, Medium, Large (the paper's column order); others by name."""
    so = suite_of(dataset)
    return (so[0], paper.MAZES.index(so[1]), dataset) if so else ("~", 0, dataset)


def ablation_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Finished trial runs with an ablation tag and a score, with the protocol columns and a dataset."""
    require_columns(runs, [SCORE], "ablation table")
    ok = runs[SCORE].notna() & (runs["run_type"] != "sweep") & runs["rtg_kind"].isna()
    ok &= (runs["status"] == "FINISHED") & runs["ablation"].notna()
    r = with_protocol(runs[ok])
    if r.empty:
        raise NoRunsError(
            "no finished ablation trial runs (a mage.ablation tag and eval/norm_score) in the selected "
            "experiment(s); run sweeps/ablations.py first"
        )
    ds = r.get("params.data.dataset", pd.Series(None, index=r.index, dtype=object))
    r["dataset"] = r["dataset"].fillna(ds).fillna("unknown")
    r["K"] = run_k(r)
    return r


def overrides_of(runs: pd.DataFrame) -> dict[str, str]:
    """Row -> its overrides as ``key=value, ...`` (``none`` for ours), from the latest sweep parent's params."""
    out: dict[str, str] = {}
    parents = runs[runs["run_type"] == "sweep"].sort_values("start_time")
    for _, p in parents.iterrows():
        for col, v in p.items():
            if str(col).startswith("params.ablation.") and isinstance(v, str):
                try:
                    d = json.loads(v)
                except ValueError:
                    continue
                out[str(col)[len("params.ablation.") :]] = (
                    ", ".join(f"{k}={x}" for k, x in d.items()) or "none"
                )
    return out


def _ks(values: pd.Series) -> str:
    """The hierarchy depths of a row's runs, or of its cells' own ``_ks`` strings ("5", or "1/5" if they
    differ; "?" when none is recorded): a preset's ``ours`` need not be the paper's K = 8 (``demo``: K = 5)."""
    got = {int(float(x)) for v in values.dropna() for x in str(v).split("/") if x != "?"}
    return "/".join(map(str, sorted(got))) or "?"


def cells(r: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per ablation × protocol × dataset: mean, ci95 (Student-t over seeds), n, episodes,
    and the goal diagnostics over its runs (success, first arrival, dwell, absorbing; ``tables.DIAGNOSTICS``)."""
    rows = [
        {
            "row": row,
            "dataset": dataset,
            "K": _ks(g["K"]),
            **protocol_cell(g, proto, SCORE),
            **run_diagnostics(g),
        }
        for (row, dataset, *proto), g in r.groupby(["ablation", "dataset", *PROTOCOL_KEYS], sort=True)
    ]
    return pd.DataFrame(rows)


def diagnostics(cell: pd.DataFrame) -> pd.DataFrame:
    """``cells`` in the table's row order with the paper's label: what the diagnostics section shows."""
    key = [
        (row_key(r), str(p), dataset_key(d))
        for r, p, d in zip(cell["row"], cell["protocol"], cell["dataset"])
    ]
    out = cell.iloc[sorted(range(len(cell)), key=key.__getitem__)].reset_index(drop=True)
    return out.assign(label=[ROW_LABELS.get(r, r) for r in out["row"]])


def against_ours(r: pd.DataFrame) -> pd.DataFrame:
    """Each row minus ``ours`` per dataset × protocol, paired by seed (``tables.paired_difference``): what an
    ablation costs, with the seed-to-seed spread that both share taken out."""
    ours = r[r["ablation"] == "ours"]
    rows = []
    keys = ["ablation", "dataset", *PROTOCOL_KEYS]
    for (row, dataset, *proto), g in r[r["ablation"] != "ours"].groupby(keys, sort=True):
        base = ours[(ours["dataset"] == dataset) & (ours[PROTOCOL_KEYS] == proto).all(axis=1)]
        if base.empty:
            continue
        rows.append(
            {
                "row": row,
                "label": ROW_LABELS.get(row, row),
                "dataset": dataset,
                **dict(zip(PROTOCOL_KEYS, proto)),
                "protocol": g["protocol"].iloc[0],
                **paired_difference(
                    g.groupby("seed")[SCORE].mean(), base.groupby("seed")[SCORE].mean(), row, "ours"
                ),
            }
        )
    out = pd.DataFrame(rows)
    if len(out):
        order = sorted(range(len(out)), key=lambda i: (row_key(out["row"][i]), str(out["protocol"][i])))
        out = out.iloc[order].reset_index(drop=True)
    return out


def aggregates(
    r: pd.DataFrame, *, reps: int = aggregate.DEFAULT_REPS, seed: int = 0
) -> dict[tuple, dict[str, aggregate.Interval]]:
    """(row, track, acting, hold) -> every aggregate statistic over its datasets (strata) and seeds (runs)."""
    out = {}
    for key, g in r.groupby(["ablation", *PROTOCOL_KEYS], sort=True):
        scores = {ds: gd[SCORE].to_numpy(float) for ds, gd in g.groupby("dataset", sort=True)}
        out[tuple(key)] = aggregate.aggregate(scores, reps=reps, seed=seed)
    return out


def build(cell: pd.DataFrame, aggs: dict[tuple, dict[str, aggregate.Interval]], overrides: dict[str, str]):
    """Wide table, one row per ablation × protocol (measured) plus the quoted rows not run here. Columns: row,
    label, measured, track, acting, hold, switches, protocol, overrides, per dataset ``<ds>``/``<ds>_ci``/
    ``<ds>_n``/``<ds>_episodes``, ``iqm``/``iqm_lo``/``iqm_hi``, ``n_tasks``, ``n_runs``, ``all_tasks``, and
    ``q:<paper dataset>`` (quoted, NaN where the paper has no number). Returns (table, datasets)."""
    datasets = sorted(set(cell["dataset"]), key=dataset_key)
    rows = []
    for (row, *proto), g in cell.groupby(["row", *PROTOCOL_KEYS], sort=False):
        iv = aggs[(row, *proto)]["iqm"]
        d = {
            "row": row,
            "label": ROW_LABELS.get(row, row),
            "measured": True,
            **dict(zip(PROTOCOL_KEYS, proto)),
            "switches": g["switches"].iloc[0],
            "protocol": g["protocol"].iloc[0],
            "K": _ks(g["K"]),
            "overrides": overrides.get(row, "?"),
            "iqm": iv.point,
            "iqm_lo": iv.lo,
            "iqm_hi": iv.hi,
            "n_tasks": iv.n_tasks,
            "n_runs": iv.n_runs,
            "all_tasks": iv.n_tasks == len(datasets),
        }
        for c in g.to_dict("records"):
            ds = c["dataset"]
            d.update(
                {ds: c["mean"], f"{ds}_ci": c["ci95"], f"{ds}_n": c["n"], f"{ds}_episodes": c["episodes"]}
            )
        rows.append(d)
    for q in paper.ABLATIONS:  # paper rows we have no runs of: quoted numbers only
        if q.row not in set(cell["row"]):
            rows.append(
                {"row": q.row, "label": q.label, "measured": False, "overrides": overrides.get(q.row)}
            )
    table = pd.DataFrame(rows)
    for ds in datasets:
        for suffix in ("", "_ci", "_n", "_episodes"):
            if f"{ds}{suffix}" not in table:
                table[f"{ds}{suffix}"] = math.nan
    for pds in paper.ABLATION_DATASETS:
        table[f"q:{pds}"] = [
            QUOTED[r].scores.get(pds, math.nan) if r in QUOTED else math.nan for r in table["row"]
        ]
    order = sorted(range(len(table)), key=lambda i: (row_key(table["row"][i]), str(table["protocol"][i])))
    return table.iloc[order].reset_index(drop=True), datasets


def run(
    experiments: list[str],
    tracking_uri: str | None,
    out: Path,
    *,
    filter_string: str = "",
    cache: bool = True,
    reps: int = aggregate.DEFAULT_REPS,
    seed: int = 0,
) -> pd.DataFrame:
    uri = tracking_uri or default_tracking_uri()
    runs = load_runs(experiments, uri, filter_string=filter_string, cache=cache)
    r = ablation_runs(runs)
    cell = cells(r)
    aggs = aggregates(r, reps=reps, seed=seed)
    table, datasets = build(cell, aggs, overrides_of(runs))
    out.mkdir(parents=True, exist_ok=True)
    long_table(table, datasets, aggs).to_csv(out / f"{NAME}.csv", index=False)
    diff = against_ours(r)
    diff.to_csv(out / f"{NAME}_against_ours.csv", index=False)
    md = markdown(table, datasets, reps=reps)
    if len(diff):
        md += "\n\nEach row minus ours, same dataset and protocol, per seed then averaged:\n\n"
        md += against_ours_markdown(diff)
    diag = diagnostics(cell)
    diag.to_csv(out / f"{NAME}_diagnostics.csv", index=False)
    md += "\n\nGoal diagnostics per row, protocol and dataset (over the row's runs):\n\n"
    md += diagnostics_markdown(diag) + "\n\n" + DIAGNOSTICS_NOTE
    md_path = report.write_markdown(out / f"{NAME}.md", "Ablations", experiments, md)
    (out / f"{NAME}.tex").write_text(latex(table, datasets))
    png = plot(table, datasets, out / f"{NAME}.png")
    csvs = [out / f"{NAME}{part}.csv" for part in ("", "_against_ours", "_diagnostics")]
    files = [md_path, out / f"{NAME}.tex", *csvs, png]
    report.announce(md, files)
    return table


def main(argv: list[str] | None = None) -> int:
    p = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME)
    p.add_argument(
        "--reps", type=int, default=aggregate.DEFAULT_REPS, help="bootstrap resamples for the IQM CI"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    a = p.parse_args(argv)
    return report.run_cli(run, a, experiment=EXPERIMENT, name=NAME, reps=a.reps, seed=a.seed)


if __name__ == "__main__":
    sys.exit(main())
