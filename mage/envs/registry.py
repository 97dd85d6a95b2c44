"""One table of every task: env, spaces, horizon, termination, goal, dataset, data recipe, reference returns.
``get_spec(name)`` is the single lookup; the rows come from the family modules (``mage.envs.tasks_*``).

Families (docs/benchmarks.md has each one's status and every difference from D4RL's envs):

- ``maze2d``: our D4RL-exact point mass, ``maze2d-{umaze,medium,large}-v1`` from D4RL and ``maze2d-giant-v1``
  on OGBench's giant layout, each with ``-dense`` and Multi2D ``-multi`` variants (rows below).
- ``locomotion`` (``mage.envs.tasks_locomotion``): gymnasium ``Hopper-v5``, ``HalfCheetah-v5``,
  ``Walker2d-v5``: D4RL's ``<env>-*-v2`` files when a user has them, ``<env>-random-mage`` made here (uniform
  random actions) and ``hopper-{medium,medium-replay,expert}-mage`` (D4RL's SAC recipe made here). D4RL used
  mujoco-py ``*-v3``: v5 gives the healthy reward only while healthy (Hopper, Walker2d), Walker2d-v5's right
  foot has friction 1.9 (0.9 in v3), and MuJoCo 3 differs from 2.x in solver and contacts. Scores on D4RL's
  files are therefore approximately, not exactly, comparable with published ones.
- ``antmaze``, ``adroit``, ``kitchen`` (``mage.envs.tasks_robotics``): D4RL files only, evaluated on
  gymnasium-robotics 1.3.1 through ``mage/`` wrappers that return D4RL's flat observation vector. AntMaze is
  gymnasium-robotics' ``AntMaze_*-v4`` re-set to D4RL's eval env: D4RL's start / goal cells and coordinates
  (its maze rows reversed, so the frames differ by a translation only), D4RL's goal noise, the ant's timestep
  0.02 and gear 30 (D4RL's ant.xml through its NormalizedBoxEnv; gymnasium's ant has 0.01 and 150), reset
  noise 0.1, reward 1 within 0.5 of the goal and the episode ends there (gymnasium-robotics: 0.45, and it
  never ends); what remains is MuJoCo 3 vs 2.x. Adroit: gymnasium-robotics' v1 rewards of door / hammer /
  relocate carry +0.1 |palm - object| where D4RL has -0.1 (changed in gymnasium-robotics 1.2.1): the wrapper
  restores D4RL's reward; the pen episode ends when the pen drops (D4RL; gymnasium-robotics never ends it).
  Kitchen: FrankaKitchen-v1 with D4RL's task lists, observation noise ratio 0.1 (D4RL's; gymnasium-robotics
  0.01 / 0.0005), the 60-dim vector rebuilt as robot qpos + object qpos + D4RL's task goal; subtasks are
  judged on the noise-free state (D4RL: on the noisy observation). Normalised scores on these families are
  approximately comparable with published D4RL numbers (same refs, same reward and termination rules,
  different simulator versions); AntMaze's refs 0 / 1 make its score 100 x the success rate.

Each task says how many observation / action dims the agent sees, the action bounds, whether its episodes
can end before the horizon (``terminates``), its goal size (0: no goal), how its data comes to exist
(``recipe``: ``maze2d-waypoint``, ``random-actions``, ``sac-{medium,medium-replay,expert}``, or None = a D4RL
file only, named ``d4rl_file`` in D4RL's download table) and the env a ``mage/`` wrapper runs (``base_env``).

``d4rl_ref_*`` are D4RL's REF_MIN / REF_MAX (``d4rl/pointmaze/__init__.py``, ``d4rl/infos.py``,
``d4rl/kitchen/__init__.py``; spec data.md §9); Multi2D tasks reuse the single-task values (D4RL has none
for random goals); maze2d-giant has none (not a D4RL task). ``ours_ref_*`` are re-measured on our env with
``mage data refs --episodes 100`` (random policy = min, D4RL's REF_MAX protocol for the noiseless waypoint
controller = max, env seeds 0..99); docs/results.md and docs/benchmarks.md have the tables and the commands.

    normalized score = 100 * (R - ref_min) / (ref_max - ref_min)

``refs="d4rl"`` falls back to our refs for a task without D4RL refs (``TaskSpec.score_refs`` says which);
a task without any refs scores NaN.
"""

from __future__ import annotations

import difflib

import numpy as np

from mage.envs.task_spec import TaskSpec
from mage.envs.tasks_locomotion import locomotion_tasks
from mage.envs.tasks_robotics import robotics_tasks

__all__ = ["TASKS", "TaskSpec", "get_spec", "list_specs", "normalized_score"]

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
# Measured with `mage data refs --episodes 100 --seed 0` (docs/results.md; giant in docs/benchmarks.md):
# (random mean, waypoint mean with D4RL's REF_MAX protocol). On Multi2D the goal changes every episode, so
# the controller re-plans each time. The other families' refs are in their modules.
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
}


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


def _build() -> dict[str, TaskSpec]:
    return {**_maze_tasks(), **locomotion_tasks(), **robotics_tasks()}


TASKS: dict[str, TaskSpec] = _build()


def list_specs() -> list[TaskSpec]:
    return list(TASKS.values())


class UnknownTaskError(KeyError):
    """A task or dataset name the registry does not have. A ``KeyError`` (callers that catch one keep working)
    and a known error of every entry point (``mage.errors``): one line, no traceback."""

    def __str__(self) -> str:  # KeyError's own str() quotes the message
        return str(self.args[0]) if self.args else ""


def get_spec(name: str) -> TaskSpec:
    """Spec of a task name (``maze2d-umaze-v1``) or maze env id (``mage/maze2d-umaze-v1``)."""
    key = name.removeprefix("mage/")
    if key not in TASKS:
        close = difflib.get_close_matches(key, TASKS, n=3, cutoff=0.75)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownTaskError(
            f"unknown task {name!r}; {hint}`mage data list` shows every task with its data status "
            f"(valid names: {', '.join(TASKS)})"
        )
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
