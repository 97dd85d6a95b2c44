"""D4RL ``maze2d`` point-mass mazes on the ``mujoco`` Python bindings.

Why raw ``mujoco`` instead of gymnasium-robotics ``PointMaze``: PointMaze is not D4RL maze2d. Its success
radius is 0.45 (D4RL: 0.5), its coordinates are centred on the maze (D4RL: grid indices), its reset and
goal noise is U(±0.25) (D4RL: U(±0.1)), and its observations are dicts. D4RL's REF_MIN/REF_MAX scores and
published maze2d numbers are only comparable on D4RL's exact env, and ``d4rl`` itself needs mujoco-py and
MuJoCo 2.1 binaries that do not install. So we rebuild D4RL's ``MazeEnv`` here:

- the MJCF of ``d4rl/pointmaze/maze_model.py:point_maze`` (timestep 0.01, Euler, 20 iterations, damping 1,
  gear 100, ctrlrange ±1, particle body at (1.2, 1.2), walls at (i+1, j+1)), written to a string;
- ``step``: clip the action to [-1, 1], clip qvel to ±5, one ``mj_step`` (frame_skip 1); observation
  ``[qpos, qvel]`` in D4RL grid coordinates; sparse reward ``||xy - goal|| <= 0.5`` or dense ``exp(-d)``;
- ``reset``: a random cell of ``empty_and_goal_locations`` + U(±0.1), ``qvel ~ N(0, 0.1²)``;
- Multi2D (``multi_goal=True``): a new goal per episode with D4RL's ``set_target`` semantics (random cell +
  U(±0.1)), or ``reset(options={"goal": (x, y)})``.

``info`` always carries ``goal`` (2,) and ``success`` (distance to the goal <= 0.5). Horizons come from
the gymnasium ``TimeLimit`` set at registration (``mage.envs.registry``).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from mage.envs.maze_layouts import WALL, get_maze, goal_cell, parse_maze, reset_cells

GOAL_RADIUS = 0.5  # D4RL sparse reward / success radius
VEL_CLIP = 5.0


def maze_mjcf(maze_str: str) -> str:
    """The MJCF of D4RL's ``point_maze(maze_str)`` as an XML string (no file is written)."""
    arr = parse_maze(maze_str)
    walls = "\n".join(
        f'    <geom conaffinity="1" type="box" name="wall_{i}_{j}" material="wall" '
        f'pos="{i + 1.0} {j + 1.0} 0" size="0.5 0.5 0.2"/>'
        for i in range(arr.shape[0])
        for j in range(arr.shape[1])
        if arr[i, j] == WALL
    )
    # D4RL also set compiler coordinate="local"; MuJoCo 3 only supports local coordinates and rejects it.
    return f"""<mujoco model="point_maze">
  <compiler inertiafromgeom="true" angle="radian"/>
  <option timestep="0.01" gravity="0 0 0" iterations="20" integrator="Euler"/>
  <default>
    <joint damping="1" limited="false"/>
    <geom friction=".5 .1 .1" density="1000" margin="0.002" condim="1" contype="2" conaffinity="1"/>
  </default>
  <asset>
    <texture type="2d" name="groundplane" builtin="checker" rgb1="0.2 0.3 0.4" rgb2="0.1 0.2 0.3"
             width="100" height="100"/>
    <texture name="skybox" type="skybox" builtin="gradient" rgb1=".4 .6 .8" rgb2="0 0 0"
             width="800" height="800" mark="random" markrgb="1 1 1"/>
    <material name="groundplane" texture="groundplane" texrepeat="20 20"/>
    <material name="wall" rgba=".7 .5 .3 1"/>
    <material name="target" rgba=".6 .3 .3 1"/>
  </asset>
  <visual>
    <headlight ambient=".4 .4 .4" diffuse=".8 .8 .8" specular="0.1 0.1 0.1"/>
    <map znear=".01"/>
    <quality shadowsize="2048"/>
  </visual>
  <worldbody>
    <geom name="ground" size="40 40 0.25" pos="0 0 -0.1" type="plane" contype="1" conaffinity="0"
          material="groundplane"/>
    <body name="particle" pos="1.2 1.2 0">
      <geom name="particle_geom" type="sphere" size="0.1" rgba="0.0 0.0 1.0 0.0" contype="1"/>
      <site name="particle_site" pos="0.0 0.0 0" size="0.2" rgba="0.3 0.6 0.3 1"/>
      <joint name="ball_x" type="slide" pos="0 0 0" axis="1 0 0"/>
      <joint name="ball_y" type="slide" pos="0 0 0" axis="0 1 0"/>
    </body>
    <site name="target_site" pos="0.0 0.0 0" size="0.2" material="target"/>
{walls}
  </worldbody>
  <actuator>
    <motor joint="ball_x" ctrlrange="-1.0 1.0" ctrllimited="true" gear="100"/>
    <motor joint="ball_y" ctrlrange="-1.0 1.0" ctrllimited="true" gear="100"/>
  </actuator>
</mujoco>
"""


