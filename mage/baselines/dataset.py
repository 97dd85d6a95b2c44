"""The one adapter from our ``Episodes`` to ``d3rlpy.dataset.MDPDataset``.

Episodes are taken as ``mage.data.prepare.load_episodes`` gives them (maze2d: Diffuser's re-split), and each
one becomes one d3rlpy episode: ``timeouts`` at its last step, ``terminals`` all zero (maze2d never
terminates; ``Episodes`` carries no terminal flags, so a dataset with real terminals would need them added
there first). d3rlpy drops the last step of a non-terminal episode as a transition source (it has no next
observation): an episode of L steps gives L - 1 transitions, and DT sequences still see all L steps. It also
silently drops one-step episodes (no transition at all), so the adapter leaves them out itself and what it
reports (``FlatData``: episode returns, transition count) is what d3rlpy holds.

Goal conditioning (the ``-goal`` variants): the goal (x, y) is appended to every observation and the reward is
recomputed against it with the dataset's own rule (``mage.data.relabel.relabel_rewards``, row t from
``obs_t``: sparse ``||xy - g|| <= 0.5``, dense ``exp(-d)``), so the reward keeps meaning "at the goal"
whatever the goal is.
Which goal (``GoalConfig.relabel``):

- ``future`` (default): hindsight relabelling with future states (``mage.data.relabel.future_segments``,
  the cuts MAGE's ``data.goal_relabel=future`` uses). Each episode is cut into consecutive
  sub-trajectories of random length in [min_len, max_len] (a shorter remainder joins the previous one); a
  sub-trajectory becomes its own d3rlpy episode whose goal is the xy of its last step, a state the data does
  reach. ``copies`` independent cuts multiply the data. Chosen because Diffuser's re-split makes almost every
  episode end at the single evaluation goal, so per-episode goals would teach one goal only, while Multi2D
  asks for any cell.
- ``episode``: the episode's ``goal_EG`` (``split_episodes``' goal_source: its final xy by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mage.baselines.config_base import GoalConfig
from mage.baselines.methods import GOAL_DIM
from mage.data.episodes import Episodes, _ranges
from mage.data.relabel import future_segments, relabel_rewards


@dataclass
class FlatData:
    """What d3rlpy receives, as flat arrays (N rows); one episode per ``timeouts`` flag."""

    observations: np.ndarray  # (N, S) or (N, S + 2) with the goal appended, float32
    actions: np.ndarray  # (N, A) float32
    rewards: np.ndarray  # (N,) float32 (relabelled for goal-conditioned data)
    terminals: np.ndarray  # (N,) float32, all zero
    timeouts: np.ndarray  # (N,) float32, 1 at every episode's last step
    goal_dim: int  # 0, or 2 when the goal is appended

    @property
    def starts(self) -> np.ndarray:
        ends = np.flatnonzero(self.timeouts)
        return np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)

    @property
    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each d3rlpy episode (float64): DT's default target."""
        return (
            np.add.reduceat(self.rewards.astype(np.float64), self.starts)
            if len(self.rewards)
            else np.zeros(0)
        )

    @property
    def num_transitions(self) -> int:
        """Transitions d3rlpy samples: every step but each (non-terminal) episode's last."""
        return int(len(self.rewards) - self.timeouts.sum())


def flat_arrays(
    eps: Episodes, goal: GoalConfig | None = None, reward_type: str = "sparse", seed: int = 0
) -> FlatData:
    """Our episodes as d3rlpy's flat arrays; ``goal``: append a hindsight goal (see the module doc)."""
    keep = eps.lengths_E >= 2  # d3rlpy silently drops episodes without a transition; drop them here too
    if goal is None:
        starts, lengths = eps.starts_E[keep], eps.lengths_E[keep]
        rows = _ranges(starts, lengths)
        obs, rew = eps.obs_NS[rows], eps.rew_N[rows]
        gdim = 0
    else:
        if goal.relabel == "future":
            rng = np.random.default_rng(seed)
            starts, lengths = future_segments(
                eps.starts_E, eps.lengths_E, goal.min_len, goal.max_len, goal.copies, rng
            )
            goal_seg = eps.obs_NS[starts + lengths - 1, :GOAL_DIM]
        else:
            starts, lengths = eps.starts_E[keep], eps.lengths_E[keep]
            goal_seg = eps.goal_EG[keep, :GOAL_DIM]
        rows = _ranges(starts, lengths)
        goal_N = np.repeat(goal_seg.astype(np.float32), lengths, axis=0)
        obs = np.concatenate([eps.obs_NS[rows], goal_N], axis=1)
        rew = relabel_rewards(eps.obs_NS[rows, :GOAL_DIM], goal_N, reward_type)
        gdim = GOAL_DIM
    timeouts = np.zeros(len(rows), dtype=np.float32)
    timeouts[np.cumsum(lengths) - 1] = 1.0
    return FlatData(
        observations=np.ascontiguousarray(obs, dtype=np.float32),
        actions=np.ascontiguousarray(eps.act_NA[rows], dtype=np.float32),
        rewards=np.asarray(rew, dtype=np.float32),
        terminals=np.zeros(len(rows), dtype=np.float32),
        timeouts=timeouts,
        goal_dim=gdim,
    )


def to_mdp_dataset(data: FlatData) -> Any:
    """The ``d3rlpy.dataset.MDPDataset`` of flat arrays (continuous actions)."""
    from d3rlpy.constants import ActionSpace
    from d3rlpy.dataset import MDPDataset

    if not len(data.rewards):
        raise ValueError("no episode of at least two steps: nothing for d3rlpy to train on")
    return MDPDataset(
        observations=data.observations,
        actions=data.actions,
        rewards=data.rewards,
        terminals=data.terminals,
        timeouts=data.timeouts,
        action_space=ActionSpace.CONTINUOUS,
        action_size=data.actions.shape[1],
    )
