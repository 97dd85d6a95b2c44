"""What the `mage` commands print after a run: the scores and where to look at them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def ui_hint() -> str:
    from mage.tracking.store import default_tracking_uri

    uri = default_tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return "open the MLflow UI with `mage ui` (then http://127.0.0.1:5000)"


def print_scores(metrics: dict[str, float], task: str | None = None) -> None:
    """Score line, then the goal diagnostics; ``task`` without a goal (locomotion) gets neither success nor
    arrival lines, which would only read 0 and nan."""
    from mage.envs.registry import get_spec

    has_goal = task is None or get_spec(task).has_goal
    ns, ci = metrics.get("eval/norm_score"), metrics.get("eval/norm_score_ci95")
    if ns is not None:
        success = f", success {metrics['eval/success_rate']:.2f}" if has_goal else ""
        print(
            f"normalised score {ns:.1f} ± {ci:.1f} (95% CI) over {int(metrics['eval/episodes'])} episodes, "
            f"return {metrics['eval/return_mean']:.1f}{success}"
        )
    if has_goal and "eval/first_arrival_median" in metrics:
        print(
            f"first arrival (median) {metrics['eval/first_arrival_median']:.0f} steps, dwell after arrival "
            f"{metrics['eval/dwell_mean']:.2f}; absorbing score {metrics['eval/norm_score_absorbing']:.1f} "
            "(diagnostic, not comparable with published tables)"
        )


def print_cells(episodes: pd.DataFrame, task: str) -> None:
    """``mage evaluate --by-cell``: success and median first arrival by start cell, goal cell and cells apart
    (``mage.eval.scores.cell_breakdown``), one line per cell."""
    import math

    from mage.eval.scores import cell_breakdown

    for by, g in cell_breakdown(episodes, task).groupby("by", sort=False):
        cells = [
            f"{r.cell}: {r.success:.0%} of {r.episodes}"
            + ("" if math.isnan(r.first_arrival_median) else f" (arrival {r.first_arrival_median:.0f})")
            for r in g.itertuples()
        ]
        print(f"by {by}: " + "; ".join(cells))
