"""Goal dict observations (gymnasium-robotics ``observation`` / ``achieved_goal`` / ``desired_goal``) flattened
to D4RL's flat vectors: the rules of the task layer's wrappers, written once so datasets
(``mage.data.minari_io``) and envs (``mage.envs.antmaze``, ``mage.envs.manipulation``) build the same vector.

- ``AntMaze_*``: ``[achieved_goal + offset, observation]`` (29 = qpos[:15] + qvel[:14], x, y first: D4RL
  antmaze's layout; ``antmaze_flat``). ``offset`` moves gymnasium-robotics' maze frame to D4RL's for our
  ``AntMazeTaskEnv`` (its maze rows reversed, so a translation suffices there); a Minari AntMaze dataset
  keeps its own frame (offset 0), which is not D4RL's (other maps, start and goal cells): the reader refuses
  to pair it with our ``antmaze-*`` tasks. Goal: ``desired_goal`` (+ offset).
- ``FrankaKitchen-*``: ``[observation[0:9], observation[18:39], task goal (30)]`` (60: robot qpos, object
  qpos, D4RL's goal vector: zero but the target values of the episode's subtasks at their qpos indices;
  ``kitchen_flat``, ``kitchen_goal``). The goal is inside the vector (no separate goal).
- ``PointMaze_*``: ``observation`` = (x, y, vx, vy); ``achieved_goal`` is its first two entries (dropped).
  Coordinates are PointMaze's (maze-centred, y up), **not** D4RL maze2d's grid indices: no ``maze2d-*`` task
  runs this env (``mage.envs.maze2d``). Goal: ``desired_goal``.

Every function works on one step (arrays (D,)) and on a stack of steps (arrays (N, D)) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

KITCHEN_GOAL_DIM = 30  # D4RL's task goal: one slot per qpos of the robot (9) and the objects (21)
FLATTEN_ENVS = ("AntMaze_", "FrankaKitchen-", "PointMaze_")  # env-id prefixes with a rule


def antmaze_flat(obs: Mapping[str, Any], offset: np.ndarray | float = 0.0) -> np.ndarray:
    """D4RL antmaze's 29-dim vector: ``[achieved_goal + offset, observation]``."""
    return np.concatenate(
        [np.asarray(obs["achieved_goal"]) + offset, np.asarray(obs["observation"])], axis=-1
    )


def kitchen_goal(targets: Mapping[str, Any]) -> np.ndarray:
    """D4RL's 30-dim kitchen goal from ``{subtask: target qpos values}`` (gymnasium-robotics' ``desired_goal``
    or its ``OBS_ELEMENT_GOALS``): zero except each subtask's targets at its ``OBS_ELEMENT_INDICES``."""
    from mage.envs.robotics import robotics_module

    index = robotics_module("gymnasium_robotics.envs.franka_kitchen.kitchen_env").OBS_ELEMENT_INDICES
    unknown = [t for t in targets if t not in index]
    if unknown:
        raise ValueError(f"unknown kitchen subtask(s) {', '.join(unknown)}; known: {', '.join(index)}")
    lead = np.shape(next(iter(targets.values())))[:-1] if targets else ()
    goal = np.zeros((*lead, KITCHEN_GOAL_DIM))
    for task, value in targets.items():
        goal[..., index[task]] = value
    return goal


def kitchen_flat(observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """D4RL kitchen's 60-dim vector from gymnasium-robotics' 59-dim ``observation`` (robot qpos 9, robot qvel
    9, object qpos 21, object qvel 20) and the task goal: ``[qpos robot, qpos objects, goal]``."""
    o = np.asarray(observation)
    goal = np.broadcast_to(goal, (*o.shape[:-1], KITCHEN_GOAL_DIM))
    return np.concatenate([o[..., 0:9], o[..., 18:39], goal], axis=-1)


def flatten_goal_obs(obs: Mapping[str, Any], env_id: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(flat observation, goal or None) of a recorded dict observation of ``env_id`` in the env's own frame
    (AntMaze offset 0). Raises ValueError naming the env and the keys when there is no rule or a key is
    missing."""
    try:
        if env_id is not None and env_id.startswith("AntMaze_"):
            return antmaze_flat(obs), np.asarray(obs["desired_goal"])
        if env_id is not None and env_id.startswith("FrankaKitchen-"):
            return kitchen_flat(obs["observation"], kitchen_goal(obs["desired_goal"])), None
        if env_id is not None and env_id.startswith("PointMaze_"):
            return np.asarray(obs["observation"]), np.asarray(obs["desired_goal"])
    except KeyError as e:
        raise ValueError(
            f"dict observation of env {env_id!r} lacks key {e} (keys: {', '.join(obs)}); see mage.envs.goal_obs"
        ) from None
    raise ValueError(
        f"no flattening rule for dict observations of env {env_id!r} (keys: {', '.join(obs)}); rules exist "
        f"for env ids starting with {', '.join(FLATTEN_ENVS)} (mage.envs.goal_obs)"
    )
