"""One table of every task: env id, maze, horizon, reward type, Multi2D flag, dataset, reference returns.

``d4rl_ref_*`` are D4RL's REF_MIN / REF_MAX (``d4rl/pointmaze/__init__.py``, spec data.md §9); Multi2D
tasks reuse the single-task values (D4RL has none for random goals). ``ours_ref_*`` are re-measured on
our env with ``mage data refs --episodes 100`` (random policy = min, noiseless waypoint controller = max,
env seeds 0..99); docs/results.md has the table and the command.

    normalized score = 100 * (R - ref_min) / (ref_max - ref_min)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TaskSpec:
    name: str  # task name, e.g. maze2d-umaze-v1
    env_id: str  # gymnasium id, e.g. mage/maze2d-umaze-v1
    maze: str  # umaze | medium | large
    horizon: int  # evaluation episode length (TimeLimit)
    reward_type: str  # sparse | dense
    multi: bool  # Multi2D: random goal per episode
    dataset: str  # dataset name the task trains on (multi tasks use the single-task data)
    d4rl_ref_min: float
    d4rl_ref_max: float
    ours_ref_min: float
    ours_ref_max: float


_HORIZON = {"umaze": 300, "medium": 600, "large": 800}
# D4RL v1 refs: (sparse min, sparse max, dense min, dense max).
_D4RL_REFS = {
    "umaze": (23.85, 161.86, 68.537689, 193.66285642381482),
    "medium": (13.13, 277.39, 44.264742, 297.4552547777125),
    "large": (6.7, 273.99, 30.569041, 303.4857382709002),
}
# Measured with `mage data refs --episodes 100 --seed 0` (docs/results.md): (random mean, waypoint mean with
# D4RL's REF_MAX protocol). On Multi2D the goal changes every episode, so the controller re-plans each time.
OURS_REFS: dict[str, tuple[float, float]] = {
    "maze2d-umaze-v1": (32.49, 173.16),
    "maze2d-medium-v1": (20.35, 252.34),
    "maze2d-large-v1": (10.94, 280.18),
    "maze2d-umaze-dense-v1": (75.02, 202.37),
    "maze2d-medium-dense-v1": (53.09, 273.87),
    "maze2d-large-dense-v1": (38.87, 306.53),
    "maze2d-umaze-multi-v1": (31.67, 238.83),
    "maze2d-medium-multi-v1": (18.12, 470.68),
    "maze2d-large-multi-v1": (10.86, 582.76),
}


def _build() -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    for maze, horizon in _HORIZON.items():
        smin, smax, dmin, dmax = _D4RL_REFS[maze]
        for variant, reward, multi, rmin, rmax in (
            ("", "sparse", False, smin, smax),
            ("-dense", "dense", False, dmin, dmax),
            ("-multi", "sparse", True, smin, smax),
        ):
            name = f"maze2d-{maze}{variant}-v1"
            ours = OURS_REFS[name]
            specs[name] = TaskSpec(
                name=name,
                env_id=f"mage/{name}",
                maze=maze,
                horizon=horizon,
                reward_type=reward,
                multi=multi,
                dataset=f"maze2d-{maze}-v1" if multi else name,
                d4rl_ref_min=rmin,
                d4rl_ref_max=rmax,
                ours_ref_min=ours[0],
                ours_ref_max=ours[1],
            )
    return specs


TASKS: dict[str, TaskSpec] = _build()


def list_specs() -> list[TaskSpec]:
    return list(TASKS.values())


def get_spec(name: str) -> TaskSpec:
    """Spec of a task name (``maze2d-umaze-v1``) or env id (``mage/maze2d-umaze-v1``)."""
    key = name.removeprefix("mage/")
    if key not in TASKS:
        raise KeyError(f"unknown task {name!r}; valid names: {', '.join(TASKS)}")
    return TASKS[key]


def normalized_score(name: str, returns: float | np.ndarray, refs: str = "d4rl") -> np.ndarray | float:
    """100 * (R - min) / (max - min) with D4RL's refs (``refs="d4rl"``) or ours (``refs="ours"``)."""
    spec = get_spec(name)
    if refs == "d4rl":
        lo, hi = spec.d4rl_ref_min, spec.d4rl_ref_max
    elif refs == "ours":
        lo, hi = spec.ours_ref_min, spec.ours_ref_max
    else:
        raise ValueError(f"refs={refs!r} must be 'd4rl' or 'ours'")
    out = 100.0 * (np.asarray(returns, dtype=np.float64) - lo) / (hi - lo)
    return float(out) if out.ndim == 0 else out
