"""RTG generalisation report: how the achieved score follows the target return R̂_0.

Reads the evaluation runs of the RTG study (``sweeps/rtg_generalization.py``; tags ``mage.rtg_kind`` ∈
{percentile, ood}, ``mage.rtg_value``) and writes, under --out:

- ``rtg_generalization.csv`` / ``.md``: normalised score mean ± 95 % CI per method × protocol × dataset × RTG
  target, with the target, the achieved return and the goal diagnostics beside it (protocol: track R/G and
  switches, docs/protocol.md; runs without the tags: R / own; protocols are never averaged together);
- ``rtg_score_vs_target.png``: score vs target with CI bands (one panel per dataset);
- ``rtg_achieved_vs_target.png``: achieved return vs target return with the identity line.

The CI is over source runs (training seeds) when a group has two or more, otherwise over the pooled
evaluation episodes (``ci_unit`` says which).

    python analysis/rtg_generalization.py [--experiment mage-rtg] [--tracking-uri URI] [--out DIR]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plotting, report
from analysis.tables import (
    DIAGNOSTICS_NOTE,
    PROTOCOL_KEYS,
    diagnostic_cells,
    episode_diagnostics,
    fmt_pm,
    mean_ci,
    require_columns,
    run_diagnostics,
    to_markdown,
    with_protocol,
)
from mage.tracking.query import NoRunsError, load_experiment_episodes, load_runs
from mage.tracking.store import default_tracking_uri

EXPERIMENT = "mage-rtg"
NAME = "rtg_generalization"
KIND_ORDER = {"percentile": 0, "ood": 1}


def target_label(kind: str, value: float) -> str:
    return f"p{value:g}" if kind == "percentile" else f"{value:g}×max"


def study_runs(runs: pd.DataFrame, parent: str | None = None) -> pd.DataFrame:
    """The RTG evaluation runs; `parent` = a parent run id, 'latest' (newest study) or None (all)."""
    require_columns(runs, ["rtg_kind", "rtg_value", "metrics.eval/norm_score"], "RTG study")
    ev = runs[runs["rtg_kind"].notna() & runs["metrics.eval/norm_score"].notna()].copy()
    if ev.empty:
        raise NoRunsError("no RTG evaluation runs (tags mage.rtg_kind/mage.rtg_value with eval/norm_score)")
    if parent == "latest":
        latest = ev.sort_values("start_time")["parent_run_id"].dropna()
        parent = latest.iloc[-1] if len(latest) else None
    if parent:
        ev = ev[ev["parent_run_id"] == parent]
        if ev.empty:
            raise NoRunsError(f"no RTG evaluation runs under parent run {parent}")
    ev = with_protocol(ev)
    ev["method"] = ev["method"].fillna("unknown")
    ev["dataset"] = ev["dataset"].fillna("unknown")
    return ev


def summarise(ev: pd.DataFrame, episodes: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (method, protocol, dataset, rtg_kind, rtg_value)."""
    if not {"switches", "protocol"} <= set(ev.columns):
        ev = with_protocol(ev)
    keys = ["method", *PROTOCOL_KEYS, "dataset", "rtg_kind", "rtg_value"]
    eps = episodes if episodes is not None and not episodes.empty else None
    rows = []
    for (method, *proto, dataset, kind, value), g in ev.groupby(keys, sort=False):
        row: dict[str, object] = {
            "method": method,
            **dict(zip(PROTOCOL_KEYS, proto)),
            "switches": g["switches"].iloc[0],
            "protocol": g["protocol"].iloc[0],
            "dataset": dataset,
            "rtg_kind": kind,
            "rtg_value": float(value),
            "target": target_label(kind, float(value)),
            "target_return": float(g["metrics.eval/target_return"].mean())
            if "metrics.eval/target_return" in g
            else math.nan,
            "target_norm_score": float(g["metrics.eval/target_norm_score"].mean())
            if "metrics.eval/target_norm_score" in g
            else math.nan,
            "n_runs": int(g["source_run_id"].nunique()) if g["source_run_id"].notna().any() else len(g),
        }
        ep = eps[eps["run_id"].isin(g["run_id"])] if eps is not None else None
        row["n_episodes"] = (
            int(len(ep))
            if ep is not None and len(ep)
            else int(g.get("metrics.eval/episodes", pd.Series([math.nan])).sum())
        )
        # evaluation seeds per run (the RTG sweep logs eval/seeds; older runs: unknown)
        seeds = g["metrics.eval/seeds"].dropna() if "metrics.eval/seeds" in g else pd.Series(dtype=float)
        row["eval_seeds"] = int(seeds.max()) if len(seeds) else None
        if row["n_runs"] >= 2:
            # training seeds are the independent unit; average each source run's episodes first
            per_src = g.groupby(g["source_run_id"].fillna(g["run_id"]))
            s_mean, s_ci, _ = mean_ci(per_src["metrics.eval/norm_score"].mean())
            r_mean, r_ci, _ = mean_ci(per_src["metrics.eval/return_mean"].mean())
            unit = "source runs"
        elif ep is not None and len(ep):
            s_mean, s_ci, _ = mean_ci(ep["norm_score"])
            r_mean, r_ci, _ = mean_ci(ep["return"])
            unit = "episodes"
        else:  # no per-episode artifact: the run's own summary
            s_mean = float(g["metrics.eval/norm_score"].iloc[0])
            s_ci = float(g.get("metrics.eval/norm_score_ci95", pd.Series([math.nan])).iloc[0])
            r_mean = float(g.get("metrics.eval/return_mean", pd.Series([math.nan])).iloc[0])
            r_ci = math.nan
            unit = "episodes (run summary)"
        row.update(
            norm_score_mean=s_mean, norm_score_ci95=s_ci, return_mean=r_mean, return_ci95=r_ci, ci_unit=unit
        )
        # goal diagnostics: pooled over the episodes when the artifacts are there, else the runs' metrics
        row.update(episode_diagnostics(ep) if ep is not None and len(ep) else run_diagnostics(g))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["_k"] = table["rtg_kind"].map(KIND_ORDER).fillna(9)
    table = table.sort_values(["method", "protocol", "dataset", "_k", "rtg_value"]).drop(columns="_k")
    return table.reset_index(drop=True)


