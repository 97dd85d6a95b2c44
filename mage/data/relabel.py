"""Hindsight goals (Multi2D): the maze2d reward rule against any goal, and episodes re-cut so that each one has
its own goal, with rewards and return-to-go recomputed against it (``data.goal_relabel``).

Why: after Diffuser's re-split almost every episode ends at the single evaluation goal, and the stored rewards
refer to it, so a goal-conditioned model trained on ``Episodes.goal_EG`` learns one goal only while Multi2D asks
for any free cell. Relabelling cuts every episode into sub-episodes, each ending where its goal is:

- ``future`` (HER's choice): random consecutive cuts of [min_len, max_len] steps (a shorter remainder joins the
  piece before it; an episode shorter than min_len stays whole); the goal is the xy of the sub-episode's last
  state, a state the data does reach. ``copies`` independent cuts multiply the data.
- ``infos``: maximal runs of a constant ``infos/goal`` (the data controller's current target; D4RL maze2d files
  and ``mage.data.generate`` store it) inside each episode; the goal is that target.

Rows are re-packed (``Episodes.select``'s layout); the reward of each row is the dataset's own rule
(``relabel_rewards``: sparse ``||xy - g|| <= 0.5``, dense ``exp(-d)``, from ``obs_t`` as D4RL's relabel
script) against the sub-episode's goal, and RTG / returns are recomputed from it. The baselines' ``-goal``
variants (``mage.baselines.dataset``) and the generator use the same rule and the same cuts.
"""

from __future__ import annotations

import numpy as np

from mage.data.episodes import Episodes, _ranges, returns_to_go
from mage.envs.maze2d import GOAL_RADIUS

GOAL_RELABELS = ("none", "future", "infos")  # values of data.goal_relabel
GOAL_DIM = 2  # a relabelled goal is a position (x, y), as the env's goal_BG


def relabel_rewards(xy_N2: np.ndarray, goal_N2: np.ndarray, reward_type: str = "sparse") -> np.ndarray:
    """The maze2d reward of each row against its goal (one goal ``(2,)`` or one per row ``(N, 2)``): sparse
    ``d <= 0.5`` or dense ``exp(-d)``; float32."""
    d_N = np.linalg.norm(xy_N2.astype(np.float64) - np.asarray(goal_N2, dtype=np.float64), axis=1)
    if reward_type == "sparse":
        return (d_N <= GOAL_RADIUS).astype(np.float32)
    if reward_type == "dense":
        return np.exp(-d_N).astype(np.float32)
    raise ValueError(f"reward_type={reward_type!r} must be 'sparse' or 'dense'")


