"""Hierarchy-depth report: normalised score vs the number of scales K, per dataset.

Reads the trial runs of ``sweeps/hierarchy_depth.py`` (experiment ``mage-hierarchy-depth``; K from the
``mage.K`` tag, else the ``tokenizer.num_scales`` param) and writes, under --out:
``hierarchy_depth.csv`` / ``.md`` (mean ± 95 % CI over seeds per method × protocol × dataset × K, with the
goal diagnostics), ``hierarchy_depth_contrast.csv`` (deepest minus shallowest K, paired by seed, and whether
it clears its CI; also in the .md), ``hierarchy_depth_training.csv`` (what each K's trainings reached: the
tokenizer's validation reconstruction, VQ loss and dead codes, the policy's validation cross-entropy and token
accuracy, and the greedy plan's state error beside that of repeating s0, the one stage-2 number comparable
across K; means over seeds; also in the .md) and ``hierarchy_depth.png`` (score vs K, one panel per dataset, CI bands). Each row says its
protocol (track R/G and switches, docs/protocol.md; runs without the tags: R / own) and its training budget (the
``mage.budget`` tag, e.g. ``400+800 steps, batch 128``); protocols and budgets are never averaged together, and
the K contrast pairs seeds within one budget.

    python analysis/hierarchy_depth.py [--experiment mage-hierarchy-depth] [--tracking-uri URI] [--out DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from analysis import plotting, report
from analysis.tables import (
    DIAGNOSTICS_NOTE,
    PROTOCOL_KEYS,
    diagnostic_cells,
    fmt_pm,
    mean_ci,
    paired_difference,
    paired_markdown,
    require_columns,
    run_diagnostics,
    run_k,
    to_markdown,
    with_protocol,
)
from mage.tracking.query import NoRunsError, load_runs
from mage.tracking.store import default_tracking_uri

EXPERIMENT = "mage-hierarchy-depth"
NAME = "hierarchy_depth"
NO_BUDGET = "not recorded"  # runs older than the mage.budget tag
DATA_INIT = ", data-init codebook"  # appended to the budget of tokenizer.codebook_init='data' runs


def with_budget(tr: pd.DataFrame) -> pd.DataFrame:
    """A copy with a ``budget`` column that groupby keeps (runs without the tag: ``NO_BUDGET``). A stage 1 other
    than the default (``tokenizer.codebook_init='data'``) is part of it: such runs are another training, never
    seeds of the default's rows."""
    out = tr.copy()
    budget = out["budget"] if "budget" in out else pd.Series(None, index=out.index, dtype=object)
    budget = budget.astype(object).where(budget.notna(), NO_BUDGET)
    if "codebook_init" in out:  # idempotent: trial_runs and the tables both call this
        data_init = out["codebook_init"].eq("data") & ~budget.astype(str).str.endswith(DATA_INIT)
        budget = budget.where(~data_init, budget.astype(str) + DATA_INIT)
    out["budget"] = budget
    return out


def trial_runs(runs: pd.DataFrame) -> pd.DataFrame:
    require_columns(runs, ["metrics.eval/norm_score"], "hierarchy-depth sweep")
    tr = with_protocol(runs[runs["metrics.eval/norm_score"].notna() & (runs["run_type"] != "sweep")])
    tr["K"] = run_k(tr)
    tr = tr[tr["K"].notna()]
    if tr.empty:
        raise NoRunsError(
            "no hierarchy-depth trial runs (eval/norm_score with a mage.K tag or tokenizer.num_scales)"
        )
    tr["K"] = tr["K"].astype(int)
    tr["method"] = tr["method"].fillna("mage")
    tr["dataset"] = tr["dataset"].fillna(
        tr.get("params.data.dataset", pd.Series(index=tr.index, dtype=object))
    )
    tr["dataset"] = tr["dataset"].fillna("unknown")
    if "seed" not in tr or tr["seed"].isna().all():
        tr["seed"] = pd.to_numeric(tr.get("params.train.seed"), errors="coerce")
    if {"codebook_init", "source_run_id"} <= set(tr):  # an evaluation-only run (--also-hold) has no params
        of_run = runs.drop_duplicates("run_id").set_index("run_id")["codebook_init"]
        tr["codebook_init"] = tr["codebook_init"].fillna(tr["source_run_id"].map(of_run))
    return with_budget(tr)