def markdown_table(table: pd.DataFrame) -> str:
    shown = pd.DataFrame(
        {
            "method": table["method"],
            "track": table["track"],
            "switches": table["switches"],
            "dataset": table["dataset"],
            "target": table["target"],
            "target return": table["target_return"].map(lambda v: f"{v:.1f}"),
            "achieved return": [fmt_pm(m, c) for m, c in zip(table["return_mean"], table["return_ci95"])],
            "norm. score (95% CI)": [
                fmt_pm(m, c) for m, c in zip(table["norm_score_mean"], table["norm_score_ci95"])
            ],
            "runs": table["n_runs"],
            "episodes": table["n_episodes"],
            "CI over": table["ci_unit"],
            **diagnostic_cells(table),
        }
    )
    return to_markdown(shown)


def _subtitle(t: pd.DataFrame) -> str:
    def join(values) -> str:
        return "/".join(str(int(v)) for v in sorted(set(values)))

    seeds = t["eval_seeds"].dropna() if "eval_seeds" in t else pd.Series(dtype=float)
    eps = f"{join(t['n_episodes'])} episodes per target"
    if len(seeds):
        eps += f" ({join(seeds)} eval seed(s))"
    return f"{join(t['n_runs'])} source run(s), {eps}"


def plot_score_vs_target(table: pd.DataFrame, path: Path) -> Path:
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plotting.subplots_grid(len(datasets), width=5.4)
    for ax, ds in zip(axes, datasets):
        t = table[table["dataset"] == ds]
        order = (
            t[["rtg_kind", "rtg_value", "target"]]
            .drop_duplicates()
            .assign(_k=lambda d: d["rtg_kind"].map(KIND_ORDER))
            .sort_values(["_k", "rtg_value"])
        )
        pos = {lab: i for i, lab in enumerate(order["target"])}
        for (method, proto), tm in t.groupby(["method", "protocol"], sort=True):
            tm = tm.assign(_x=tm["target"].map(pos)).sort_values("_x")
            plotting.line_with_band(
                ax,
                tm["_x"],
                tm["norm_score_mean"],
                tm["norm_score_ci95"],
                label=f"{method}, {proto} (achieved, 95% CI)",
            )
        tgt = t.groupby("target")["target_norm_score"].mean()
        if tgt.notna().any():
            xs = [pos[k] for k in order["target"]]
            ax.plot(
                xs,
                [tgt.get(k, np.nan) for k in order["target"]],
                ls="--",
                color="grey",
                lw=1,
                marker="x",
                label="target R̂₀ (normalised)",
            )
        n_in = int((order["rtg_kind"] == "percentile").sum())
        if n_in < len(order):
            ax.axvspan(
                n_in - 0.5,
                len(order) - 0.5,
                color="tab:red",
                alpha=0.07,
                lw=0,
                label="out of distribution (> dataset max)",
            )
        crowded = len(order) > 6  # 9 default targets: slant the labels so they do not overlap
        ax.set_xticks(
            range(len(order)),
            list(order["target"]),
            rotation=30 if crowded else 0,
            ha="right" if crowded else "center",
        )
        ax.set_xlabel("RTG target R̂₀\npN: Nth percentile of dataset returns; N×max: out of distribution")
        ax.set_ylabel(plotting.SCORE_LABEL)
        ax.set_title(f"{ds}: score vs RTG target\n{_subtitle(t)}")
        ax.legend(loc="best")
    return plotting.save(fig, path)


