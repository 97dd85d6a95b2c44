"""Pruning report: what ASHA saved and what it cost, from two searches over the same configs (ASHA and FIFO).

``sweeps/search.py --scheduler fifo`` with the same ``--sampler-seed`` and settings proposes the same configs as
the ASHA run while TPE is in its random start-up (Optuna's TPESampler samples its first 10 trials at random from
its seed), so the trials of the two sweeps pair up by their searched params. Per config: FIFO's final score,
ASHA's outcome (its score, or stopped after N stage-2 epochs), each trial's wall seconds. Totals: trial-seconds
and sweep wall of each, the share ASHA saved, and whether ASHA kept FIFO's best config (regret = FIFO's best
score minus FIFO's score of ASHA's pick). Writes ``pruning.md``, ``pruning.csv`` and ``pruning.png`` under --out.

    python analysis/pruning.py --asha NAME_OR_RUN_ID --fifo NAME_OR_RUN_ID [--experiment mage-search]
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import plotting, report
from analysis.search import SCORE, _value, search_space
from analysis.tables import to_markdown
from mage.tracking.query import NoRunsError, load_runs
from mage.tracking.store import default_tracking_uri

EXPERIMENT = "mage-search"
NAME = "pruning"
_EPOCHS = re.compile(r"after (\d+) stage-2 epoch")


def find_parent(runs: pd.DataFrame, key: str, flag: str) -> pd.Series:
    """The sweep parent run whose id or name is ``key`` (the latest of that name)."""
    sweeps = runs[runs["run_type"] == "sweep"].sort_values("start_time")
    hit = sweeps[(sweeps["run_id"] == key) | (sweeps["run_name"] == key)]
    if hit.empty:
        names = ", ".join(sorted(set(sweeps["run_name"].dropna()))) or "none"
        raise NoRunsError(
            f"{flag} {key}: no sweep parent run with that id or name (sweep parents here: {names})"
        )
    return hit.iloc[-1]


def _config_key(row: dict[str, Any], space: dict[str, Any]) -> tuple:
    out = []
    for k, dist in space.items():
        v = _value(row.get(f"params.{k}"), dist)
        out.append(float(f"{v:.6g}") if isinstance(v, float) else v)
    return tuple(out)


def trial_table(runs: pd.DataFrame, parent: pd.Series, space: dict[str, Any]) -> pd.DataFrame:
    """One row per finished trial of ``parent``: config key, outcome, score, stage-2 epochs run, wall seconds."""
    rows = []
    for r in runs[runs["parent_run_id"] == parent["run_id"]].to_dict("records"):
        stopped = r.get("tags.mage.stopped_early")
        score = r.get(SCORE)
        if isinstance(stopped, str):
            m = _EPOCHS.search(stopped)
            outcome, epochs = "stopped", int(m.group(1)) if m else math.nan
        elif r["status"] == "FINISHED" and score is not None and not math.isnan(score):
            outcome, epochs = "finished", pd.to_numeric(r.get("params.train.policy_epochs"), errors="coerce")
        elif r["status"] in ("FAILED", "KILLED"):
            outcome, epochs = "failed", math.nan
        else:
            continue  # still running
        rows.append({"config": _config_key(r, space), "outcome": outcome, "score": score if outcome == "finished"
                     else math.nan, "epochs": epochs, "wall_s": r.get("duration_s"), "run_id": r["run_id"]})  # fmt: skip
    if not rows:
        raise NoRunsError(f"sweep {parent['run_name']} ({parent['run_id']}) has no finished trial runs")
    return pd.DataFrame(rows)


def compare(asha: pd.DataFrame, fifo: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Configs of both sweeps side by side, and the totals (saved share, ASHA's pick, regret)."""
    both = fifo.merge(asha, on="config", how="outer", suffixes=("_fifo", "_asha"), indicator=True)
    paired = both[both["_merge"] == "both"].drop(columns="_merge")
    if paired.empty:
        raise NoRunsError(
            "no config ran in both sweeps: run both with the same --sampler-seed, --num-samples <= 10 and the "
            "same settings (TPE samples at random from its seed only for its first 10 trials)"
        )
    fifo_best = paired.loc[paired["score_fifo"].idxmax()]
    done = paired[paired["outcome_asha"] == "finished"]
    pick = done.loc[done["score_asha"].idxmax()] if len(done) else None
    fifo_s, asha_s = float(paired["wall_s_fifo"].sum()), float(paired["wall_s_asha"].sum())
    summary = {
        "paired configs": len(paired),
        "unpaired trials": int((both["_merge"] != "both").sum()),
        "ASHA stopped": int((paired["outcome_asha"] == "stopped").sum()),
        "stage-2 epochs, FIFO": float(paired["epochs_fifo"].sum()),
        "stage-2 epochs, ASHA": float(paired["epochs_asha"].sum()),
        "trial-seconds, FIFO": fifo_s,
        "trial-seconds, ASHA": asha_s,
        "trial-seconds saved by ASHA (%)": 100 * (1.0 - asha_s / fifo_s) if fifo_s > 0 else math.nan,
        "FIFO best score": float(fifo_best["score_fifo"]),
        "ASHA kept FIFO's best config": pick is not None and pick["config"] == fifo_best["config"],
        "FIFO score of ASHA's pick": float(pick["score_fifo"]) if pick is not None else math.nan,
        "regret (FIFO best - FIFO score of ASHA's pick)": (
            float(fifo_best["score_fifo"] - pick["score_fifo"]) if pick is not None else math.nan
        ),
    }
    return paired.sort_values("score_fifo", ascending=False, ignore_index=True), summary


