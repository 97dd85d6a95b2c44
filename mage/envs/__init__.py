"""D4RL-exact maze2d envs on the ``mujoco`` bindings. Importing this package registers the gymnasium ids
``mage/maze2d-{umaze,medium,large}[-dense|-multi]-v1``."""

from __future__ import annotations

import gymnasium as gym

from mage.envs.make import BatchedMazeEnv, make_env
from mage.envs.maze2d import GOAL_RADIUS, Maze2DEnv
from mage.envs.registry import TaskSpec, get_spec, list_specs, normalized_score


def _register_all() -> None:
    for spec in list_specs():
        if spec.env_id in gym.registry:
            continue
        gym.register(
            id=spec.env_id,
            entry_point="mage.envs.maze2d:Maze2DEnv",
            max_episode_steps=spec.horizon,
            kwargs={"maze": spec.maze, "reward_type": spec.reward_type, "multi_goal": spec.multi},
        )


_register_all()

__all__ = [
    "GOAL_RADIUS",
    "BatchedMazeEnv",
    "Maze2DEnv",
    "TaskSpec",
    "get_spec",
    "list_specs",
    "make_env",
    "normalized_score",
]
