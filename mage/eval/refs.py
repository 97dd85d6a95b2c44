"""Re-measure our reference returns (``mage data refs``): random policy = min, D4RL's REF_MAX protocol for
the waypoint controller = max (one controller reused across sequential episodes, see ``WaypointAgent``).
Tasks without a maze (locomotion) have no controller here: only the random return is measured."""

from __future__ import annotations

import numpy as np

from mage.envs.registry import get_spec
from mage.eval.agents import RandomAgent, WaypointAgent
from mage.eval.protocol import EvalProtocol
from mage.eval.rollout import run_episodes

GOAL = EvalProtocol(goal="given")  # the waypoint controller steers to the env's goal


def reference_returns(task: str, episodes: int = 100, seed: int = 0) -> dict[str, float]:
    """Mean returns over env seeds ``seed .. seed + episodes - 1`` for the random and waypoint agents (NaN
    for the waypoint ones on tasks without a maze)."""
    rnd = run_episodes(
        RandomAgent(seed=seed, task=task), task, episodes=episodes, num_envs=min(episodes, 50), seed=seed
    )
    if get_spec(task).maze is None:
        nan = float("nan")
        return {"random": float(np.mean([r.ret for r in rnd])), "waypoint": nan, "waypoint_replan": nan}
    # num_envs=1: D4RL's script runs episodes one after another with one controller
    wp = run_episodes(
        WaypointAgent(task, seed=seed, reuse_controller=True),
        task,
        episodes,
        num_envs=1,
        seed=seed,
        protocol=GOAL,
    )
    fresh = run_episodes(
        WaypointAgent(task, seed=seed), task, episodes, num_envs=min(episodes, 50), seed=seed, protocol=GOAL
    )
    return {
        "random": float(np.mean([r.ret for r in rnd])),
        "waypoint": float(np.mean([r.ret for r in wp])),
        "waypoint_replan": float(np.mean([r.ret for r in fresh])),
    }
