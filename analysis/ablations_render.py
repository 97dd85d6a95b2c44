"""Rendering of the ablation table (``analysis/ablations.py``): markdown, LaTeX, the long CSV and the PNG.

Measured cells (ours, ± = 95 % Student-t CI over seeds; the IQM column: [95 % stratified-bootstrap CI]) and the
paper's quoted cells (marked ``(quoted)``; † = a dataset we do not run) are in separate columns and panels.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from analysis import aggregate
from analysis import paper_numbers as paper
from analysis.main_table_render import _seeds_x_episodes, _tex
from analysis.tables import diagnostic_cells, fmt_pm, paired_markdown, to_markdown

NOTE = (
    "Normalised score (D4RL reference returns, 100 = expert). Measured cells: mean ± 95% Student-t CI over "
    "seeds. IQM: interquartile mean of all runs of the row (seeds × datasets) with a 95% stratified-bootstrap "
    "CI [lo, hi] (runs resampled within each dataset; analysis/aggregate.py, the rliable recipe); * = the row "
    "misses some of the table's datasets, so its IQM is not comparable with the full rows. K: the hierarchy "
    "depth the row's runs had (a preset's ours need not be the paper's K = 8). Paper columns are "
    "QUOTED from the MAGE paper's ablation table (shared/spec/method.md §10.3, secondary source [S]); † = the "
    "paper's dataset (Adroit) is not one we run: compare rankings, never numbers. — = not measured / not "
    "reported. Track R = reward only, G = goal given; switches: own action or state tracking, + hold "
    "(docs/protocol.md); rows of different protocols are separate."
)


def _differs(pds: str, datasets: list[str]) -> bool:
    """A quoted dataset we have no measured column of (always, for the paper's Adroit datasets)."""
    return pds not in datasets


def quoted_header(pds: str, datasets: list[str]) -> str:
    return f"{pds}{'†' if _differs(pds, datasets) else ''} (paper, quoted)"


def quoted_cell(v: float) -> str:
    return "—" if v is None or math.isnan(v) else f"{v:.1f} (quoted)"


def iqm_cell(r: dict) -> str:
    if not r.get("measured") or r.get("iqm") is None or math.isnan(r["iqm"]):
        return "—"
    iv = aggregate.Interval("iqm", r["iqm"], r["iqm_lo"], r["iqm_hi"], 0.95, 0, r["n_tasks"], r["n_runs"])
    return aggregate.fmt_interval(iv) + ("" if r["all_tasks"] else " *")


def seeds_x_episodes(r: dict, datasets: list[str]) -> str:
    if not r.get("measured"):
        return "—"
    got = [d for d in datasets if not pd.isna(r.get(f"{d}_n"))]
    return _seeds_x_episodes([r[f"{d}_n"] for d in got], [r[f"{d}_episodes"] for d in got])


def _text(v: object) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def markdown(table: pd.DataFrame, datasets: list[str], *, reps: int = aggregate.DEFAULT_REPS) -> str:
    recs = table.to_dict("records")
    shown = pd.DataFrame(
        {
            "row": [f"**{r['row']}**" if r["measured"] else f"{r['row']} *(quoted only)*" for r in recs],
            "paper row": [r["label"] for r in recs],
            "K": [_text(r.get("K")) if r["measured"] else "—" for r in recs],
            "track": [_text(r.get("track")) if r["measured"] else "—" for r in recs],
            "switches": [_text(r.get("switches")) if r["measured"] else "—" for r in recs],
            **{ds: [fmt_pm(r[ds], r[f"{ds}_ci"]) for r in recs] for ds in datasets},
            "IQM [95% CI]": [iqm_cell(r) for r in recs],
            "seeds × episodes": [seeds_x_episodes(r, datasets) for r in recs],
            **{
                quoted_header(p, datasets): [quoted_cell(r[f"q:{p}"]) for r in recs]
                for p in paper.ABLATION_DATASETS
            },
            "overrides": [_text(r.get("overrides")) for r in recs],
        }
    )
    note = f"{NOTE} Bootstrap: {reps} resamples. Quoted source: {paper.ABLATION_SOURCE}."
    return note + "\n\n" + to_markdown(shown)


def against_ours_markdown(diff: pd.DataFrame) -> str:
    """``ablations.against_ours`` as a markdown table."""
    lead = {"row": diff["row"], "paper row": diff["label"], "dataset": diff["dataset"]}
    return paired_markdown({**lead, "protocol": diff["protocol"]}, diff, "row − ours")


def diagnostics_markdown(cell: pd.DataFrame) -> str:
    """The goal diagnostics of ``ablations.diagnostics`` (one line per row × protocol × dataset)."""
    lead = {"row": cell["row"], "paper row": cell["label"], "dataset": cell["dataset"]}
    return to_markdown(
        pd.DataFrame({**lead, "protocol": cell["protocol"], "runs": cell["n"], **diagnostic_cells(cell)})
    )


def latex(table: pd.DataFrame, datasets: list[str]) -> str:
    heads = ["Row", "Track", "Switches", *map(_tex, datasets), "IQM [95\\% CI]"]
    dagger = "$^\\dagger$"
    heads += [f"{p}{dagger if _differs(p, datasets) else ''}$^q$" for p in paper.ABLATION_DATASETS]
    lines = [
        "\\begin{table}[t]",
        "\\centering",
        "\\caption{Ablations. Measured cells: mean $\\pm$ 95\\% CI over seeds; IQM over seeds $\\times$ datasets with "
        "a 95\\% stratified-bootstrap CI (* = not all datasets). Columns marked $^q$ are quoted from the MAGE "
        "paper ($^\\dagger$ Adroit datasets, not run here: compare rankings only). Track R = reward only, G = goal "
        "given; switches: own action or state tracking, + hold.}",
        "\\begin{tabular}{lll" + "c" * (len(heads) - 3) + "}",
        "\\toprule",
        " & ".join(heads) + " \\\\",
        "\\midrule",
    ]  # fmt: skip
    for r in table.to_dict("records"):
        name = _tex(f"{r['row']} ({r['label']})")
        name = f"\\textbf{{{name}}}" if r["measured"] else name
        cells = (
            [_tex(_text(r.get("track"))), _tex(_text(r.get("switches")))] if r["measured"] else ["--", "--"]
        )
        cells += [fmt_pm(r[ds], r[f"{ds}_ci"]) for ds in datasets] + [iqm_cell(r)]
        cells = [c.replace("±", "$\\pm$").replace("—", "--") for c in cells]
        cells += [
            quoted_cell(r[f"q:{p}"]).replace(" (quoted)", "$^q$").replace("—", "--")
            for p in paper.ABLATION_DATASETS
        ]
        lines.append(name + " & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", f"% quoted source: {paper.ABLATION_SOURCE}"]
    return "\n".join(lines) + "\n"


def long_table(
    table: pd.DataFrame, datasets: list[str], aggs: dict[tuple, dict[str, aggregate.Interval]]
) -> pd.DataFrame:
    """The CSV: measured cells (mean, Student-t CI), the row aggregates (each statistic, bootstrap CI) and the
    quoted cells (kind quoted, ``dataset_differs``), one line each, with the protocol and overrides."""
    keys = ["row", "label", "track", "acting", "hold", "switches", "protocol", "overrides"]
    out, quoted = [], set()
    for r in table.to_dict("records"):
        base = {k: r.get(k) for k in keys}
        if r["measured"]:
            for ds in datasets:
                if pd.isna(r.get(f"{ds}_n")):
                    continue
                m, c = r[ds], r[f"{ds}_ci"]
                out.append({**base, "kind": "measured", "statistic": "mean", "dataset": ds, "score": m,
                            "ci_lo": m - c, "ci_hi": m + c, "ci": "95% Student-t over seeds",
                            "seeds": r[f"{ds}_n"], "episodes": r[f"{ds}_episodes"]})  # fmt: skip
            for name, iv in aggs[(r["row"], r["track"], r["acting"], r["hold"])].items():
                out.append({**base, "kind": "measured", "statistic": name, "dataset": "all tasks",
                            "score": iv.point, "ci_lo": iv.lo, "ci_hi": iv.hi,
                            "ci": f"{iv.level:.0%} stratified bootstrap ({iv.reps} resamples)",
                            "seeds": iv.n_runs, "n_tasks": iv.n_tasks})  # fmt: skip
        for p in paper.ABLATION_DATASETS:  # once per paper row, whatever protocols we measured it under
            if not math.isnan(r[f"q:{p}"]) and (r["row"], p) not in quoted:
                quoted.add((r["row"], p))
                out.append({**{k: r.get(k) for k in ("row", "label")}, "kind": "quoted", "statistic": "reported",
                            "dataset": p, "score": r[f"q:{p}"], "ci": "none reported",
                            "dataset_differs": _differs(p, datasets), "source": paper.ABLATION_SOURCE})  # fmt: skip
    return pd.DataFrame(out)


def plot(table: pd.DataFrame, datasets: list[str], path: Path) -> Path:
    """Panels: one per measured dataset (bars with 95 % CI whiskers), the IQM across datasets (bootstrap CI),
    and the paper's quoted numbers (hatched, their own panel: other datasets)."""
    import numpy as np

    from analysis import plotting

    meas = table[table["measured"]].to_dict("records")
    fig, axes = plotting.subplots_grid(len(datasets) + 2, width=5.2, height=3.8, max_cols=3)
    labels = [f"{r['row']} [{r['track']} / {r['switches']}]" for r in meas]
    x = np.arange(len(meas))
    for ax, ds in zip(axes, datasets):
        vals = np.array([r[ds] for r in meas], float)
        err = np.nan_to_num(np.array([r[f"{ds}_ci"] for r in meas], float))
        ok = np.isfinite(vals)
        ax.bar(x[ok], vals[ok], yerr=err[ok], capsize=3, color=[f"C{i}" for i in x[ok]])
        n = sorted({int(r[f"{ds}_n"]) for r in meas if not pd.isna(r[f"{ds}_n"])})
        ax.set_title(f"{ds}: mean ± 95% CI ({'/'.join(map(str, n))} seeds)")
    ax = axes[len(datasets)]
    vals = np.array([r["iqm"] for r in meas], float)
    err = np.array([[r["iqm"] - r["iqm_lo"] for r in meas], [r["iqm_hi"] - r["iqm"] for r in meas]], float)
    ax.bar(x, vals, yerr=err, capsize=3, color=[f"C{i}" for i in x])
    ax.set_title("IQM across datasets (95% stratified bootstrap CI; * partial)")
    partial = [f"{lab} *" if not r["all_tasks"] else lab for lab, r in zip(labels, meas)]
    for i, a in enumerate(axes[: len(datasets) + 1]):  # * = a row missing some datasets (its IQM is partial)
        a.set_xticks(x, partial if i == len(datasets) else labels, rotation=35, ha="right", fontsize=7)
        a.set_ylabel(plotting.SCORE_LABEL)
    ax = axes[-1]
    qcols = [f"q:{p}" for p in paper.ABLATION_DATASETS]
    q = table.drop_duplicates("row")  # one bar group per paper row, whatever protocols we measured it under
    q = q[[not all(math.isnan(v) for v in vals) for vals in q[qcols].values]]
    qx = np.arange(len(paper.ABLATION_DATASETS))
    width = 0.8 / max(len(q), 1)
    for j, r in enumerate(q.to_dict("records")):
        v = np.array([r[f"q:{p}"] for p in paper.ABLATION_DATASETS], float)
        ax.bar(qx + (j - (len(q) - 1) / 2) * width, v, width, hatch="//", alpha=0.6, label=r["label"])
    ax.set_xticks(qx, [f"{p}{'†' if _differs(p, datasets) else ''}" for p in paper.ABLATION_DATASETS])
    ax.set_title("paper, QUOTED († other datasets: not comparable)")
    ax.legend(fontsize=6, loc="upper right")
    return plotting.save(fig, path)
