"""Action selection by a learned critic: the paper's "A + CQL" ablation row, as an agent wrapper.

Our reading of the row: MAGE generates the actions (scheme A: the generated action channel) and an offline
Q-function decides among them. Each step, every env gets ``N`` independently sampled plans (the inner agent
runs ``B * N`` rows in lockstep, so each candidate keeps its own RTG bookkeeping), the critic scores each
candidate's first action with ``Q(s, a)``, and the env executes the best one. The critic is a d3rlpy
Q-learning baseline (``mage.baselines``, CQL for the paper's row) trained on the same data, stored next to
the MAGE checkpoint as ``<checkpoint>/critic`` so that rollout actors receive it with the checkpoint.

    agent = CriticSelectAgent(MageAgent(ckpt, ...), load_baseline(ckpt_dir / "critic"), candidates=16)
"""

from __future__ import annotations

import numpy as np

from mage.agent import Agent
from mage.baselines.checkpoint import LoadedBaseline

CRITIC_DIR = "critic"  # the critic's baseline directory inside a MAGE checkpoint
NO_Q_FUNCTION = ("bc", "dt")  # d3rlpy algorithms without a Q-function to score actions with


class CriticSelectAgent:
    """``inner`` proposes ``candidates`` actions per env (one per sampled plan); ``critic`` picks the argmax
    of ``Q(s, a)``. Not a state planner: the chosen plan's states are not exposed (acting='own' only)."""

    plans_states = False

    def __init__(self, inner: Agent, critic: LoadedBaseline, candidates: int) -> None:
        if critic.meta.algo in NO_Q_FUNCTION or critic.meta.goal_conditioned:
            raise ValueError(
                f"eval.critic: baseline {critic.meta.method!r} has no Q(s, a) over plain states to select "
                f"actions with; use a Q-learning method trained without a goal (cql, iql, td3bc, ...)"
            )
        if candidates < 1:
            raise ValueError(f"eval.critic_candidates={candidates} must be >= 1")
        self.inner, self.critic, self.n = inner, critic, candidates
        self.last_q_BN: np.ndarray | None = None  # the candidates' Q values of the last step (diagnostics)

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        if target_return is not None and np.ndim(target_return) > 0:
            target_return = np.repeat(np.asarray(target_return, dtype=np.float64), self.n)
        self.inner.reset(num_envs * self.n, target_return)

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        B = obs_BS.shape[0]
        obs_MS = np.repeat(np.asarray(obs_BS, dtype=np.float32), self.n, axis=0)  # M = B * N, env-major
        goal_MG = None if goal_BG is None else np.repeat(goal_BG, self.n, axis=0)
        act_MA = np.asarray(self.inner.act(obs_MS, goal_MG), dtype=np.float32)
        q_BN = np.asarray(self.critic.algo.predict_value(obs_MS, act_MA), dtype=np.float64).reshape(B, self.n)
        self.last_q_BN = q_BN
        best_B = q_BN.argmax(axis=1)
        return act_MA.reshape(B, self.n, -1)[np.arange(B), best_B]

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        self.inner.observe(np.repeat(reward_B, self.n), np.repeat(done_B, self.n))