def summarise(tr: pd.DataFrame) -> pd.DataFrame:
    rows = []
    keys = ["method", "dataset", "budget", *PROTOCOL_KEYS, "K"]
    for (method, dataset, budget, *proto, k), g in with_budget(tr).groupby(keys, sort=True):
        mean, ci, n = mean_ci(g["metrics.eval/norm_score"])
        ep = g["metrics.eval/episodes"].dropna() if "metrics.eval/episodes" in g else pd.Series(dtype=float)
        rows.append(
            {
                "method": method,
                "dataset": dataset,
                "budget": budget,
                **dict(zip(PROTOCOL_KEYS, proto)),
                "switches": g["switches"].iloc[0],
                "protocol": g["protocol"].iloc[0],
                "K": int(k),
                "norm_score_mean": mean,
                "norm_score_ci95": ci,
                "norm_score_min": float(g["metrics.eval/norm_score"].min()),
                "norm_score_max": float(g["metrics.eval/norm_score"].max()),
                "n_seeds": n,
                "episodes_per_seed": int(ep.median()) if len(ep) else None,
                "seeds": ",".join(str(int(s)) for s in sorted(g["seed"].dropna().unique())),
                **run_diagnostics(g),
            }
        )
    return pd.DataFrame(rows)


TRAINING = {  # metric -> (column of the .md, digits): the end-of-stage validation numbers each trial logs
    "tok/val_rec": ("tokenizer val. reconstruction", 3),
    "tok/val_vq": ("tokenizer val. VQ loss", 3),
    "tok/dead_codes": ("dead codes", 0),
    "pol/val_ce": ("policy val. cross-entropy", 2),  # over every scale's tokens: its level depends on K
    "pol/val_acc": ("policy val. token accuracy", 2),
    "pol/val_plan_mse_near": ("plan MSE, steps 1-8", 3),  # the part acting='track' follows
    "pol/val_plan_mse": ("plan MSE, window", 3),  # greedy plan vs the real states: comparable across K
    "pol/val_plan_mse_s0": ("plan MSE of repeating s0", 3),  # the no-information plan on the same windows
    "time/train_s": ("train s", 0),
    "time/total_s": ("trial s", 0),  # training and its evaluation (--also-hold's evaluations are not timed)
}


def training(tr: pd.DataFrame) -> pd.DataFrame:
    """Per method × dataset × budget × K: the mean ± 95 % CI over seeds of the training metrics (``TRAINING``) of the
    runs that trained (evaluation-only runs, such as ``--also-hold``'s, carry none). Empty when none logged."""
    cols = [c for c in (f"metrics.{m}" for m in TRAINING) if c in tr]
    tr = with_budget(tr)
    trained = tr[tr[cols].notna().any(axis=1)] if cols else tr.iloc[0:0]
    rows = []
    for (method, dataset, budget, k), g in trained.groupby(["method", "dataset", "budget", "K"], sort=True):
        row = {"method": method, "dataset": dataset, "budget": budget, "K": int(k)}
        row["n_seeds"] = int(g["seed"].nunique())
        for c in cols:
            row[f"{c[len('metrics.') :]}_mean"], row[f"{c[len('metrics.') :]}_ci95"], _ = mean_ci(g[c])
        rows.append(row)
    return pd.DataFrame(rows)


def training_markdown(t: pd.DataFrame) -> str:
    shown = {"method": t["method"], "dataset": t["dataset"], "budget": t["budget"], "K": t["K"]}
    shown["seeds"] = t["n_seeds"]
    for m, (label, digits) in TRAINING.items():
        if f"{m}_mean" in t:
            shown[label] = [fmt_pm(a, b, digits) for a, b in zip(t[f"{m}_mean"], t[f"{m}_ci95"])]
    return to_markdown(pd.DataFrame(shown))


def contrast(tr: pd.DataFrame) -> pd.DataFrame:
    """The deepest K against the shallowest, per method × dataset × budget × protocol: the score difference
    paired by seed (seeds with both Ks), mean ± 95 % CI over those seeds, and whether it clears the CI."""
    rows = []
    keys = ["method", "dataset", "budget", *PROTOCOL_KEYS]
    for (method, dataset, budget, *proto), g in with_budget(tr).groupby(keys, sort=True):
        ks = sorted(g["K"].unique())
        if len(ks) < 2:
            continue
        lo, hi = ks[0], ks[-1]
        by_seed = g.groupby(["seed", "K"])["metrics.eval/norm_score"].mean().unstack("K")
        rows.append(
            {
                "method": method,
                "dataset": dataset,
                "budget": budget,
                **dict(zip(PROTOCOL_KEYS, proto)),
                "protocol": g["protocol"].iloc[0],
                "K_hi": int(hi),
                "K_lo": int(lo),
                **paired_difference(by_seed[hi], by_seed[lo], f"K = {hi}", f"K = {lo}"),
            }
        )
    return pd.DataFrame(rows)


def contrast_markdown(c: pd.DataFrame) -> str:
    contrast = [f"K = {h} − K = {lo}" for h, lo in zip(c["K_hi"], c["K_lo"])]
    lead = {"method": c["method"], "dataset": c["dataset"], "budget": c["budget"], "protocol": c["protocol"]}
    lead["contrast"] = contrast
    return paired_markdown(lead, c)


