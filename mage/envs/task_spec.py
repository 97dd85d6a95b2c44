"""``TaskSpec``: what one task is (env, spaces, horizon, termination, goal, dataset, recipe, refs). The table of
every task is ``mage.envs.registry``; the family modules (``mage.envs.tasks_*``) build their rows from this."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    name: str  # task name, e.g. maze2d-umaze-v1, hopper-random-mage, antmaze-umaze-v2
    env_id: str  # gymnasium id make_env builds: mage/maze2d-umaze-v1, Hopper-v5, mage/antmaze-umaze-v2
    maze: str | None  # maze2d layout (umaze | medium | large | giant); None for every other family
    horizon: int  # evaluation episode length (TimeLimit); terminating tasks may end earlier
    reward_type: str  # sparse | dense (maze2d, antmaze); env (the env's own reward)
    multi: bool  # Multi2D: random goal per episode
    dataset: str  # dataset name the task trains on (multi tasks use the single-task data)
    d4rl_ref_min: float | None  # D4RL REF_MIN; None when D4RL has no such task
    d4rl_ref_max: float | None  # D4RL REF_MAX; None when D4RL has no such task
    ours_ref_min: float | None  # our measured random return; None when not measured
    ours_ref_max: float | None  # our measured controller return; None when there is no controller
    family: str = "maze2d"  # maze2d | locomotion | antmaze | adroit | kitchen
    obs_dim: int = 4  # flat observation size the agent sees (maze2d: x, y, vx, vy)
    act_dim: int = 2  # action size
    act_low: float = -1.0  # lower action bound, every dim
    act_high: float = 1.0  # upper action bound, every dim
    terminates: bool = False  # episodes can end before the horizon (env termination)
    goal_dim: int = 2  # size of info["goal"]; 0: the task has no goal (protocol goal/hold do not apply)
    recipe: str | None = "maze2d-waypoint"  # how `mage data generate` makes the dataset; None: D4RL file only
    d4rl_file: str | None = None  # D4RL's file name for the dataset (its dataset_url basename), if any
    base_env: str | None = None  # the gymnasium(-robotics) env a ``mage/`` wrapper runs (None: env_id itself)

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