def plot_achieved_vs_target(table: pd.DataFrame, path: Path) -> Path:
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plotting.subplots_grid(len(datasets))
    for ax, ds in zip(axes, datasets):
        t = table[table["dataset"] == ds]
        for (method, proto), tm in t.groupby(["method", "protocol"], sort=True):
            tm = tm.sort_values("target_return")
            err = tm["return_ci95"].fillna(0.0)
            ax.errorbar(
                tm["target_return"],
                tm["return_mean"],
                yerr=err,
                marker="o",
                capsize=3,
                lw=1.4,
                label=f"{method}, {proto} (mean ± 95% CI)",
            )
            span = float(t["target_return"].max() - t["target_return"].min()) or 1.0
            last_x = -math.inf
            for x, y, lab in zip(tm["target_return"], tm["return_mean"], tm["target"]):
                if x - last_x < 0.08 * span:  # targets close together: label only the first of a cluster
                    continue
                ax.annotate(lab, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
                last_x = x
        lo = float(
            np.nanmin([t["target_return"].min(), (t["return_mean"] - t["return_ci95"].fillna(0)).min()])
        )
        hi = float(
            np.nanmax([t["target_return"].max(), (t["return_mean"] + t["return_ci95"].fillna(0)).max()])
        )
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot(
            [lo - pad, hi + pad],
            [lo - pad, hi + pad],
            ls="--",
            color="black",
            lw=1,
            label="identity (achieved = target)",
        )
        ax.set_xlabel("target return R̂₀ (env return, sum of rewards)")
        ax.set_ylabel("achieved return (env return, sum of rewards)")
        ax.set_title(f"{ds}: achieved vs target return\n{_subtitle(t)}")
        ax.legend(loc="best")
    return plotting.save(fig, path)


def run(
    experiments: list[str],
    tracking_uri: str | None,
    out: Path,
    *,
    filter_string: str = "",
    parent: str | None = None,
    cache: bool = True,
    log_to_mlflow: bool = False,
) -> pd.DataFrame:
    uri = tracking_uri or default_tracking_uri()
    runs = load_runs(experiments, uri, filter_string=filter_string, cache=cache)
    ev = study_runs(runs, parent)
    episodes = load_experiment_episodes(experiments, uri, filter_string=filter_string, runs=ev, cache=cache)
    table = summarise(ev, episodes)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{NAME}.csv", index=False)
    md = markdown_table(table)
    note = (
        "Normalised score with D4RL reference returns; 95% Student-t CI. Track R = reward only, G = goal "
        "given; switches: own action or state tracking, + hold (docs/protocol.md).\n\n" + DIAGNOSTICS_NOTE
    )
    md_path = report.write_markdown(out / f"{NAME}.md", "RTG generalisation", experiments, md, note)
    files = [
        out / f"{NAME}.csv",
        md_path,
        plot_score_vs_target(table, out / "rtg_score_vs_target.png"),
        plot_achieved_vs_target(table, out / "rtg_achieved_vs_target.png"),
    ]
    report.announce(md, files)
    if log_to_mlflow:
        parents = ev.sort_values("start_time")["parent_run_id"].dropna()
        report.log_to_parent(
            uri,
            parents,
            files,
            missing="the runs have no parent run",
            run_id=parent if parent and parent != "latest" else None,
        )
    return table


def main(argv: list[str] | None = None) -> int:
    p = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME)
    p.add_argument(
        "--parent-run-id",
        default=None,
        help="only the study under this parent run ('latest' = the newest study; default: all)",
    )
    p.add_argument(
        "--log-to-mlflow", action="store_true", help="attach the table and plots to the study's parent run"
    )
    a = p.parse_args(argv)
    return report.run_cli(
        run, a, experiment=EXPERIMENT, name=NAME, parent=a.parent_run_id, log_to_mlflow=a.log_to_mlflow
    )


if __name__ == "__main__":
    sys.exit(main())
