"""One table of every task: env, spaces, horizon, termination, goal, dataset, data recipe, reference returns.

Families: ``maze2d`` (our D4RL-exact point mass: ``maze2d-{umaze,medium,large}-v1`` from D4RL and
``maze2d-giant-v1`` on OGBench's giant layout, each with ``-dense`` and Multi2D ``-multi`` variants) and
``locomotion`` (gymnasium ``Hopper-v5``: ``hopper-{random,medium,medium-replay,expert}-mage``, made here,
and D4RL's ``hopper-*-v2`` files when a user has them). Each task says how many observation / action dims
it has, the action bounds, whether its episodes can end before the horizon (``terminates``), its goal size
(0: no goal), and how its data comes to exist (``recipe``: ``maze2d-waypoint``, ``random-actions``,
``sac-{medium,medium-replay,expert}``, or None = a D4RL file only).

``d4rl_ref_*`` are D4RL's REF_MIN / REF_MAX (``d4rl/pointmaze/__init__.py``, ``d4rl/infos.py``; spec
data.md §9); Multi2D tasks reuse the single-task values (D4RL has none for random goals); maze2d-giant has
none (not a D4RL task). ``ours_ref_*`` are re-measured on our env with ``mage data refs --episodes 100``
(random policy = min, D4RL's REF_MAX protocol for the noiseless waypoint controller = max, env seeds
0..99); docs/results.md and docs/benchmarks.md have the tables and the commands.

    normalized score = 100 * (R - ref_min) / (ref_max - ref_min)

``refs="d4rl"`` falls back to our refs for a task without D4RL refs (``TaskSpec.score_refs`` says which);
a task without any refs scores NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TaskSpec:
    name: str  # task name, e.g. maze2d-umaze-v1, hopper-random-mage
    env_id: str  # gymnasium id, e.g. mage/maze2d-umaze-v1, Hopper-v5
    maze: str | None  # maze layout (umaze | medium | large | giant); None for non-maze tasks
    horizon: int  # evaluation episode length (TimeLimit); terminating tasks may end earlier
    reward_type: str  # sparse | dense (maze2d); env (the gymnasium env's own reward)
    multi: bool  # Multi2D: random goal per episode
    dataset: str  # dataset name the task trains on (multi tasks use the single-task data)
    d4rl_ref_min: float | None  # D4RL REF_MIN; None when D4RL has no such task
    d4rl_ref_max: float | None  # D4RL REF_MAX; None when D4RL has no such task
    ours_ref_min: float | None  # our measured random return; None when not measured
    ours_ref_max: float | None  # our measured controller return; None when there is no controller
    family: str = "maze2d"  # maze2d | locomotion
    obs_dim: int = 4  # observation size (maze2d: x, y, vx, vy)
    act_dim: int = 2  # action size
    act_low: float = -1.0  # lower action bound, every dim
    act_high: float = 1.0  # upper action bound, every dim
    terminates: bool = False  # episodes can end before the horizon (env termination)
    goal_dim: int = 2  # size of info["goal"]; 0: the task has no goal (protocol goal/hold do not apply)
    recipe: str | None = "maze2d-waypoint"  # how `mage data generate` makes the dataset; None: D4RL file only

    @property
    def has_goal(self) -> bool:
        return self.goal_dim > 0

    @property
    def score_refs(self) -> str:
        """Which refs ``normalized_score(..., refs="d4rl")`` uses: d4rl, ours (no D4RL refs) or none."""
        if self.d4rl_ref_min is not None and self.d4rl_ref_max is not None:
            return "d4rl"
        if self.ours_ref_min is not None and self.ours_ref_max is not None:
            return "ours"
        return "none"


_HORIZON = {"umaze": 300, "medium": 600, "large": 800, "giant": 1300}
# maze2d-giant: D4RL's max_episode_steps scaled to the maze. The noiseless waypoint controller's latest first
# arrival over 300 random starts is 165 / 303 / 514 steps in umaze / medium / large (55 / 51 / 64 % of
# 300 / 600 / 800) and 854 in giant; 1300 gives giant large's slack (66 %). OGBench's pointmaze-giant-navigate
# uses 1000, but for its own point mass on 4-unit cells; on ours 1000 would leave 85 % (docs/benchmarks.md).
# D4RL v1 refs: (sparse min, sparse max, dense min, dense max); giant has none.
_D4RL_REFS: dict[str, tuple[float, float, float, float] | None] = {
    "umaze": (23.85, 161.86, 68.537689, 193.66285642381482),
    "medium": (13.13, 277.39, 44.264742, 297.4552547777125),
    "large": (6.7, 273.99, 30.569041, 303.4857382709002),
    "giant": None,
}
# Measured with `mage data refs --episodes 100 --seed 0` (docs/results.md; giant and hopper in
# docs/benchmarks.md): (random mean, waypoint mean with D4RL's REF_MAX protocol). On Multi2D the goal
# changes every episode, so the controller re-plans each time. Hopper has no controller: max is None.
OURS_REFS: dict[str, tuple[float | None, float | None]] = {
    "maze2d-umaze-v1": (32.49, 173.16),
    "maze2d-medium-v1": (20.35, 252.34),
    "maze2d-large-v1": (10.94, 280.18),
    "maze2d-umaze-dense-v1": (75.02, 202.37),
    "maze2d-medium-dense-v1": (53.09, 273.87),
    "maze2d-large-dense-v1": (38.87, 306.53),
    "maze2d-umaze-multi-v1": (31.67, 238.83),
    "maze2d-medium-multi-v1": (18.12, 470.68),
    "maze2d-large-multi-v1": (10.86, 582.76),
    # `mage data refs --episodes 100 --seed 0 --tasks maze2d-giant-v1 maze2d-giant-dense-v1 \
    #  maze2d-giant-multi-v1 hopper-random-mage` (54 s on 2 shared cores). D4RL's protocol is weak here: the
    # reused controller steers straight at the goal and the walls stop it (re-planning every episode: 911.93 /
    # 924.67), so giant scores run far above 100; both columns are in docs/benchmarks.md.
    "maze2d-giant-v1": (12.18, 172.23),
    "maze2d-giant-dense-v1": (25.37, 179.54),
    "maze2d-giant-multi-v1": (11.11, 930.01),
    "hopper": (17.48, None),  # uniform random actions on Hopper-v5 (D4RL's REF_MIN -20.27: its random policy)
}
# D4RL hopper-*-v2 (d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE: random-v0 / expert SAC returns).
HOPPER_D4RL_REFS = (-20.272305, 3234.3)
HOPPER_ENV = "Hopper-v5"  # gymnasium; D4RL used mujoco-py Hopper-v3 (differences: docs/benchmarks.md)
# D4RL's hopper files (load-only: place them in $D4RL_DATASET_DIR); hopper-random-mage is made here.
HOPPER_D4RL_DATASETS = ("random", "medium", "medium-replay", "medium-expert", "expert")
# Made here by training d3rlpy's SAC on Hopper-v5 (D4RL's recipe; docs/benchmarks.md): hopper-<kind>-mage.
HOPPER_SAC_DATASETS = ("medium", "medium-replay", "expert")


def _maze_tasks() -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    for maze, horizon in _HORIZON.items():
        d4rl = _D4RL_REFS[maze]
        smin, smax, dmin, dmax = d4rl if d4rl is not None else (None, None, None, None)
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


def _hopper_task(name: str, recipe: str | None) -> TaskSpec:
    return TaskSpec(
        name=name,
        env_id=HOPPER_ENV,
        maze=None,
        horizon=1000,  # D4RL / gymnasium max_episode_steps
        reward_type="env",
        multi=False,
        dataset=name,
        d4rl_ref_min=HOPPER_D4RL_REFS[0],
        d4rl_ref_max=HOPPER_D4RL_REFS[1],
        ours_ref_min=OURS_REFS["hopper"][0],
        ours_ref_max=OURS_REFS["hopper"][1],
        family="locomotion",
        obs_dim=11,  # qpos[1:] (5) + qvel (6): gymnasium's default, D4RL's layout
        act_dim=3,
        terminates=True,  # unhealthy: falls, or leaves the healthy z / angle / state ranges
        goal_dim=0,
        recipe=recipe,
    )


def _build() -> dict[str, TaskSpec]:
    specs = _maze_tasks()
    specs["hopper-random-mage"] = _hopper_task("hopper-random-mage", "random-actions")
    for kind in HOPPER_SAC_DATASETS:  # D4RL's SAC recipe made here (mage.data.generate_sac)
        specs[f"hopper-{kind}-mage"] = _hopper_task(f"hopper-{kind}-mage", f"sac-{kind}")
    for kind in HOPPER_D4RL_DATASETS:
        specs[f"hopper-{kind}-v2"] = _hopper_task(f"hopper-{kind}-v2", None)
    return specs


TASKS: dict[str, TaskSpec] = _build()


def list_specs() -> list[TaskSpec]:
    return list(TASKS.values())


def get_spec(name: str) -> TaskSpec:
    """Spec of a task name (``maze2d-umaze-v1``) or maze env id (``mage/maze2d-umaze-v1``)."""
    key = name.removeprefix("mage/")
    if key not in TASKS:
        raise KeyError(f"unknown task {name!r}; valid names: {', '.join(TASKS)}")
    return TASKS[key]


def normalized_score(name: str, returns: float | np.ndarray, refs: str = "d4rl") -> np.ndarray | float:
    """100 * (R - min) / (max - min) with D4RL's refs (``refs="d4rl"``; ours where D4RL has none, see
    ``TaskSpec.score_refs``) or ours (``refs="ours"``); NaN where the chosen refs do not exist."""
    spec = get_spec(name)
    if refs == "d4rl":
        kind = spec.score_refs
    elif refs == "ours":
        kind = "ours" if spec.ours_ref_min is not None and spec.ours_ref_max is not None else "none"
    else:
        raise ValueError(f"refs={refs!r} must be 'd4rl' or 'ours'")
    r = np.asarray(returns, dtype=np.float64)
    if kind == "none":
        out = np.full_like(r, np.nan)
    else:
        lo = spec.d4rl_ref_min if kind == "d4rl" else spec.ours_ref_min
        hi = spec.d4rl_ref_max if kind == "d4rl" else spec.ours_ref_max
        out = 100.0 * (r - lo) / (hi - lo)  # type: ignore[operator]
    return float(out) if out.ndim == 0 else out