def markdown_table(table: pd.DataFrame) -> str:
    shown = pd.DataFrame(
        {
            "method": table["method"],
            "track": table["track"],
            "switches": table["switches"],
            "dataset": table["dataset"],
            "budget": table["budget"],
            "K": table["K"],
            "norm. score (95% CI)": [
                fmt_pm(m, c) for m, c in zip(table["norm_score_mean"], table["norm_score_ci95"])
            ],
            "seeds": table["n_seeds"],
            "episodes/seed": table["episodes_per_seed"],
            **diagnostic_cells(table),
        }
    )
    return to_markdown(shown)


def plot(table: pd.DataFrame, path: Path) -> Path:
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plotting.subplots_grid(len(datasets))
    for ax, ds in zip(axes, datasets):
        t = table[table["dataset"] == ds]
        several = t["budget"].nunique() > 1  # name the budget in the legend only where it tells lines apart
        for (method, budget, proto), tm in t.groupby(["method", "budget", "protocol"], sort=True):
            tm = tm.sort_values("K")
            plotting.line_with_band(
                ax,
                tm["K"],
                tm["norm_score_mean"],
                tm["norm_score_ci95"],
                label=f"{method}, {proto}{f', {budget}' if several else ''} (mean ± 95% CI)",
            )
        ks = sorted(t["K"].unique())
        if len(ks) > 1 and min(ks) > 0 and max(ks) / min(ks) >= 4:
            ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("hierarchy depth K (number of scales)")
        ax.set_ylabel(plotting.SCORE_LABEL)
        seeds = "/".join(str(n) for n in sorted(set(t["n_seeds"])))
        eps = "/".join(str(e) for e in sorted(set(t["episodes_per_seed"].dropna().astype(int))))
        ax.set_title(f"{ds}: score vs K\n{seeds} seed(s) per K, {eps or '?'} episodes per seed")
        ax.legend(loc="best")
    return plotting.save(fig, path)


def run(
    experiments: list[str],
    tracking_uri: str | None,
    out: Path,
    *,
    filter_string: str = "",
    cache: bool = True,
    log_to_mlflow: bool = False,
) -> pd.DataFrame:
    uri = tracking_uri or default_tracking_uri()
    runs = load_runs(experiments, uri, filter_string=filter_string, cache=cache)
    tr = trial_runs(runs)
    table = summarise(tr)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{NAME}.csv", index=False)
    diff = contrast(tr)
    diff.to_csv(out / f"{NAME}_contrast.csv", index=False)
    trained = training(tr)
    trained.to_csv(out / f"{NAME}_training.csv", index=False)
    md = markdown_table(table)
    if len(diff):
        md += "\n\nDeepest against shallowest K, per seed then averaged:\n\n" + contrast_markdown(diff)
    if len(trained):
        md += "\n\nWhat the trainings reached (end-of-stage validation; mean ± 95% CI over seeds):\n\n"
        md += training_markdown(trained)
        if "metrics.time/total_s" in tr:
            hours = tr["metrics.time/total_s"].sum() / 3600
            md += (
                f"\n\nWall time of the trials, summed: {hours:.1f} h (training and its evaluation; the extra "
                "--also-hold evaluations are not timed), times the CPUs each trial held."
            )
    note = (
        "Normalised score with D4RL reference returns; mean ± 95% Student-t CI over seeds. Track R = reward "
        "only, G = goal given; switches: own action or state tracking, + hold (docs/protocol.md).\n\n"
        + DIAGNOSTICS_NOTE
    )
    md_path = report.write_markdown(out / f"{NAME}.md", "Hierarchy depth", experiments, md, note)
    files = [
        out / f"{NAME}.csv",
        out / f"{NAME}_contrast.csv",
        out / f"{NAME}_training.csv",
        md_path,
        plot(table, out / f"{NAME}.png"),
    ]
    report.announce(md, files)
    if log_to_mlflow:
        sweeps = runs[runs["run_type"] == "sweep"].sort_values("start_time")
        parents = sweeps["run_id"] if len(sweeps) else tr.sort_values("start_time")["parent_run_id"].dropna()
        report.log_to_parent(uri, parents, files, missing="no sweep parent run found")
    return table


def main(argv: list[str] | None = None) -> int:
    p = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME)
    p.add_argument(
        "--log-to-mlflow", action="store_true", help="attach the table and plot to the sweep's parent run"
    )
    a = p.parse_args(argv)
    return report.run_cli(run, a, experiment=EXPERIMENT, name=NAME, log_to_mlflow=a.log_to_mlflow)


if __name__ == "__main__":
    sys.exit(main())
