"""Split a flat D4RL stream into episodes, vectorised (no per-step Python loops).

Episodes end where ``terminals | timeouts``; a trailing partial episode (no end flag) is kept. For maze2d,
``maze2d_set_terminals`` reproduces Diffuser's re-segmentation (spec data.md §2): the stored timeouts are
replaced by ``at_goal[t] & ~at_goal[t+1]`` with ``at_goal = ||xy - fixed goal|| < 0.5`` (Diffuser's strict
``<``), so episodes end when the agent leaves the evaluation goal. Diffuser also drops the last step of each
episode to build next_observations; ``trim_last_step=True`` does the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np


def maze2d_set_terminals(obs_NS: np.ndarray, goal_2: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Diffuser's maze2d timeouts: True at t iff at the goal at t and not at t + 1 (last step False)."""
    at_goal_N = np.linalg.norm(obs_NS[:, :2].astype(np.float64) - np.asarray(goal_2), axis=-1) < threshold
    timeouts_N = np.zeros(len(obs_NS), dtype=bool)
    timeouts_N[:-1] = at_goal_N[:-1] & ~at_goal_N[1:]
    return timeouts_N


@dataclass
class Episodes:
    """Flat per-step arrays plus episode boundaries (episode e is rows ``starts_E[e] : starts_E[e] + lengths_E[e]``)."""

    obs_NS: np.ndarray  # float32 observations
    act_NA: np.ndarray  # float32 actions
    rew_N: np.ndarray  # float32 rewards
    rtg_N: np.ndarray  # float32 undiscounted return-to-go within the episode (includes r_t)
    starts_E: np.ndarray  # int64 first row of each episode
    lengths_E: np.ndarray  # int64 steps per episode
    returns_E: np.ndarray  # float64 undiscounted episode returns
    goal_EG: np.ndarray  # float32 per-episode goal (see split_episodes' goal_source)
    episode_N: np.ndarray  # int64 episode index of each row

    @property
    def num_episodes(self) -> int:
        return len(self.starts_E)

    @property
    def num_steps(self) -> int:
        return len(self.obs_NS)

    @property
    def obs_dim(self) -> int:
        return self.obs_NS.shape[1]

    @property
    def act_dim(self) -> int:
        return self.act_NA.shape[1]

    def episode(self, e: int) -> dict[str, np.ndarray]:
        s = slice(self.starts_E[e], self.starts_E[e] + self.lengths_E[e])
        return {
            "obs_TS": self.obs_NS[s],
            "act_TA": self.act_NA[s],
            "rew_T": self.rew_N[s],
            "rtg_T": self.rtg_N[s],
        }

    def select(self, episode_idx: np.ndarray) -> Episodes:
        """A new Episodes holding only the given episodes (in the given order), rows re-packed."""
        idx_E = np.asarray(episode_idx, dtype=np.int64)
        lengths = self.lengths_E[idx_E]
        rows = _ranges(self.starts_E[idx_E], lengths)
        return Episodes(
            obs_NS=self.obs_NS[rows],
            act_NA=self.act_NA[rows],
            rew_N=self.rew_N[rows],
            rtg_N=self.rtg_N[rows],
            starts_E=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            if len(idx_E)
            else lengths,
            lengths_E=lengths,
            returns_E=self.returns_E[idx_E],
            goal_EG=self.goal_EG[idx_E],
            episode_N=np.repeat(np.arange(len(idx_E)), lengths),
        )


