"""The env side of the SAC recipe (``mage.data.sac_recipe``): a wrapper that records every step d3rlpy's
``fit_online`` takes, lockstep evaluation of a policy, and the seeds of every stream."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from mage.envs.registry import TaskSpec

# Stream columns (chunk files and medium-replay): D4RL's keys, qpos / qvel under infos/ in the HDF5.
STREAM_KEYS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminals",
    "timeouts",
    "qpos",
    "qvel",
)


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from several integers (numpy SeedSequence): one stream per (seed, step, purpose)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


class StepRecorder(gym.Wrapper):
    """Records every step fit_online takes (state before the step, action, reward, next state, flags,
    qpos/qvel) and seeds the next reset; d3rlpy's buffer keeps no next observation at episode ends."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._rows: dict[str, list] = {k: [] for k in STREAM_KEYS}
        self._obs: np.ndarray | None = None
        self._reset_seed: int | None = None

    def reseed(self, seed: int) -> None:
        self._reset_seed = seed
        self.env.action_space.seed(seed)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        if self._reset_seed is not None:
            kwargs["seed"], self._reset_seed = self._reset_seed, None
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        data = self.env.unwrapped.data  # MuJoCo state before the step, as D4RL's infos/qpos
        qpos, qvel = data.qpos.copy(), data.qvel.copy()
        obs, r, terminated, truncated, info = self.env.step(action)
        row = (self._obs, action, r, obs, terminated, truncated and not terminated, qpos, qvel)
        for k, v in zip(STREAM_KEYS, row, strict=True):
            self._rows[k].append(v)
        self._obs = obs
        return obs, r, terminated, truncated, info

    def take(self) -> dict[str, np.ndarray]:
        """The chunk's rows; the episode fit_online cut at the chunk's end becomes a timeout."""
        out = {k: np.asarray(v) for k, v in self._rows.items()}
        out["actions"] = out["actions"].astype(np.float32)
        if len(out["terminals"]) and not (out["terminals"][-1] or out["timeouts"][-1]):
            out["timeouts"][-1] = True
        self._rows = {k: [] for k in STREAM_KEYS}
        return out


def evaluate(algo: Any, spec: TaskSpec, episodes: int, seed: int, stochastic: bool) -> np.ndarray:
    """Returns of ``episodes`` episodes (env seeds seed, seed+1, ...), all in one lockstep batch;
    ``stochastic``: ``sample_action`` (the data policy), else ``predict`` (the mean action)."""
    from mage.envs.make import BatchedGymEnv

    env = BatchedGymEnv(spec.name, episodes)
    obs_BS, _ = env.reset(np.arange(episodes) + seed)
    ret_B = np.zeros(episodes)
    done_B = np.zeros(episodes, dtype=bool)
    while not done_B.all():
        act = algo.sample_action(obs_BS) if stochastic else algo.predict(obs_BS)
        obs_BS, r_B, done_B, _ = env.step(act)
        ret_B += r_B  # frozen copies earn 0
    env.close()
    return ret_B
