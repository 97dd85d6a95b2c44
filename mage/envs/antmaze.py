"""``AntMazeTaskEnv``: D4RL's AntMaze evaluation env (``antmaze-*-v2``) on gymnasium-robotics' ``AntMaze_*-v4``,
with D4RL's flat 29-dim observation, goal, reward and termination (registered as ``mage/antmaze-{maze}-v2``).

What is D4RL's here (``d4rl/locomotion/{maze_env,ant,goal_reaching_env,__init__}.py``, ``assets/ant.xml``):

- **maze and frame**: D4RL's eval maps (``U_MAZE_TEST``, ``BIG_MAZE_TEST``, ``HARDEST_MAZE_TEST``: one start
  cell 'r', one goal cell 'g'; the walls equal gymnasium-robotics' ``U_MAZE`` / ``MEDIUM_MAZE`` / ``LARGE_MAZE``).
  D4RL puts cell (i, j) at (4 j, 4 i) minus the start cell's, y growing with the row; gymnasium-robotics
  centres the maze and y falls with the row. Its rows are passed reversed, so its world is D4RL's shifted by a
  constant (``offset``): a translation, which the physics does not see (a mirror would). Observation and
  goal are reported in D4RL's frame (start near (0, 0)).
- **observation**: ``[achieved_goal (x, y), observation (27)]`` = qpos[:15] + qvel[:14] (29), D4RL's
  ``expose_all_qpos`` layout.
- **start**: the start cell, then every qpos + U(-0.1, 0.1) and qvel + 0.1 N(0, 1) (D4RL's
  ``AntEnv.reset_model``; gymnasium-robotics: U(±1) on the cell position, no joint noise).
- **goal** (new every episode, ``v2_resets``): the goal cell + U(0, 1) + U(0, 0.5) per axis, floored at 0
  (D4RL's ``goal_sampler``; gymnasium-robotics: U(±1)); drawn from the env's seeded RNG, so env seed s fixes
  it. ``reset(options={"goal": (x, y)})`` sets it (D4RL frame).
- **reward / end**: 1.0 when ||xy - goal|| <= 0.5, and the episode terminates there (D4RL's eval env,
  ``eval=True``); gymnasium-robotics rewards within 0.45 and never terminates with ``continuing_task``.
  ``info["success"]`` is the same test; ``info["goal"]`` the goal.
- **ant**: timestep 0.02 and actuator gear 30 (D4RL's ant.xml: ctrlrange ±30 reached from [-1, 1] by its
  ``NormalizedBoxEnv``, gear 1; gymnasium's ant.xml: timestep 0.01, gear 150), frame skip 5 (dt 0.1 s).
  Unhealthy states never end an episode (both).

Left different: MuJoCo 3.1.6 (mujoco bindings) vs MuJoCo 2.x (mujoco-py): same model, but solver and contact
changes make the same actions drift apart. gymnasium-robotics' ``AntMaze`` writes its maze XML to
``$TMPDIR/ant_maze<time>.xml`` and never deletes it; the file is removed right after the model is built.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import gymnasium as gym
import numpy as np

from mage.envs.goal_obs import antmaze_flat
from mage.envs.robotics import robotics_module

GOAL_RADIUS = 0.5  # D4RL's sparse reward and termination radius
SCALING = 4.0  # maze_size_scaling, both
# D4RL's evaluation maps (d4rl/locomotion/maze_env.py *_TEST): 1 wall, 0 free, r start, g goal.
D4RL_EVAL_MAPS: dict[str, tuple[str, ...]] = {
    "umaze": ("11111", "1r001", "11101", "1g001", "11111"),
    "medium": (
        "11111111",
        "1r011001",
        "10010001",
        "11000111",
        "10010001",
        "10100101",
        "100010g1",
        "11111111",
    ),
    "large": (
        "111111111111",
        "1r0001000001",
        "101101010101",
        "100000010001",
        "101111011101",
        "100101000001",
        "110101010111",
        "100100010g01",
        "111111111111",
    ),
}
ANT_TIMESTEP = 0.02  # D4RL ant.xml <option timestep>
ANT_GEAR = 30.0  # D4RL: ctrlrange ±30, gear 1, actions scaled from [-1, 1] by NormalizedBoxEnv
RESET_NOISE = 0.1  # D4RL AntEnv.reset_model: qpos + U(±0.1), qvel + 0.1 N(0, 1)


def _cell(rows: tuple[str, ...], ch: str) -> tuple[int, int]:
    return next((i, r.index(ch)) for i, r in enumerate(rows) if ch in r)


class AntMazeTaskEnv(gym.Env):
    """D4RL's ``antmaze-{maze}-v2`` eval env on gymnasium-robotics (module docstring: what matches D4RL)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, maze: str = "umaze") -> None:
        if maze not in D4RL_EVAL_MAPS:
            raise ValueError(f"maze={maze!r} must be one of {', '.join(D4RL_EVAL_MAPS)}")
        rows = D4RL_EVAL_MAPS[maze]
        code = {"1": 1, "0": 0, "r": "r", "g": "g"}
        gym_map = [[code[c] for c in row] for row in reversed(rows)]  # reversed rows: D4RL's frame, shifted
        AntMazeEnv = robotics_module("gymnasium_robotics.envs.maze.ant_maze_v4").AntMazeEnv
        try:
            self.inner = AntMazeEnv(
                maze_map=gym_map, reward_type="sparse", continuing_task=True, reset_target=False
            )
        finally:
            self._remove_xml()
        inner = self.inner
        inner.position_noise_range = (
            0.0  # start and goal cells exact; D4RL's noise is added below / by the ant
        )
        inner.ant_env._reset_noise_scale = RESET_NOISE
        inner.ant_env.model.opt.timestep = ANT_TIMESTEP
        inner.ant_env.model.actuator_gear[:, 0] = ANT_GEAR
        (ri, rj), (gi, gj) = _cell(rows, "r"), _cell(rows, "g")
        start_gym = inner.maze.cell_rowcol_to_xy(np.array([len(rows) - 1 - ri, rj]))
        self.offset = -np.asarray(start_gym, dtype=np.float64)  # D4RL xy = gymnasium-robotics xy + offset
        self.goal_cell = SCALING * np.array([gj - rj, gi - ri], dtype=np.float64)  # D4RL frame
        self.maze = maze
        self.goal = self.goal_cell.copy()
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(29,), dtype=np.float64)
        self.action_space = inner.action_space

    def _remove_xml(self) -> None:
        path = getattr(getattr(self, "inner", None), "tmp_xml_file_path", None)
        if path is not None:  # None: the constructor failed before returning, nothing names the file
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def _flat(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return antmaze_flat(obs, self.offset)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self.inner.reset(seed=seed)
        if options and options.get("goal") is not None:
            self.goal = np.asarray(options["goal"], dtype=np.float64).copy()
        else:
            rng = self.inner.np_random
            noise = rng.uniform(0.0, SCALING * 0.25, size=2) + rng.uniform(0.0, 0.5, size=2) * 0.25 * SCALING
            self.goal = np.maximum(self.goal_cell + noise, 0.0)
        self.inner.goal = self.goal - self.offset
        self.inner.update_target_site_pos()
        flat = self._flat(obs)
        return flat, {"goal": self.goal.copy(), "success": self._at_goal(flat)}

    def _at_goal(self, flat: np.ndarray) -> bool:
        return bool(np.linalg.norm(flat[:2] - self.goal) <= GOAL_RADIUS)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, _, _, _, _ = self.inner.step(action)
        flat = self._flat(obs)
        hit = self._at_goal(flat)
        return flat, float(hit), hit, False, {"goal": self.goal.copy(), "success": hit}

    def close(self) -> None:
        self.inner.close()
