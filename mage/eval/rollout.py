"""Evaluation rollouts: ``run_episodes`` drives any ``mage.agent.Agent`` over lockstep batches of envs.

Episode i uses env seed ``seed + i`` whatever the batching, so the same agent and seed give the same returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mage.agent import Agent
from mage.envs.make import BatchedMazeEnv
from mage.envs.registry import get_spec, normalized_score


@dataclass
class EpisodeResult:
    episode: int  # index within this evaluation
    env_seed: int  # seed passed to env.reset
    ret: float  # undiscounted return
    length: int  # steps taken (the task horizon: maze2d episodes never terminate early)
    success: bool  # came within 0.5 of the goal at some step
    norm_score: float  # 100 * (R - REF_MIN) / (REF_MAX - REF_MIN), D4RL refs
    norm_score_ours: float  # same with our re-measured refs

    def to_row(self) -> dict[str, object]:
        """Row for ``eval/episodes.parquet`` (column ``return``)."""
        d = asdict(self)
        d["return"] = d.pop("ret")
        return d


def run_episodes(
    agent: Agent,
    task: str,
    episodes: int = 100,
    num_envs: int = 50,
    seed: int = 0,
    target_return: float | None = None,
) -> list[EpisodeResult]:
    """Run ``episodes`` episodes of ``task`` in batches of ``num_envs`` lockstep envs."""
    if episodes < 1 or num_envs < 1:
        raise ValueError(f"episodes={episodes} and num_envs={num_envs} must be >= 1")
    spec = get_spec(task)
    results: list[EpisodeResult] = []
    venvs: dict[int, BatchedMazeEnv] = {}
    for first in range(0, episodes, num_envs):
        n = min(num_envs, episodes - first)
        if n not in venvs:
            venvs[n] = BatchedMazeEnv(spec.name, n)
        venv = venvs[n]
        seeds = [seed + first + i for i in range(n)]
        obs_BS, goal_BG = venv.reset(seeds)
        agent.reset(n, target_return)
        ret_B = np.zeros(n)
        done_B = np.zeros(n, dtype=bool)
        success_B = np.zeros(n, dtype=bool)
        while not done_B.all():
            act_BA = np.asarray(agent.act(obs_BS, goal_BG), dtype=np.float64)
            obs_BS, reward_B, done_B, success_B = venv.step(act_BA)
            ret_B += reward_B
            agent.observe(reward_B, done_B)
        d4rl = normalized_score(spec.name, ret_B, "d4rl")
        ours = normalized_score(spec.name, ret_B, "ours")
        for i in range(n):
            results.append(
                EpisodeResult(
                    episode=first + i,
                    env_seed=seeds[i],
                    ret=float(ret_B[i]),
                    length=int(venv.t_B[i]),
                    success=bool(success_B[i]),
                    norm_score=float(d4rl[i]),
                    norm_score_ours=float(ours[i]),
                )
            )
    return results