def _outcome(r: pd.Series) -> str:
    if r["outcome_asha"] == "stopped":
        return f"stopped after {int(r['epochs_asha'])} epochs"
    return f"{r['score_asha']:.1f}" if r["outcome_asha"] == "finished" else str(r["outcome_asha"])


def plot(paired: pd.DataFrame, labels: list[str], out: Path) -> Path:
    """Wall seconds of each config under FIFO and ASHA, FIFO's best first."""
    import numpy as np

    fig, ax = plotting.subplots_grid(1, width=8.0, height=0.45 * len(paired) + 1.4)
    y = np.arange(len(paired))
    ax = ax[0]
    ax.barh(y - 0.2, paired["wall_s_fifo"], 0.4, label="FIFO (every trial to the end)")
    ax.barh(y + 0.2, paired["wall_s_asha"], 0.4, label="ASHA")
    for i, r in paired.iterrows():
        ax.text(float(r["wall_s_fifo"]), i - 0.2, f" {r['score_fifo']:.1f}", va="center", fontsize=7)
        ax.text(float(r["wall_s_asha"]), i + 0.2, f" {_outcome(r)}", va="center", fontsize=7)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("trial wall seconds (label: final eval/norm_score, or where ASHA stopped it)")
    ax.legend(loc="lower right")
    return plotting.save(fig, out / f"{NAME}.png")


def run(
    experiments: list[str],
    tracking_uri: str | None,
    out: Path,
    *,
    asha: str,
    fifo: str,
    filter_string: str = "",
    cache: bool = True,
) -> pd.DataFrame:
    uri = tracking_uri or default_tracking_uri()
    runs = load_runs(experiments, uri, filter_string=filter_string, cache=cache)
    parents = {"--asha": find_parent(runs, asha, "--asha"), "--fifo": find_parent(runs, fifo, "--fifo")}
    kids = runs[runs["parent_run_id"] == parents["--asha"]["run_id"]]
    space = search_space(kids, parents["--asha"])
    tables = {flag: trial_table(runs, p, space) for flag, p in parents.items()}
    paired, summary = compare(tables["--asha"], tables["--fifo"])
    labels = [", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(space, c)) for c in paired["config"]]
    table = pd.DataFrame({"config": labels, "FIFO score": paired["score_fifo"], "FIFO wall s": paired["wall_s_fifo"],
                          "ASHA": [_outcome(r) for _, r in paired.iterrows()],
                          "ASHA wall s": paired["wall_s_asha"]})  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{NAME}.csv", index=False)
    png = plot(paired, labels, out)
    totals = pd.DataFrame({"": list(summary), "value": [_fmt(v) for v in summary.values()]})
    md = f"### Per config (FIFO's best first)\n\n{to_markdown(table)}\n\n### Totals\n\n{to_markdown(totals)}"
    walls = {f: _fmt(float(p.get("duration_s") or math.nan)) for f, p in parents.items()}
    note = (f"ASHA sweep {parents['--asha']['run_name']} ({walls['--asha']} s wall) against FIFO sweep "
            f"{parents['--fifo']['run_name']} ({walls['--fifo']} s wall); configs paired by their searched "
            f"params ({', '.join(space)}).")  # fmt: skip
    md_path = report.write_markdown(out / f"{NAME}.md", "Pruning", experiments, md, note)
    report.announce(md, [md_path, out / f"{NAME}.csv", png])
    return table


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    p = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME)
    p.add_argument("--asha", required=True, help="the ASHA sweep: its parent run's name or id")
    p.add_argument(
        "--fifo", required=True, help="the FIFO sweep over the same configs: its parent run's name or id"
    )
    a = p.parse_args(argv)
    return report.run_cli(run, a, experiment=EXPERIMENT, name=NAME, asha=a.asha, fifo=a.fifo)


if __name__ == "__main__":
    sys.exit(main())