_MODELS: dict[str, mujoco.MjModel] = {}


def maze_model(maze_str: str) -> mujoco.MjModel:
    """Compiled model, cached per maze: compiling takes ~70 ms (the 800x800 skybox texture) and envs never
    modify the model, so copies share it and each gets its own MjData."""
    model = _MODELS.get(maze_str)
    if model is None:
        model = _MODELS[maze_str] = mujoco.MjModel.from_xml_string(maze_mjcf(maze_str))
    return model


class Maze2DEnv(gym.Env):
    """D4RL ``MazeEnv`` (reset_target=False) or its Multi2D variant (``multi_goal=True``)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, maze: str = "umaze", reward_type: str = "sparse", multi_goal: bool = False) -> None:
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type={reward_type!r} must be 'sparse' or 'dense'")
        self.maze_name = maze
        self.maze_str = get_maze(maze)
        self.reward_type = reward_type
        self.multi_goal = multi_goal
        self.model = maze_model(self.maze_str)
        self.data = mujoco.MjData(self.model)
        # Cached views into MjData: re-fetching them every step costs more than the physics.
        self._qpos = self.data.qpos
        self._qvel = self.data.qvel
        self._ctrl = self.data.ctrl
        self.reset_cells = reset_cells(self.maze_str)  # (n, 2) D4RL empty_and_goal_locations
        self.eval_goal = goal_cell(self.maze_str)  # fixed 'G' goal
        self.goal = self.eval_goal.copy()
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    # -- D4RL semantics -----------------------------------------------------------------------------------
    def sample_goal(self) -> np.ndarray:
        """D4RL ``set_target()``: a random empty-or-goal cell + U(±0.1)."""
        idx = self.np_random.integers(len(self.reset_cells))
        return self.reset_cells[idx] + self.np_random.uniform(-0.1, 0.1, size=2)

    def set_goal(self, goal_2: np.ndarray | tuple[float, float]) -> None:
        goal = np.asarray(goal_2, dtype=np.float64).reshape(-1)
        if goal.shape != (2,) or not np.all(np.isfinite(goal)):
            raise ValueError(f"goal must be two finite numbers (x, y), got {goal_2!r}")
        self.goal = goal

    def set_state(self, qpos_2: np.ndarray, qvel_2: np.ndarray) -> None:
        self._qpos[:] = qpos_2
        self._qvel[:] = qvel_2
        mujoco.mj_forward(self.model, self.data)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._qpos, self._qvel])

    def _info(self, obs_S: np.ndarray) -> dict[str, Any]:
        dist = math.hypot(obs_S[0] - self.goal[0], obs_S[1] - self.goal[1])
        return {"goal": self.goal.copy(), "success": dist <= GOAL_RADIUS}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        idx = self.np_random.integers(len(self.reset_cells))
        qpos = self.reset_cells[idx] + self.np_random.uniform(-0.1, 0.1, size=2)
        qvel = self.np_random.standard_normal(2) * 0.1
        self.set_state(qpos, qvel)
        options = options or {}
        if "goal" in options and options["goal"] is not None:
            if not self.multi_goal:
                raise ValueError(
                    "reset(options={'goal': ...}) needs a Multi2D env (mage/maze2d-*-multi-v1); "
                    "single-task envs keep the fixed 'G' goal"
                )
            self.set_goal(options["goal"])
        elif self.multi_goal:
            self.goal = self.sample_goal()
        obs = self._obs()
        return obs, self._info(obs)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        np.clip(self._qvel, -VEL_CLIP, VEL_CLIP, out=self._qvel)
        self._ctrl[:] = a
        mujoco.mj_step(self.model, self.data)
        obs = self._obs()
        dist = math.hypot(obs[0] - self.goal[0], obs[1] - self.goal[1])
        if self.reward_type == "sparse":
            reward = 1.0 if dist <= GOAL_RADIUS else 0.0
        else:
            reward = math.exp(-dist)
        info = {"goal": self.goal.copy(), "success": dist <= GOAL_RADIUS}
        return obs, reward, False, False, info
