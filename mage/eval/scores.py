"""Scores of an evaluation: the one Student-t CI (``mean_std_ci``) and the one episode summary (``summarize``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def mean_std_ci(x: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, sample std, CI half-width t_{(1+c)/2, n-1} * std / sqrt(n)); std 0 and CI NaN for n = 1."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        raise ValueError("mean_std_ci needs at least one value")
    if a.size == 1:
        return float(a[0]), 0.0, float("nan")
    std = float(a.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, a.size - 1)) * std / math.sqrt(a.size)
    return float(a.mean()), std, half


def summarize(episodes: pd.DataFrame, prefix: str = "eval/") -> dict[str, float]:
    """The ``eval/*`` metrics (docs/architecture.md) of one evaluation's episode table (one row per episode,
    the columns of ``eval/episodes.parquet``). A task without a goal (locomotion) gets no success rate and no
    goal diagnostics: "0 % success" would read as a failure."""
    ns_mean, ns_std, ns_ci = mean_std_ci(episodes["norm_score"].to_numpy(dtype=np.float64))
    ret_mean, ret_std, _ = mean_std_ci(episodes["return"].to_numpy(dtype=np.float64))
    out = {
        f"{prefix}norm_score": ns_mean,
        f"{prefix}norm_score_std": ns_std,
        f"{prefix}norm_score_ci95": ns_ci,
        f"{prefix}norm_score_ours": float(episodes["norm_score_ours"].mean()),
        f"{prefix}return_mean": ret_mean,
        f"{prefix}return_std": ret_std,
        f"{prefix}length_mean": float(episodes["length"].astype(float).mean()),
        f"{prefix}episodes": float(len(episodes)),
    }
    if not _has_goal(episodes):
        return out | _target(episodes, prefix)
    out[f"{prefix}success_rate"] = float(episodes["success"].astype(float).mean())
    if "first_arrival" in episodes:
        arrived = episodes[episodes["first_arrival"] >= 0]
        nan = float("nan")
        out[f"{prefix}first_arrival_median"] = (
            float(arrived["first_arrival"].median()) if len(arrived) else nan
        )
        out[f"{prefix}dwell_mean"] = float(arrived["dwell"].mean()) if len(arrived) else nan
        # Diffusion Veteran's absorbing count: a labelled diagnostic, not comparable with published tables.
        out[f"{prefix}norm_score_absorbing"] = float(episodes["norm_score_absorbing"].mean())
    return out | _target(episodes, prefix)


def _target(episodes: pd.DataFrame, prefix: str) -> dict[str, float]:
    if "target_return" not in episodes:
        return {}
    return {f"{prefix}target_return": float(episodes["target_return"].iloc[0])}


def _has_goal(episodes: pd.DataFrame) -> bool:
    """Whether the episodes' task has a goal (its ``dataset`` column names the task; without it, assume so)."""
    if "dataset" not in episodes or not len(episodes):
        return True
    return task_has_goal(str(episodes["dataset"].iloc[0]))


def task_has_goal(task: str) -> bool:
    """Whether ``task`` (a registered task or dataset name) has a goal, so that success, arrival and dwell mean
    something; an unknown name counts as having one (its diagnostics are shown, not hidden)."""
    from mage.envs.registry import get_spec

    try:
        return get_spec(task).has_goal
    except (KeyError, ValueError):
        return True


CELL_COLUMNS = ("start_x", "start_y", "goal_x", "goal_y")  # written by mage.eval.rollout for goal tasks


def cell_breakdown(episodes: pd.DataFrame, task: str) -> pd.DataFrame:
    """Success and median first arrival of a maze2d evaluation's episodes grouped three ways: by start cell, by
    goal cell, and by the shortest path between them in cells (moves between free neighbours). Where a maze
    policy fails is often one corner or one arm, which the pooled success rate hides. Columns: by, cell,
    episodes, success, first_arrival_median."""
    from mage.envs.maze_layouts import get_maze
    from mage.envs.registry import get_spec
    from mage.envs.waypoint_controller import GridPlanner

    spec = get_spec(task)
    if spec.maze is None:
        raise ValueError(f"{task} is not a maze2d task: cells are maze2d grid cells; pass a maze2d-* task")
    missing = [c for c in CELL_COLUMNS if c not in episodes or episodes[c].isna().all()]
    if missing:
        raise ValueError(
            f"the episodes have no {', '.join(missing)}: they were evaluated before start and goal positions "
            "were recorded; evaluate the checkpoint again (mage evaluate) to get them"
        )
    grid = GridPlanner(get_maze(spec.maze))
    start = np.rint(episodes[["start_x", "start_y"]].to_numpy(dtype=np.float64)).astype(np.int64)
    goal = np.rint(episodes[["goal_x", "goal_y"]].to_numpy(dtype=np.float64)).astype(np.int64)
    by_goal: dict[tuple[int, int], np.ndarray] = {}
    apart = np.empty(len(episodes), dtype=np.int64)
    for i, (g, s) in enumerate(zip(map(tuple, goal), start)):
        if g not in by_goal:
            by_goal[g] = grid.steps_to(g)
        apart[i] = by_goal[g][s[0], s[1]]
    table = pd.DataFrame(
        {
            "start": [f"({r}, {c})" for r, c in start],
            "goal": [f"({r}, {c})" for r, c in goal],
            "cells apart": apart,
            "success": episodes["success"].astype(float).to_numpy(),
            "first_arrival": pd.to_numeric(episodes["first_arrival"]).to_numpy(),
        }
    )
    rows = []
    for by in ("start", "goal", "cells apart"):
        for cell, g in table.groupby(by, sort=True):
            arrived = g["first_arrival"][g["first_arrival"] >= 0]
            rows.append(
                {
                    "by": by,
                    "cell": str(cell),
                    "episodes": len(g),
                    "success": float(g["success"].mean()),
                    "first_arrival_median": float(arrived.median()) if len(arrived) else math.nan,
                }
            )
    return pd.DataFrame(rows)
