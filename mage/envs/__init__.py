"""D4RL-exact maze2d envs on the ``mujoco`` bindings, the task table (maze2d incl. OGBench's giant layout,
gymnasium Hopper / HalfCheetah / Walker2d v5, and D4RL's AntMaze / Adroit / Kitchen on gymnasium-robotics
through flat-observation wrappers) and lockstep batches. Importing this package registers the gymnasium ids
``mage/maze2d-{umaze,medium,large,giant}[-dense|-multi]-v1``, ``mage/antmaze-{umaze,medium,large}-v2``,
``mage/{pen,door,hammer,relocate}-v1`` and ``mage/kitchen-*-v0`` (gymnasium-robotics is imported only when one
of the latter is made)."""

from __future__ import annotations

from mage.envs.make import BatchedGymEnv, BatchedMazeEnv, make_batched_env, make_env, register_envs
from mage.envs.maze2d import GOAL_RADIUS, Maze2DEnv
from mage.envs.registry import TaskSpec, get_spec, list_specs, normalized_score

register_envs()

__all__ = [
    "GOAL_RADIUS",
    "BatchedGymEnv",
    "BatchedMazeEnv",
    "Maze2DEnv",
    "TaskSpec",
    "get_spec",
    "list_specs",
    "make_batched_env",
    "make_env",
    "normalized_score",
]
