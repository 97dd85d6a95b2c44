"""Evaluation rollouts: ``run_episodes`` drives any ``mage.agent.Agent`` over lockstep batches of envs under
one ``EvalProtocol`` (goal given or not, own action or state tracking, hold), with per-episode diagnostics.

Episode i uses env seed ``seed + i`` whatever the batching, so the same agent and seed give the same returns.
Any task of ``mage.envs.registry`` runs here (``mage.envs.make.make_batched_env``): episodes that terminate
early end there (length < horizon, return = the rewards up to the termination, the frozen copy adds 0).
Tasks without a goal refuse goal='given' and hold (``check_applies``); their goal diagnostics are empty
(success False, first_arrival -1, dwell and the absorbing return NaN).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from mage.agent import Agent, StatePlanner
from mage.envs.make import BatchedGymEnv, BatchedMazeEnv, make_batched_env
from mage.envs.registry import get_spec, normalized_score
from mage.eval.protocol import PURE, EvalProtocol, at_goal, check_applies, hold_action, track_action


@dataclass
class EpisodeResult:
    episode: int  # index within this evaluation
    env_seed: int  # seed passed to env.reset
    ret: float  # undiscounted return
    length: int  # steps taken (the task horizon, or fewer when the episode terminated early)
    success: bool  # came within 0.5 of the goal at some step (False on tasks without a goal)
    norm_score: float  # 100 * (R - REF_MIN) / (REF_MAX - REF_MIN), D4RL refs
    norm_score_ours: float  # same with our re-measured refs
    first_arrival: int  # env step (1-based) of the first arrival within the goal radius; -1: never
    dwell: float  # fraction of the steps from the first arrival to the end spent at the goal; NaN: never
    return_absorbing: float  # diagnostic: every step after the first arrival counts as at the goal
    norm_score_absorbing: float  # the absorbing return normalised (Diffusion Veteran's count: NOT comparable)
    hold_steps: int  # steps on which the hold replaced the agent's action (0 without hold)
    start_x: float = math.nan  # start position and goal of an episode of a goal task (per-cell diagnostics:
    start_y: float = math.nan  # mage.eval.scores.cell_breakdown); NaN on tasks without a goal
    goal_x: float = math.nan
    goal_y: float = math.nan

    def to_row(self) -> dict[str, object]:
        """Row for ``eval/episodes.parquet`` (column ``return``)."""
        d = asdict(self)
        d["return"] = d.pop("ret")
        return d


def goal_diagnostics(
    at_goal_BT: np.ndarray, reward_BT: np.ndarray, length_B: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per episode from its steps: (first arrival step, 1-based, -1 if never; fraction of the steps from the
    first arrival to the end at the goal, NaN if never; absorbing return = rewards before the arrival + one per
    step from the arrival on)."""
    arrived_B = at_goal_BT.any(1)
    first_B = np.where(arrived_B, at_goal_BT.argmax(1) + 1, -1)
    after_B = np.where(arrived_B, length_B - first_B + 1, 1)
    t_BT = np.arange(1, at_goal_BT.shape[1] + 1)[None, :]
    before_BT = ~arrived_B[:, None] | (t_BT < first_B[:, None])
    dwell_B = np.where(arrived_B, at_goal_BT.sum(1) / after_B, np.nan)
    absorbing_B = (reward_BT * before_BT).sum(1) + np.where(arrived_B, after_B, 0)
    return first_B, dwell_B, absorbing_B


def protocol_actions(
    agent: Agent, protocol: EvalProtocol, obs_BS: np.ndarray, goal_BG: np.ndarray, low: float, high: float
) -> np.ndarray:
    """What the harness executes before any hold: the agent's action, or the tracker on its planned state;
    the agent sees the goal only under ``goal='given'``."""
    goal = goal_BG if protocol.goal == "given" else None
    if protocol.acting == "track":
        if not isinstance(agent, StatePlanner):
            raise ValueError(
                f"{type(agent).__name__} does not plan states, so acting='track' does not apply; "
                "use acting='own' (state tracking is for agents that produce a state plan)"
            )
        return track_action(obs_BS, np.asarray(agent.plan_next_state(obs_BS, goal)), low, high)
    return np.asarray(agent.act(obs_BS, goal), dtype=np.float64)


