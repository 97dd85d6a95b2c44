"""Env construction: ``make_env`` (one gymnasium env with its TimeLimit), and lockstep batches for evaluation:
``BatchedMazeEnv`` (N maze copies, without gymnasium's per-step wrapper overhead) and ``BatchedGymEnv`` (N
copies of any gymnasium env whose episodes may terminate early); ``make_batched_env`` picks one per task.

``register_envs`` registers our ``mage/`` ids: the maze2d envs and the wrappers that turn gymnasium-robotics
envs into D4RL's flat-observation eval envs (``mage/antmaze-*-v2``, ``mage/<hand>-v1``, ``mage/kitchen-*-v0``:
``mage.envs.tasks_robotics.ENV_ENTRIES``). Registering imports nothing heavy: gymnasium-robotics is imported
when such an env is first made. Every env of a task gives the agent a flat observation of ``obs_dim``.

Both batches share one interface: ``reset(seeds[, goals_BG]) -> (obs_BS, goal_BG)`` (``goal_BG`` is (B, 0)
for tasks without a goal) and ``step(act_BA) -> (obs_BS, reward_B, done_B, success_B)``; ``t_B`` counts the
steps of each copy. A copy that is done (terminated, or at the task horizon) stays frozen: its actions are
ignored, its reward is 0 and its observation is its last one, until the next ``reset``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from mage.envs.maze2d import Maze2DEnv
from mage.envs.registry import get_spec, list_specs
from mage.envs.tasks_robotics import ENV_ENTRIES


def register_envs() -> None:
    """Register the gymnasium ids ``mage/*`` of every task (idempotent): ``mage/maze2d-*`` and the wrappers of
    the gymnasium-robotics families, each with its task horizon as ``max_episode_steps``."""
    for spec in list_specs():
        if not spec.env_id.startswith("mage/") or spec.env_id in gym.registry:
            continue
        if spec.maze is not None:
            entry = "mage.envs.maze2d:Maze2DEnv"
            kwargs = {"maze": spec.maze, "reward_type": spec.reward_type, "multi_goal": spec.multi}
        else:
            entry, kwargs = ENV_ENTRIES[spec.env_id]
        gym.register(id=spec.env_id, entry_point=entry, max_episode_steps=spec.horizon, kwargs=dict(kwargs))


def make_env(task: str, seed: int | None = None, **kw: Any) -> gym.Env:
    """``gymnasium.make`` of a task name or env id; ``seed`` seeds the first reset and the action space."""
    register_envs()
    spec = get_spec(task)
    if spec.maze is None:
        kw.setdefault("max_episode_steps", spec.horizon)
    env = gym.make(spec.env_id, **kw)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


class BatchedMazeEnv:
    """``num_envs`` copies of one task stepped together. Each copy truncates at the task horizon; a copy that
    is done stays frozen (its actions are ignored, reward 0) until the next ``reset``."""

    def __init__(self, task: str, num_envs: int) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        self.spec = get_spec(task)
        self.num_envs = num_envs
        self.envs = [
            Maze2DEnv(self.spec.maze, reward_type=self.spec.reward_type, multi_goal=self.spec.multi)
            for _ in range(num_envs)
        ]
        self.t_B = np.zeros(num_envs, dtype=np.int64)
        self.done_B = np.zeros(num_envs, dtype=bool)
        self.terminated_B = np.zeros(num_envs, dtype=bool)  # maze2d episodes never terminate early
        self.obs_BS = np.zeros((num_envs, 4))
        self.goal_BG = np.zeros((num_envs, 2))
        self.success_B = np.zeros(num_envs, dtype=bool)

    def reset(
        self, seeds: list[int] | np.ndarray, goals_BG: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reset copy i with ``seeds[i]`` (and goal ``goals_BG[i]`` on Multi2D tasks) -> (obs_BS, goal_BG)."""
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        for i, env in enumerate(self.envs):
            options = {"goal": goals_BG[i]} if goals_BG is not None else None
            obs, info = env.reset(seed=int(seeds[i]), options=options)
            self.obs_BS[i] = obs
            self.goal_BG[i] = info["goal"]
        self.t_B[:] = 0
        self.done_B[:] = False
        self.success_B[:] = False
        return self.obs_BS.copy(), self.goal_BG.copy()

    def step(self, act_BA: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every running copy -> (obs_BS, reward_B, done_B, success_B); done = horizon reached."""
        act_BA = np.asarray(act_BA, dtype=np.float64)
        if act_BA.shape != (self.num_envs, 2):
            raise ValueError(f"actions must have shape ({self.num_envs}, 2), got {act_BA.shape}")
        reward_B = np.zeros(self.num_envs)
        for i in np.flatnonzero(~self.done_B):
            obs, r, _, _, info = self.envs[i].step(act_BA[i])
            self.obs_BS[i] = obs
            reward_B[i] = r
            self.success_B[i] |= info["success"]
        self.t_B[~self.done_B] += 1
        self.done_B |= self.t_B >= self.spec.horizon
        return self.obs_BS.copy(), reward_B, self.done_B.copy(), self.success_B.copy()


class BatchedGymEnv:
    """``num_envs`` copies of a gymnasium task (``TaskSpec.env_id``, e.g. ``Hopper-v5``,
    ``mage/antmaze-umaze-v2``) stepped in lockstep. A copy is done when the env terminates or truncates, or at
    the task horizon; ``terminated_B`` says which copies ended by termination. Goal tasks report the goal in
    ``info["goal"]`` on reset (AntMaze); the others have none."""

    def __init__(self, task: str, num_envs: int) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        self.spec = get_spec(task)
        self.num_envs = num_envs
        # unwrapped: the order-enforcing / passive-checker wrappers cost more than a hopper step; the horizon
        # is counted here instead of by gymnasium's TimeLimit. For ``mage/`` ids that is our flat wrapper.
        register_envs()
        self.envs = [gym.make(self.spec.env_id).unwrapped for _ in range(num_envs)]
        obs_shape = self.envs[0].observation_space.shape
        if obs_shape != (self.spec.obs_dim,):
            raise ValueError(
                f"{self.spec.env_id} observations have shape {obs_shape}, but task {self.spec.name} declares "
                f"obs_dim={self.spec.obs_dim}; fix the TaskSpec in mage.envs.registry"
            )
        self.t_B = np.zeros(num_envs, dtype=np.int64)
        self.done_B = np.zeros(num_envs, dtype=bool)
        self.terminated_B = np.zeros(num_envs, dtype=bool)
        self.obs_BS = np.zeros((num_envs, self.spec.obs_dim))
        self.goal_BG = np.zeros((num_envs, self.spec.goal_dim))
        self.success_B = np.zeros(num_envs, dtype=bool)

    def reset(
        self, seeds: list[int] | np.ndarray, goals_BG: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reset copy i with ``seeds[i]`` -> (obs_BS, goal_BG); goals can only be set on goal tasks."""
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        if goals_BG is not None and not self.spec.has_goal:
            raise ValueError(f"task {self.spec.name} has no goal; reset it without goals_BG")
        for i, env in enumerate(self.envs):
            options = {"goal": goals_BG[i]} if goals_BG is not None else None
            obs, info = env.reset(seed=int(seeds[i]), options=options)
            self.obs_BS[i] = obs
            if self.spec.has_goal:
                self.goal_BG[i] = info["goal"]
        self.t_B[:] = 0
        self.done_B[:] = False
        self.terminated_B[:] = False
        self.success_B[:] = False
        return self.obs_BS.copy(), self.goal_BG.copy()

    def step(self, act_BA: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every running copy -> (obs_BS, reward_B, done_B, success_B); done = terminated, truncated or
        horizon reached."""
        act_BA = np.asarray(act_BA, dtype=np.float64)
        if act_BA.shape != (self.num_envs, self.spec.act_dim):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, {self.spec.act_dim}), got {act_BA.shape}"
            )
        act_BA = np.clip(act_BA, self.spec.act_low, self.spec.act_high)
        reward_B = np.zeros(self.num_envs)
        for i in np.flatnonzero(~self.done_B):
            obs, r, terminated, truncated, info = self.envs[i].step(act_BA[i])
            self.obs_BS[i] = obs
            reward_B[i] = r
            self.success_B[i] |= bool(info.get("success", False))
            self.terminated_B[i] = terminated
            self.done_B[i] = terminated or truncated
            self.t_B[i] += 1
        self.done_B |= self.t_B >= self.spec.horizon
        return self.obs_BS.copy(), reward_B, self.done_B.copy(), self.success_B.copy()

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_batched_env(task: str, num_envs: int) -> BatchedMazeEnv | BatchedGymEnv:
    """The lockstep batch for a task: our maze copies for maze2d tasks, gymnasium copies otherwise."""
    spec = get_spec(task)
    return (
        BatchedMazeEnv(spec.name, num_envs) if spec.maze is not None else BatchedGymEnv(spec.name, num_envs)
    )