def future_segments(
    starts_E: np.ndarray,
    lengths_E: np.ndarray,
    min_len: int,
    max_len: int,
    copies: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(first row, length) of the ``future`` sub-episodes: ``copies`` random cuts of every episode of at least
    two steps into pieces of [min_len, max_len] steps (a remainder below min_len joins the piece before it; an
    episode shorter than min_len stays whole)."""
    if not 2 <= min_len <= max_len or copies < 1:
        raise ValueError(f"need 2 <= min_len={min_len} <= max_len={max_len} and copies={copies} >= 1")
    seg_s: list[int] = []
    seg_l: list[int] = []
    for _ in range(copies):
        for s, L in zip(starts_E.tolist(), lengths_E.tolist()):
            if L < 2:
                continue
            cuts = np.cumsum(rng.integers(min_len, max_len + 1, size=L // min_len + 1))
            cuts = cuts[cuts <= L - min_len]  # the remainder after the last cut is >= min_len
            bounds = np.concatenate([[0], cuts, [L]])
            seg_s.extend((s + bounds[:-1]).tolist())
            seg_l.extend(np.diff(bounds).tolist())
    return np.asarray(seg_s, dtype=np.int64), np.asarray(seg_l, dtype=np.int64)


def infos_segments(eps: Episodes, infos_goal_N2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row, length) of the ``infos`` sub-episodes: maximal runs of one ``infos/goal`` value inside each
    episode (``infos_goal_N2`` is aligned with ``eps``' rows)."""
    N = eps.num_steps
    if len(infos_goal_N2) != N:
        raise ValueError(f"infos/goal has {len(infos_goal_N2)} rows but the episodes have {N} steps")
    first_N = np.zeros(N, dtype=bool)
    first_N[eps.starts_E[eps.lengths_E > 0]] = True
    first_N[1:] |= np.any(infos_goal_N2[1:] != infos_goal_N2[:-1], axis=1)
    covered_N = np.zeros(N, dtype=bool)
    covered_N[_ranges(eps.starts_E, eps.lengths_E)] = True
    if not covered_N.all():
        raise ValueError(
            "infos_segments needs episodes that cover every row (as split_episodes returns them)"
        )
    starts = np.flatnonzero(first_N).astype(np.int64)
    return starts, np.diff(np.append(starts, N)).astype(np.int64)


def relabel_episodes(
    eps: Episodes,
    starts_E: np.ndarray,
    lengths_E: np.ndarray,
    goal_EG: np.ndarray,
    reward_type: str,
) -> Episodes:
    """New episodes from the rows ``starts_E[e] : starts_E[e] + lengths_E[e]`` of ``eps``, each with its goal
    ``goal_EG[e]`` and rewards, RTG and returns recomputed against it."""
    if len(starts_E) == 0:
        raise ValueError("no sub-episode to relabel (the dataset has no episode of at least two steps)")
    rows_N = _ranges(starts_E, lengths_E)
    goal_EG = np.asarray(goal_EG, dtype=np.float32)[:, :GOAL_DIM]
    obs_NS = eps.obs_NS[rows_N]
    rew_N = relabel_rewards(obs_NS[:, :GOAL_DIM], np.repeat(goal_EG, lengths_E, axis=0), reward_type)
    new_starts_E = np.concatenate([[0], np.cumsum(lengths_E)[:-1]]).astype(np.int64)
    return Episodes(
        obs_NS=obs_NS,
        act_NA=eps.act_NA[rows_N],
        rew_N=rew_N,
        rtg_N=returns_to_go(rew_N, new_starts_E, lengths_E).astype(np.float32),
        starts_E=new_starts_E,
        lengths_E=np.asarray(lengths_E, dtype=np.int64),
        returns_E=np.add.reduceat(rew_N.astype(np.float64), new_starts_E),
        goal_EG=goal_EG,
        episode_N=np.repeat(np.arange(len(starts_E)), lengths_E),
    )


def hindsight_episodes(
    eps: Episodes,
    mode: str,
    *,
    reward_type: str,
    infos_goal_N2: np.ndarray | None = None,
    min_len: int = 20,
    max_len: int = 300,
    copies: int = 1,
    seed: int = 0,
) -> Episodes:
    """``eps`` relabelled with hindsight goals (``mode``: ``future`` or ``infos``, see the module doc);
    ``none`` returns ``eps`` unchanged."""
    if mode == "none":
        return eps
    if mode == "future":
        rng = np.random.default_rng(seed)
        starts, lengths = future_segments(eps.starts_E, eps.lengths_E, min_len, max_len, copies, rng)
        goal_EG = eps.obs_NS[starts + lengths - 1, :GOAL_DIM]
    elif mode == "infos":
        if infos_goal_N2 is None:
            raise ValueError(
                "data.goal_relabel='infos' needs the dataset key 'infos/goal' (D4RL maze2d files and "
                "`mage data generate` write it) and this dataset has none; use data.goal_relabel=future"
            )
        goal_N2 = np.asarray(infos_goal_N2, dtype=np.float32)[:, :GOAL_DIM]
        starts, lengths = infos_segments(eps, goal_N2)
        goal_EG = goal_N2[starts]
    else:
        raise ValueError(f"data.goal_relabel={mode!r} must be one of {', '.join(GOAL_RELABELS)}")
    return relabel_episodes(eps, starts, lengths, goal_EG, reward_type)
