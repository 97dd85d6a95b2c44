"""d3rlpy policies behind our ``mage.agent.Agent`` interface (batched, env units).

- ``D3rlpyAgent``: Q-learning and BC algorithms; ``act`` is one batched ``algo.predict`` (d3rlpy applies and
  reverses its own scalers). Stateless: ``reset`` and ``observe`` do nothing.
- ``DecisionTransformerAgent``: DT over a batch of lockstep envs. d3rlpy's ``StatefulTransformerWrapper``
  holds one env's context; this keeps the same context for B envs in (B, K, ...) arrays and runs one forward
  pass of the transformer per step (same inputs, padding and scalers as the wrapper, which tests check).
  ``reset`` sets R̂_0 = ``target_return`` (absolute), ``observe`` does R̂ -= r.

Goal-conditioned variants append the env's goal (x, y) to the observation, so they need ``goal_BG`` (protocol
goal='given', track G). No baseline produces a state plan (``plans_states = False``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mage.baselines.checkpoint import LoadedBaseline
from mage.baselines.methods import GOAL_DIM


class D3rlpyAgent:
    """A loaded d3rlpy Q-learning / BC algorithm acting on a batch of raw observations."""

    plans_states = False

    def __init__(self, loaded: LoadedBaseline) -> None:
        self.algo = loaded.algo
        self.meta = loaded.meta
        self.track = loaded.meta.track  # R or G: the information it needs
        self._low = np.asarray(loaded.meta.act_low, dtype=np.float32)
        self._high = np.asarray(loaded.meta.act_high, dtype=np.float32)

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        self.num_envs = num_envs

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        pass

    def _input(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None) -> np.ndarray:
        obs = np.asarray(obs_BS, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.meta.obs_dim:
            raise ValueError(
                f"{self.meta.method}: observations must be (B, {self.meta.obs_dim}), got {obs.shape}"
            )
        if not self.meta.goal_conditioned:
            return obs
        if goal_BG is None:
            raise ValueError(
                f"{self.meta.method} is goal-conditioned: it needs the env's goal (protocol goal='given', track G)"
            )
        goal = np.asarray(goal_BG, dtype=np.float32)[:, :GOAL_DIM]
        return np.concatenate([obs, goal], axis=1)

    def _predict(self, x_BD: np.ndarray) -> np.ndarray:
        return np.asarray(self.algo.predict(x_BD))

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        a_BA = self._predict(self._input(obs_BS, goal_BG))
        return np.clip(a_BA, self._low, self._high).astype(np.float64)


class DecisionTransformerAgent(D3rlpyAgent):
    """Decision Transformer over B lockstep envs with return-to-go bookkeeping."""

    def __init__(self, loaded: LoadedBaseline, target_return: float | None = None) -> None:
        super().__init__(loaded)
        cfg = self.algo.config
        self.context_size = int(cfg.context_size)
        self.max_timestep = int(cfg.max_timestep)
        self.default_target = target_return
        self._in_dim = loaded.meta.obs_dim + loaded.meta.goal_dim
        self.reset(1)

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        target = self.default_target if target_return is None else target_return
        if target is None:
            raise ValueError(f"{self.meta.method} is return-conditioned: it needs a target_return")
        B, K = num_envs, self.context_size
        self.num_envs = B
        self.rtg_B = np.broadcast_to(np.asarray(target, dtype=np.float32), (B,)).copy()
        self._obs = np.zeros((B, K, self._in_dim), dtype=np.float32)
        self._act = np.zeros((B, K, self.meta.act_dim), dtype=np.float32)
        self._rtg = np.zeros((B, K, 1), dtype=np.float32)
        self._ts = np.zeros((B, K), dtype=np.int64)
        self._mask = np.zeros((B, K), dtype=np.float32)
        self._t = 0

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        self.rtg_B -= np.asarray(reward_B, dtype=np.float32)

    def _predict(self, x_BD: np.ndarray) -> np.ndarray:
        if len(x_BD) != self.num_envs:
            raise ValueError(f"got {len(x_BD)} observations after reset({self.num_envs})")
        for buf in (self._obs, self._act, self._rtg, self._ts, self._mask):
            buf[:, :-1] = buf[:, 1:]  # drop the oldest step (left padding while the context fills)
        self._t += 1
        self._obs[:, -1] = x_BD
        self._act[:, -1] = 0.0  # the action being predicted: d3rlpy's pad action
        self._rtg[:, -1, 0] = self.rtg_B
        self._ts[:, -1] = min(self._t, self.max_timestep - 1)  # 1-based; d3rlpy's cap would overflow
        self._mask[:, -1] = 1.0
        a_BA = self._forward()
        self._act[:, -1] = a_BA
        return a_BA

    def _forward(self) -> np.ndarray:
        impl, cfg = self.algo.impl, self.algo.config
        dev = impl.device
        with torch.no_grad():
            obs: Any = torch.as_tensor(self._obs, device=dev)
            act = torch.as_tensor(self._act, device=dev)
            rtg = torch.as_tensor(self._rtg, device=dev)
            if cfg.observation_scaler:
                obs = cfg.observation_scaler.transform(obs)
            if cfg.action_scaler:
                act = cfg.action_scaler.transform(act)
            if cfg.reward_scaler:
                rtg = cfg.reward_scaler.transform(rtg)
            ts = torch.as_tensor(self._ts, device=dev)
            mask = torch.as_tensor(self._mask, device=dev)
            impl.modules.set_eval()
            out = impl.modules.transformer(obs, act, rtg, ts, 1 - mask)[:, -1]
            if cfg.action_scaler:
                out = cfg.action_scaler.reverse_transform(out)
        return out.float().cpu().numpy()


def make_d3rlpy_agent(loaded: LoadedBaseline, target_return: float | None = None) -> D3rlpyAgent:
    """The agent of a loaded baseline; ``target_return``: DT's default R̂_0 (a job's target overrides it)."""
    if loaded.meta.transformer:
        return DecisionTransformerAgent(loaded, target_return=target_return)
    return D3rlpyAgent(loaded)
