"""Dataset statistics for ``mage data info``."""

from __future__ import annotations

from typing import Any

import numpy as np

from mage.data.episodes import split_episodes
from mage.envs.maze2d import GOAL_RADIUS


def _summary(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}


def dataset_stats(data: dict[str, Any], goal_xy: np.ndarray | None = None) -> dict[str, Any]:
    """Steps, episodes (raw and Diffuser re-split when ``goal_xy`` is given), lengths, returns, success rate
    (fraction of raw episodes that come within 0.5 of the fixed goal), observation and action ranges."""
    raw = split_episodes(data)
    out: dict[str, Any] = {
        "steps": int(raw.num_steps),
        "episodes": int(raw.num_episodes),
        "length": _summary(raw.lengths_E.astype(np.float64)),
        "return": _summary(raw.returns_E),
        "obs_min": raw.obs_NS.min(axis=0).tolist(),
        "obs_max": raw.obs_NS.max(axis=0).tolist(),
        "act_min": raw.act_NA.min(axis=0).tolist(),
        "act_max": raw.act_NA.max(axis=0).tolist(),
        "reward_mean": float(raw.rew_N.mean()),
    }
    if goal_xy is not None:
        at_goal_N = np.linalg.norm(raw.obs_NS[:, :2] - np.asarray(goal_xy), axis=1) <= GOAL_RADIUS
        hits_E = np.add.reduceat(at_goal_N.astype(np.int64), raw.starts_E) > 0
        out["success_rate"] = float(hits_E.mean())
        out["at_goal_fraction"] = float(at_goal_N.mean())
        resplit = split_episodes(data, diffuser_resplit=True, goal_xy=goal_xy)
        # the re-split keeps every step in order (only the episode starts move): visits per episode MAGE trains on
        out.update(goal_visits(at_goal_N, resplit.starts_E, raw.obs_NS[:, 2:4]))
        out["episodes_diffuser"] = int(resplit.num_episodes)
        out["length_diffuser"] = _summary(resplit.lengths_E.astype(np.float64))
        out["return_diffuser"] = _summary(resplit.returns_E)
    return out


def goal_visits(at_goal_N: np.ndarray, starts_E: np.ndarray, vel_N2: np.ndarray) -> dict[str, Any]:
    """Runs of consecutive steps within the goal radius (a run ends at an episode boundary too), and how many
    at-goal steps are at rest (speed < 0.1): D4RL's maze2d controller passes through the goal and moves on, so
    what an agent does once it is there is not in the data."""
    entered_N = at_goal_N.copy()
    entered_N[1:] &= ~at_goal_N[:-1]
    entered_N[starts_E] = at_goal_N[starts_E]
    run_id_N = np.cumsum(entered_N)[at_goal_N]  # 1-based id of the visit each at-goal step belongs to
    lengths = np.bincount(run_id_N)[1:] if len(run_id_N) else np.zeros(0, np.int64)
    at_rest = int((at_goal_N & (np.linalg.norm(vel_N2, axis=1) < 0.1)).sum())
    return {
        "goal_visits": int(len(lengths)),
        "goal_visit_length": _summary(lengths.astype(np.float64)),
        "at_goal_steps": int(at_goal_N.sum()),
        "at_goal_at_rest": at_rest,
    }


def format_stats(name: str, path: str, stats: dict[str, Any]) -> str:
    def fmt(s: dict[str, float]) -> str:
        return f"mean {s['mean']:.2f}  std {s['std']:.2f}  min {s['min']:.2f}  max {s['max']:.2f}"

    lines = [
        f"dataset   {name}",
        f"file      {path}",
        f"steps     {stats['steps']:,}",
        f"episodes  {stats['episodes']:,} (split on terminals | timeouts)",
        f"  length  {fmt(stats['length'])}",
        f"  return  {fmt(stats['return'])}",
    ]
    if "success_rate" in stats:
        lines += [
            f"success rate (episodes reaching the fixed goal) {stats['success_rate']:.3f}; "
            f"steps at goal {stats['at_goal_fraction']:.3f}",
            f"episodes (Diffuser re-split at goal departures) {stats['episodes_diffuser']:,}",
            f"  length  {fmt(stats['length_diffuser'])}",
            f"  return  {fmt(stats['return_diffuser'])}",
            f"visits to the goal {stats['goal_visits']:,}: steps per visit {fmt(stats['goal_visit_length'])}; "
            f"at rest (speed < 0.1) {stats['at_goal_at_rest']:,} of {stats['at_goal_steps']:,} at-goal steps",
        ]
    rng = ", ".join(
        f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(stats["obs_min"], stats["obs_max"], strict=True)
    )
    arng = ", ".join(
        f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(stats["act_min"], stats["act_max"], strict=True)
    )
    lines += [f"obs range {rng}", f"act range {arng}", f"reward mean {stats['reward_mean']:.4f}"]
    return "\n".join(lines)
