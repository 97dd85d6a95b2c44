"""Where a maze2d evaluation succeeds and fails: success and median first arrival by start cell, goal cell and
the shortest path between them (``mage.eval.scores.cell_breakdown``), from a run's ``eval/episodes.parquet``.

    python analysis/goal_cells.py --run-id RUN [--tracking-uri URI] [--out DIR]     # goal_cells.md / .csv

The pooled success rate hides a failing corner or arm: a goal-conditioned umaze model that reaches the goal from
every start in the lower arm and from none in the upper arm has the same success rate as one that fails at
random (docs/results.md, "Multi2D on 2 CPU cores")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis import plotting, report
from analysis.tables import to_markdown
from mage.errors import CliError, guarded
from mage.eval.scores import cell_breakdown
from mage.tracking.query import load_episodes
from mage.tracking.store import check_tracking_reachable, default_tracking_uri

NAME = "goal_cells"


def render(table: pd.DataFrame) -> str:
    """One markdown table per grouping (start cell, goal cell, cells apart)."""
    parts = []
    for by, g in table.groupby("by", sort=False):
        shown = pd.DataFrame(
            {
                by: g["cell"],
                "episodes": g["episodes"],
                "success": [f"{100 * v:.0f}%" for v in g["success"]],
                "first arrival (median step)": [
                    "—" if pd.isna(v) else f"{v:.0f}" for v in g["first_arrival_median"]
                ],
            }
        )
        parts.append(f"### By {by}\n\n{to_markdown(shown)}")
    return "\n\n".join(parts)


def run(run_id: str, tracking_uri: str | None, out: Path) -> pd.DataFrame:
    episodes = load_episodes(run_id, tracking_uri=tracking_uri or default_tracking_uri())
    where = "task" if "task" in episodes else "dataset"  # the same maze; older tables have no task column
    tasks = episodes[where].dropna().unique() if where in episodes else []
    if len(tasks) != 1:
        raise CliError(f"run {run_id} has episodes of {len(tasks)} tasks; pass the run of one evaluation")
    try:
        table = cell_breakdown(episodes, str(tasks[0]))
    except ValueError as e:
        raise CliError(f"run {run_id}: {e}") from e
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{NAME}.csv", index=False)
    md = render(table)
    note = f"{len(episodes)} episodes on {tasks[0]}; cells apart = moves between free neighbouring cells."
    md_path = report.write_markdown(out / f"{NAME}.md", "Success by cell", [f"run {run_id}"], md, note)
    report.announce(md, [md_path, out / f"{NAME}.csv"])
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--run-id", required=True, help="MLflow run id of an evaluation (its eval/episodes.parquet)"
    )
    p.add_argument("--tracking-uri", default=None, help="MLflow store (default: the project's sqlite store)")
    p.add_argument("--out", type=Path, default=None, help=f"output folder (default analysis/out/{NAME})")
    a = p.parse_args(argv)

    def call() -> int:
        check_tracking_reachable(a.tracking_uri)
        run(a.run_id, a.tracking_uri, a.out or plotting.default_out(NAME))
        return 0

    return guarded(f"analysis/{NAME}.py", call)


if __name__ == "__main__":
    sys.exit(main())
