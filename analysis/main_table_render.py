"""Rendering of the main table (``analysis/main_table.py``): markdown, LaTeX and the PNG bar chart.

Measured rows (ours: MAGE and the baselines trained and evaluated on this platform, ± = 95 % CI over seeds) and
quoted rows (``analysis/paper_numbers.py``, ± = the paper's std) are never mixed: the markdown and LaTeX mark
quoted rows, and the bar chart draws them in a panel of their own.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from analysis import paper_numbers as paper
from analysis.tables import (
    DIAGNOSTIC_TITLES,
    DIAGNOSTICS,
    DIAGNOSTICS_NOTE,
    EPISODE_CI_MARK,
    diagnostic_cells,
    fmt_diagnostic,
    fmt_pm,
    to_markdown,
)

SUITE_TITLES = {
    "maze2d": "Maze2D (single task)",
    "multi2d": "Multi2D (random goal)",
    "maze2d-dense": "Maze2D dense",
    "maze2d-dense-multi": "Multi2D dense",
}


# Display names of the methods our runs tag (mage.method); others show as tagged.
METHOD_TITLES = {
    "mage": "MAGE",
    "mage-goal": "MAGE-goal",
    "bc": "BC",
    "cql": "CQL",
    "iql": "IQL",
    "td3bc": "TD3+BC",
    "awac": "AWAC",
    "bcq": "BCQ",
    "bear": "BEAR",
    "crr": "CRR",
    "rebrac": "ReBRAC",
    "plas": "PLAS",
    "dt": "DT",
    "bc-goal": "BC-goal",
    "iql-goal": "IQL-goal",
    "dt-goal": "DT-goal",
    "diffuser": "Diffuser",
    "hd": "HD",
    "dd": "DD",
    "mppi": "MPPI",
}


def _measured_label(method: str) -> str:
    """``MAGE (ours, measured)``; a baseline trained and evaluated here: ``IQL (measured here)``; a row at a
    non-default R̂_0 (``mage-goal@p50``): ``MAGE-goal (ours, measured, R̂₀ p50)``; a named row
    (``mage[GPU budget]``): ``MAGE (ours, measured, GPU budget)``."""
    method, _, name = method.partition("[")
    method, _, rtg = method.partition("@")
    extra = (f", R̂₀ {rtg}" if rtg else "") + (f", {name.rstrip(']')}" if name else "")
    if method in ("mage", "mage-goal"):
        return f"{METHOD_TITLES[method]} (ours, measured{extra})"
    return f"{METHOD_TITLES.get(method, method)} (measured here{extra})"


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


def _cell(v: float, pm: float | None, over: object = "seeds") -> str:
    return fmt_pm(v, pm if pm is not None else math.nan, over=over)


def diagnostics_rows(meas: pd.DataFrame) -> pd.DataFrame:
    """Markdown rows of the diagnostics table: one per measured method × protocol × dataset."""
    m = meas.sort_values(["suite", "method", "protocol", "dataset"], kind="stable")
    return pd.DataFrame(
        {
            **_measured_cells(m),
            "norm. score (95% CI)": [
                fmt_pm(a, c, over=o) for a, c, o in zip(m["mean"], m["ci95"], m["ci_over"])
            ],
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
                    paper.MAZE_TITLES[m]: [_cell(v, p, o) for v, p, o in zip(t[m], t[f"{m}_pm"], _over(t, m))]
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
                "norm. score (95% CI)": [
                    fmt_pm(m, c, over=o) for m, c, o in zip(other["mean"], other["ci95"], other["ci_over"])
                ],
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
        "ours, ± is the 95% Student-t CI over seeds; ᵉ marks a cell of one seed, whose ± is the 95% CI over its "
        "episodes. avg is shown only when all three mazes are measured.\n\n"
        "Protocol (docs/protocol.md): track R = reward only (state and target return), G = the goal is given "
        "to the agent; switches: own = the agent's own action, track = a controller follows its planned "
        "states, + hold = privileged hold at the goal once there. Rows of different protocols are separate "
        "and never averaged. Quoted protocols from shared/spec/protocol.md: Diffuser and HD give the goal, "
        "track and hold (open loop); MAGE's is not published (G?); ? = not stated. Measured runs without "
        "protocol tags (older runs) are R / own. seeds × episodes: seeds per maze × episodes per seed."
    )
    return note + "\n\n" + "\n\n".join(parts)


def _over(t: pd.DataFrame, maze: str) -> list[object]:
    """Per row, what the ± of ``maze`` is over (quoted rows: not a CI; measured: seeds or episodes)."""
    return list(t[f"{maze}_over"]) if f"{maze}_over" in t else ["seeds"] * len(t)


def _tex_cell(cell: str) -> str:
    return cell.replace("±", "$\\pm$").replace(EPISODE_CI_MARK, "$^{e}$").replace("—", "--")


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
            "copied from the papers (± = reported std); bold rows are measured here (± = 95\\% CI over seeds; "
            "$^{e}$: one seed, the CI over its episodes). "
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
            cells = [_tex_cell(_cell(d[m], d[f"{m}_pm"], d.get(f"{m}_over"))) for m in paper.MAZES]
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
            _tex_cell(fmt_pm(r["mean"], r["ci95"], over=r.get("ci_over"))),
        ]
        cells += [_tex(fmt_diagnostic(d, r[d])).replace("—", "--") for d in DIAGNOSTICS]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines)


def plot(table: pd.DataFrame, path: Path) -> Path:
    """One row of panels per suite: measured rows (bars with 95 % CI whiskers; label = method, track,
    switches, seeds x episodes) beside the quoted rows (hatched, the paper's std). Bars per maze and average."""
    import numpy as np

    from analysis import plotting

    suites = list(dict.fromkeys(table["suite"]))
    fig, axes = plotting.subplots_grid(2 * len(suites), width=6.4, height=3.8, max_cols=2)
    cols = [*paper.MAZES, "avg"]
    x = np.arange(len(cols))
    for i, suite in enumerate(suites):
        t = table[table["suite"] == suite]
        for ax, kind in zip(axes[2 * i : 2 * i + 2], ("measured", "quoted")):
            rows = t[t["kind"] == kind]
            width = 0.8 / max(len(rows), 1)
            for j, r in enumerate(rows.to_dict("records")):
                vals = np.array([float(r[c]) for c in cols])
                err = np.array([float(r.get(f"{c}_pm") or 0.0) for c in cols])
                ok = np.isfinite(vals)  # a cell not measured / not reported draws no bar
                label = f"{r['method']} [{r['track']} / {r['switches']}]"
                if kind == "measured":
                    label += f" {r['seeds_x_episodes']}"
                ax.bar(
                    (x + (j - (len(rows) - 1) / 2) * width)[ok], vals[ok], width, yerr=np.nan_to_num(err[ok]),
                    capsize=2, label=label, hatch="//" if kind == "quoted" else None,
                    alpha=0.6 if kind == "quoted" else 1.0,
                )  # fmt: skip
            pm = "95% CI over seeds, or episodes with one seed" if kind == "measured" else "paper's std"
            ax.set_title(f"{SUITE_TITLES.get(suite, suite)}: {kind} (± {pm})")
            ax.set_xticks(x, [paper.MAZE_TITLES.get(c, c) for c in cols])
            ax.set_ylabel(plotting.SCORE_LABEL)
            if len(rows):
                ax.legend(fontsize=6, loc="upper left", ncol=1 + len(rows) // 8)
            else:
                ax.text(0.5, 0.5, f"no {kind} rows", ha="center", transform=ax.transAxes)
    return plotting.save(fig, path)
