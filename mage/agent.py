"""The one interface every evaluated policy follows: MAGE, baselines, scripted controllers.

Evaluation (``mage.eval.rollout``) drives agents over a batch of environments at once:

    agent.reset(num_envs, target_return)        # start of a batch of episodes
    a_BA = agent.act(obs_BS, goal_BG)           # every step
    agent.observe(reward_B, done_B)             # after the env step (RTG bookkeeping)

Return-conditioned agents (MAGE, DT) use ``target_return`` and ``observe``; others ignore them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Agent(Protocol):
    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        """Start ``num_envs`` new episodes; ``target_return`` is the absolute initial RTG R̂_0."""

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        """Actions (B, A) in the env's action bounds for a batch of raw (unnormalised) observations."""

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        """Feedback after the env step: R̂ -= r for return-conditioned agents. Episodes in a batch run
        in lockstep; an env that is done stays frozen (its later actions are ignored) until ``reset``."""


@runtime_checkable
class StatePlanner(Protocol):
    """An agent that also produces a state plan (MAGE's decoded states, Diffuser): the harness's
    ``acting='track'`` follows ``plan_next_state`` with Diffuser's tracking controller instead of ``act``."""

    def plan_next_state(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        """The planned next state (B, S), raw (unnormalised), for the current observations."""