def run_episodes(
    agent: Agent,
    task: str,
    episodes: int = 100,
    num_envs: int = 50,
    seed: int = 0,
    target_return: float | None = None,
    protocol: EvalProtocol = PURE,
) -> list[EpisodeResult]:
    """Run ``episodes`` episodes of ``task`` in batches of ``num_envs`` lockstep envs under ``protocol``."""
    if episodes < 1 or num_envs < 1:
        raise ValueError(f"episodes={episodes} and num_envs={num_envs} must be >= 1")
    spec = get_spec(task)
    check_applies(protocol, spec)
    results: list[EpisodeResult] = []
    venvs: dict[int, BatchedMazeEnv | BatchedGymEnv] = {}
    for first in range(0, episodes, num_envs):
        n = min(num_envs, episodes - first)
        if n not in venvs:
            venvs[n] = make_batched_env(spec.name, n)
        venv = venvs[n]
        seeds = [seed + first + i for i in range(n)]
        obs_BS, goal_BG = venv.reset(seeds)
        where_B4 = np.full((n, 4), np.nan)  # (start x, start y, goal x, goal y)
        if spec.has_goal:
            where_B4 = np.concatenate([obs_BS[:, :2], goal_BG[:, :2]], axis=1)
        agent.reset(n, target_return)
        holds_B = np.zeros(n, dtype=np.int64)
        done_B = np.zeros(n, dtype=bool)
        success_B = np.zeros(n, dtype=bool)
        rewards, here = [], []  # per step (B,): reward, at the goal after the step (False once done)
        while not done_B.all():
            running_B = ~done_B
            act_BA = protocol_actions(agent, protocol, obs_BS, goal_BG, spec.act_low, spec.act_high)
            if protocol.hold:
                hold_B = at_goal(obs_BS, goal_BG) & running_B
                act_BA[hold_B] = hold_action(obs_BS[hold_B], goal_BG[hold_B])
                holds_B += hold_B
            obs_BS, reward_B, done_B, success_B = venv.step(act_BA)
            rewards.append(reward_B)
            here.append(at_goal(obs_BS, goal_BG) & running_B if spec.has_goal else np.zeros(n, dtype=bool))
            agent.observe(reward_B, done_B)
        length_B = venv.t_B.copy()
        ret_B = np.sum(rewards, axis=0)
        arrival_B, dwell_B, absorbing_B = goal_diagnostics(np.stack(here, 1), np.stack(rewards, 1), length_B)
        if not spec.has_goal:
            absorbing_B = np.full(n, np.nan)
        d4rl = normalized_score(spec.name, ret_B, "d4rl")
        ours = normalized_score(spec.name, ret_B, "ours")
        absorbing = normalized_score(spec.name, absorbing_B, "d4rl")
        for i in range(n):
            results.append(
                EpisodeResult(
                    episode=first + i,
                    env_seed=seeds[i],
                    ret=float(ret_B[i]),
                    length=int(length_B[i]),
                    success=bool(success_B[i]),
                    norm_score=float(d4rl[i]),
                    norm_score_ours=float(ours[i]),
                    first_arrival=int(arrival_B[i]),
                    dwell=float(dwell_B[i]),
                    return_absorbing=float(absorbing_B[i]),
                    norm_score_absorbing=float(absorbing[i]),
                    hold_steps=int(holds_B[i]),
                    **dict(zip(("start_x", "start_y", "goal_x", "goal_y"), map(float, where_B4[i]))),
                )
            )
    return results