def _ranges(starts_E: np.ndarray, lengths_E: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` for every (s, l), vectorised."""
    total = int(lengths_E.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ep = np.repeat(np.arange(len(lengths_E)), lengths_E)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths_E) - lengths_E, lengths_E)
    return starts_E[ep] + offsets


def episode_bounds(ends_N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts_E, lengths_E) for end flags; an unterminated tail becomes its own episode."""
    n = len(ends_N)
    end_idx = np.flatnonzero(ends_N)
    stops = end_idx + 1
    if n and (len(stops) == 0 or stops[-1] != n):
        stops = np.append(stops, n)
    starts = np.concatenate([[0], stops[:-1]]).astype(np.int64)
    return starts, (stops - starts).astype(np.int64)


def returns_to_go(rew_N: np.ndarray, starts_E: np.ndarray, lengths_E: np.ndarray) -> np.ndarray:
    """Undiscounted RTG within each episode: rtg[t] = sum_{k >= t in episode} r_k (float64)."""
    csum = np.concatenate([[0.0], np.cumsum(rew_N, dtype=np.float64)])
    ends_N = np.repeat(starts_E + lengths_E, lengths_E)
    return csum[ends_N] - csum[:-1][: len(rew_N)]


def windowed_returns(rew_N: np.ndarray, starts_E: np.ndarray, lengths_E: np.ndarray, n: int) -> np.ndarray:
    """Reward over the next ``n`` steps, cut at the episode end: rtg[t] = sum_{t <= k < min(t + n, end)} r_k."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    csum = np.concatenate([[0.0], np.cumsum(rew_N, dtype=np.float64)])
    ends_N = np.repeat(starts_E + lengths_E, lengths_E)
    t_N = np.arange(len(rew_N))
    return csum[np.minimum(t_N + n, ends_N)] - csum[t_N]


def with_horizon_rtg(eps: Episodes, n: int) -> Episodes:
    """The same episodes with RTG = reward over the next ``n`` steps (``data.rtg_horizon``).

    ``returns_E`` becomes each episode's best n-step return, so RTG percentiles (eval.rtg_percentile) keep
    their meaning: the 100th percentile is the best n-step return in the data.
    """
    rtg = windowed_returns(eps.rew_N, eps.starts_E, eps.lengths_E, n)
    best = np.maximum.reduceat(rtg, eps.starts_E) if eps.num_episodes else np.zeros(0)
    return dataclasses.replace(eps, rtg_N=rtg.astype(np.float32), returns_E=best.astype(np.float64))


def split_episodes(
    data: dict[str, Any],
    *,
    diffuser_resplit: bool = False,
    goal_xy: np.ndarray | None = None,
    max_steps: int | None = None,
    trim_last_step: bool = False,
    goal_source: str = "final_xy",
) -> Episodes:
    """Episodes from a validated dataset dict (``mage.data.d4rl_io.load_dataset``).

    ``diffuser_resplit`` needs ``goal_xy`` (the task's fixed goal). ``goal_source``: ``final_xy`` (hindsight:
    the episode's last position, what Diffuser inpaints) or ``infos`` (``infos/goal`` at the last step).
    """
    obs = np.asarray(data["observations"], dtype=np.float32)
    act = np.asarray(data["actions"], dtype=np.float32)
    rew = np.asarray(data["rewards"], dtype=np.float32)
    terminals = np.asarray(data["terminals"], dtype=bool)
    timeouts = np.asarray(data["timeouts"], dtype=bool) if "timeouts" in data else np.zeros_like(terminals)
    infos_goal = data.get("infos/goal")
    if max_steps is not None:
        obs, act, rew = obs[:max_steps], act[:max_steps], rew[:max_steps]
        terminals, timeouts = terminals[:max_steps], timeouts[:max_steps]
        infos_goal = None if infos_goal is None else infos_goal[:max_steps]
    if diffuser_resplit:
        if goal_xy is None:
            raise ValueError(
                "diffuser_resplit=True needs goal_xy, the task's fixed goal (TaskSpec / env.eval_goal)"
            )
        timeouts = maze2d_set_terminals(obs, goal_xy)
    starts, lengths = episode_bounds(terminals | timeouts)
    if trim_last_step:
        keep = lengths > 1
        starts, lengths = starts[keep], lengths[keep] - 1
        rows = _ranges(starts, lengths)
        obs, act, rew = obs[rows], act[rows], rew[rows]
        infos_goal = None if infos_goal is None else infos_goal[rows]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else starts
    last = starts + lengths - 1
    if goal_source == "final_xy":
        goal = obs[last, :2]
    elif goal_source == "infos":
        if infos_goal is None:
            raise ValueError(
                "goal_source='infos' needs the dataset key 'infos/goal'; use goal_source='final_xy'"
            )
        goal = np.asarray(infos_goal, dtype=np.float32)[last]
    else:
        raise ValueError(f"goal_source={goal_source!r} must be 'final_xy' or 'infos'")
    rtg = returns_to_go(rew, starts, lengths)
    returns = np.add.reduceat(rew.astype(np.float64), starts) if len(starts) else np.zeros(0)
    return Episodes(
        obs_NS=obs,
        act_NA=act,
        rew_N=rew,
        rtg_N=rtg.astype(np.float32),
        starts_E=starts,
        lengths_E=lengths,
        returns_E=returns,
        goal_EG=np.asarray(goal, dtype=np.float32),
        episode_N=np.repeat(np.arange(len(starts)), lengths),
    )
