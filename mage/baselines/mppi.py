"""MPPI on the true simulator: sampling-based model-predictive control of the maze2d point mass.

The baseline Diffuser's Maze2D table quotes (33.2 / 10.2 / 5.1 on U-Maze / Medium / Large): MPPI with the
ground-truth dynamics, no learning and no data. Each env step, for every env of the batch:

1. sample ``samples`` action sequences ``u = clip(mean + eps)``, ``eps ~ N(0, noise_std^2)``, ``horizon`` steps;
2. roll each one out on our D4RL-exact MuJoCo model (``mage.envs.maze2d``) from the observed state: the
   observation ``[qpos, qvel]`` is the point mass's full state, and each step clips qvel to +-5 before
   ``mj_step`` exactly as ``Maze2DEnv.step`` does (``mujoco.rollout``, one step per call for the clip);
3. score each by its return, the env's own reward (``objective='reward'``) or ``-distance`` shaping;
4. ``mean <- sum_m w_m u_m`` with ``w = softmax(return / temperature)`` (Williams et al. 2017, Alg. 2, without
   the control-cost term: the env's reward has no action cost); repeat ``iterations`` times;
5. execute ``mean[0]``, shift the mean one step for the next call (warm start).

Shape letters of this module besides ``mage.types``: M sampled plans per env, R = B * M rollouts, X MuJoCo's
full physics state (time, qpos, qvel; 5 numbers for the point mass).

Randomness: episode ``j`` started by this agent (counting over ``reset`` calls) draws its noise from
``default_rng(seed + j)``. The rollout jobs build one agent per chunk with ``seed = job seed + chunk start``,
so the episode with env seed ``s`` always gets stream ``s``: results do not depend on how episodes are batched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from mage.config import ConfigBase
from mage.envs.maze2d import GOAL_RADIUS, VEL_CLIP, maze_model
from mage.envs.maze_layouts import get_maze
from mage.envs.registry import get_spec


@dataclass
class MPPIConfig(ConfigBase):
    """MPPI settings. Diffuser (Janner et al. 2022) quotes MPPI without its settings, and jannerm/diffuser
    holds no MPPI code, so the defaults are ours [I], measured on maze2d-umaze (docs/baselines.md, MPPI)."""

    horizon: int = 192  # planning steps (1.92 s); ours: the sparse reward needs samples that reach the goal
    samples: int = 32  # sampled action sequences per env and iteration; ours, sized for a 2-core CPU
    temperature: float = 1.0  # lambda of w = softmax(return / lambda), in return units; ours
    noise_std: float = 1.0  # sigma of the Gaussian action noise (actions clipped to [-1, 1]); ours
    iterations: int = 1  # MPPI updates per env step; Williams et al. 2017 (Alg. 2): one, warm-started
    warm_start: bool = True  # start from the previous mean plan shifted by one step (last step 0), else 0
    objective: Literal["reward", "distance"] = (
        "reward"  # reward: the task's own reward (sparse d <= 0.5 on maze2d-*-v1); distance: -d per step
    )

    section = "mppi."

    def validate(self) -> None:
        super().validate()
        for name in ("horizon", "samples", "iterations"):
            self._require(name, 1)
        self._require("temperature", 0, lo_open=True, hint="the softmax over returns needs lambda > 0")
        self._require("noise_std", 0, lo_open=True, hint="zero noise samples the mean plan only")


class MPPIAgent:
    """Batched ``mage.agent.Agent``: MPPI on the maze2d simulator towards the goal the env reports."""

    def __init__(self, task: str, config: MPPIConfig | None = None, seed: int = 0) -> None:
        spec = get_spec(task)
        if spec.maze is None:
            raise ValueError(
                f"MPPI plans with the maze2d point-mass simulator; task {spec.name} is {spec.family} with no "
                "maze, so evaluate mppi on a maze2d task (e.g. maze2d-umaze-v1)"
            )
        self.cfg = config or MPPIConfig()
        self.task = spec.name
        self.sparse = spec.reward_type == "sparse"  # else dense exp(-d), D4RL's dense maze2d reward
        self.low, self.high, self.act_dim = float(spec.act_low), float(spec.act_high), spec.act_dim
        self.model = maze_model(get_maze(spec.maze))  # shared, never modified
        self.data = mujoco.MjData(self.model)  # scratch for mujoco.rollout
        self.seed = int(seed)
        self._started = 0  # episodes started so far: episode j draws from default_rng(seed + j)
        self.reset(0)

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        """Start ``num_envs`` episodes: fresh per-episode noise streams, zero mean plans."""
        self.rngs = [np.random.default_rng(self.seed + self._started + b) for b in range(num_envs)]
        self._started += num_envs
        self.mean_BHA = np.zeros((num_envs, self.cfg.horizon, self.act_dim))
        self.done_B = np.zeros(num_envs, dtype=bool)

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        """The first action of each env's MPPI plan (done envs get 0: the harness ignores them)."""
        if goal_BG is None:
            raise ValueError("MPPIAgent.act needs goal_BG (the env's goal); evaluate mppi with goal='given'")
        obs_BS = np.asarray(obs_BS, dtype=np.float64)
        goal_BG = np.asarray(goal_BG, dtype=np.float64)
        B = len(self.rngs)
        if obs_BS.shape != (B, 4) or goal_BG.shape[0] != B or goal_BG.shape[1] < 2:
            raise ValueError(
                f"MPPIAgent expects obs (B={B}, 4) and goals (B, 2) after reset({B}); got obs "
                f"{obs_BS.shape}, goals {goal_BG.shape}"
            )
        run = np.flatnonzero(~self.done_B)
        if len(run):
            self.mean_BHA[run] = self._plan(obs_BS[run], goal_BG[run, :2], self.mean_BHA[run], run)
        act_BA = self.mean_BHA[:, 0].copy()
        act_BA[self.done_B] = 0.0
        if self.cfg.warm_start:
            self.mean_BHA[:, :-1] = self.mean_BHA[:, 1:]
            self.mean_BHA[:, -1] = 0.0
        else:
            self.mean_BHA[:] = 0.0
        return act_BA

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        self.done_B |= np.asarray(done_B, dtype=bool)

    # -- planning -----------------------------------------------------------------------------------------
    def _plan(
        self, obs_BS: np.ndarray, goal_BG: np.ndarray, mean_BHA: np.ndarray, envs: np.ndarray
    ) -> np.ndarray:
        """``iterations`` MPPI updates of the mean plans of the envs ``envs``."""
        c = self.cfg
        B, M, H, A = len(envs), c.samples, c.horizon, self.act_dim
        for _ in range(c.iterations):
            eps_BMHA = np.stack([self.rngs[e].standard_normal((M, H, A)) for e in envs]) * c.noise_std
            u_BMHA = np.clip(mean_BHA[:, None] + eps_BMHA, self.low, self.high)
            ret_BM = self.returns(obs_BS, goal_BG, u_BMHA.reshape(B * M, H, A)).reshape(B, M)
            z_BM = (ret_BM - ret_BM.max(axis=1, keepdims=True)) / c.temperature
            w_BM = np.exp(z_BM)
            w_BM /= w_BM.sum(axis=1, keepdims=True)
            mean_BHA = np.einsum("bm,bmha->bha", w_BM, u_BMHA)
        return mean_BHA

    def rollout(self, obs_RS: np.ndarray, u_RHA: np.ndarray) -> np.ndarray:
        """States (R, H, 4) after each action of ``u_RHA`` from the observed states ``obs_RS`` (or (S,), broadcast
        to R), stepped exactly as ``Maze2DEnv.step``: clip the action and qvel, one ``mj_step``."""
        R, H, _ = u_RHA.shape
        state_RX = np.zeros((R, 5))  # time, qpos (2), qvel (2)
        state_RX[:, 1:] = obs_RS
        ctrl_R1A = np.empty((R, 1, self.act_dim))
        out_R1X = np.empty((R, 1, 5))
        sensor_R10 = np.empty((R, 1, self.model.nsensordata))
        states_RHS = np.empty((R, H, 4))
        for t in range(H):
            np.clip(state_RX[:, 3:5], -VEL_CLIP, VEL_CLIP, out=state_RX[:, 3:5])
            np.clip(u_RHA[:, t : t + 1], self.low, self.high, out=ctrl_R1A)
            mj_rollout.rollout(
                self.model, self.data, state_RX, ctrl_R1A, skip_checks=True, nroll=R, nstep=1,
                state=out_R1X, sensordata=sensor_R10,
            )  # fmt: skip
            state_RX[:] = out_R1X[:, 0]
            states_RHS[:, t] = state_RX[:, 1:]
        return states_RHS

    def returns(self, obs_BS: np.ndarray, goal_BG: np.ndarray, u_RHA: np.ndarray) -> np.ndarray:
        """Objective of each action sequence (R = B * M, grouped by env): the sum over its steps of the env
        reward (sparse ``d <= 0.5`` or dense ``exp(-d)``, the task's) or of ``-d`` (``objective='distance'``)."""
        M = len(u_RHA) // len(obs_BS)
        states_RHS = self.rollout(np.repeat(obs_BS, M, axis=0), u_RHA)
        d_RH = np.linalg.norm(states_RHS[:, :, :2] - np.repeat(goal_BG, M, axis=0)[:, None], axis=-1)
        if self.cfg.objective == "distance":
            return -d_RH.sum(axis=1)
        if self.sparse:
            return (d_RH <= GOAL_RADIUS).sum(axis=1).astype(np.float64)
        return np.exp(-d_RH).sum(axis=1)
