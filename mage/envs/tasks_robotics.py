"""The AntMaze, Adroit and Kitchen rows of the task table: D4RL's datasets (a D4RL file only; nothing here can
make them) evaluated on gymnasium-robotics 1.3.1 envs through our wrappers, which give the agent D4RL's flat
observation vector (``mage.envs.antmaze``, ``mage.envs.manipulation``; every difference from D4RL's
mujoco-py envs is in docs/benchmarks.md).

- **AntMaze** ``antmaze-{umaze,umaze-diverse,medium-play,medium-diverse,large-play,large-diverse}-v2``: env
  ``mage/antmaze-{umaze,medium,large}-v2`` (gymnasium-robotics ``AntMaze_{UMaze,Medium,Large}-v4`` re-set to
  D4RL's eval env: D4RL's start and goal cells and coordinates, D4RL's ant timestep and gear). Play and
  diverse share one eval env, as in D4RL (``d4rl/locomotion/__init__.py`` registers both with the same
  ``*_TEST`` map); they differ only in their data. Obs 29 (D4RL: qpos[:15] + qvel[:14], xy first), action 8,
  goal (x, y); sparse reward 1 within 0.5 of the goal, and the episode ends there (D4RL's eval env); horizon
  700 (umaze) / 1000. Refs 0 / 1 (``d4rl/infos.py``): the normalised score is 100 x the success rate.
- **Adroit** ``{pen,door,hammer,relocate}-{human,cloned,expert}-v1``: env ``mage/<hand>-v1``
  (``AdroitHand<Hand>-v1``, dense reward). Obs 45 / 39 / 46 / 39, action 24 / 28 / 26 / 30; horizon 100 (pen)
  / 200 (D4RL's ``max_episode_steps``, ``d4rl/hand_manipulation_suite/__init__.py``); pen ends when the pen
  drops (D4RL's ``PenEnvV0``), the others never end early; no goal. Refs: ``d4rl/infos.py`` (the v1 rows
  reuse ``<hand>-human-v0``'s).
- **Kitchen** ``kitchen-{complete,partial,mixed}-v0``: env ``mage/kitchen-microwave-kettle-light-slider-v0``
  (complete and partial: microwave, kettle, light switch, slide cabinet) or
  ``mage/kitchen-microwave-kettle-bottomburner-light-v0`` (mixed), D4RL's own env names
  (``d4rl/kitchen/__init__.py``: complete = ``mini_kitchen_...``, partial = ``kitchen_microwave_kettle_light_slider``,
  both ``KitchenMicrowaveKettleLightSliderV0``), on ``FrankaKitchen-v1``. Obs 60 (D4RL: robot qpos 9, object
  qpos 21, the task goal 30), action 9; reward = subtasks completed this step (return = subtasks done, at
  most 4); ends when all four are done; horizon 280; refs 0 / 4; no goal (the goal is in the observation).
"""

from __future__ import annotations

from typing import Any

from mage.envs.task_spec import TaskSpec

# AntMaze: maze -> (gymnasium-robotics id, horizon); datasets -> (maze, D4RL v2 file name).
ANTMAZE_ENVS = {"umaze": ("AntMaze_UMaze-v4", 700), "medium": ("AntMaze_Medium-v4", 1000),
                "large": ("AntMaze_Large-v4", 1000)}  # fmt: skip
_ANT_FILE = "Ant_maze_{}_noisy_multistart_{}_multigoal_{}_sparse_fixed.hdf5"  # d4rl/infos.py DATASET_URLS
ANTMAZE_DATASETS: dict[str, tuple[str, str]] = {
    "antmaze-umaze-v2": ("umaze", _ANT_FILE.format("u-maze", False, False)),
    "antmaze-umaze-diverse-v2": ("umaze", _ANT_FILE.format("u-maze", True, True)),
    "antmaze-medium-play-v2": ("medium", _ANT_FILE.format("big-maze", True, False)),
    "antmaze-medium-diverse-v2": ("medium", _ANT_FILE.format("big-maze", True, True)),
    "antmaze-large-play-v2": ("large", _ANT_FILE.format("hardest-maze", True, False)),
    "antmaze-large-diverse-v2": ("large", _ANT_FILE.format("hardest-maze", True, True)),
}
# Adroit: hand -> (gymnasium-robotics id, obs dim, act dim, horizon, terminates, (REF_MIN, REF_MAX)).
ADROIT_ENVS: dict[str, tuple[str, int, int, int, bool, tuple[float, float]]] = {
    "pen": ("AdroitHandPen-v1", 45, 24, 100, True, (96.262799, 3076.8331017826877)),
    "door": ("AdroitHandDoor-v1", 39, 28, 200, False, (-56.512833, 2880.5693087298737)),
    "hammer": ("AdroitHandHammer-v1", 46, 26, 200, False, (-274.856578, 12794.134825156867)),
    "relocate": ("AdroitHandRelocate-v1", 39, 30, 200, False, (-6.425911, 4233.877797728884)),
}
ADROIT_DATASETS = ("human", "cloned", "expert")  # D4RL files <hand>-<kind>-v1.hdf5 (hand_dapg_v1/)
# Kitchen: D4RL's two task lists (d4rl/kitchen/kitchen_envs.py TASK_ELEMENTS) and datasets.
KITCHEN_TASKS = {
    "microwave-kettle-light-slider": ("microwave", "kettle", "light switch", "slide cabinet"),
    "microwave-kettle-bottomburner-light": ("microwave", "kettle", "bottom burner", "light switch"),
}
KITCHEN_DATASETS: dict[str, tuple[str, str]] = {  # name -> (task list, D4RL file name)
    "kitchen-complete-v0": ("microwave-kettle-light-slider", "mini_kitchen_microwave_kettle_light_slider-v0.hdf5"),
    "kitchen-partial-v0": ("microwave-kettle-light-slider", "kitchen_microwave_kettle_light_slider-v0.hdf5"),
    "kitchen-mixed-v0": ("microwave-kettle-bottomburner-light", "kitchen_microwave_kettle_bottomburner_light-v0.hdf5"),
}  # fmt: skip
KITCHEN_OBS_DIM = 60  # robot qpos 9 + object qpos 21 + task goal 30
KITCHEN_HORIZON = 280

# The ``mage/`` env ids of these families: id -> (entry point, kwargs); ``mage.envs.make.register_envs``.
ENV_ENTRIES: dict[str, tuple[str, dict[str, Any]]] = {
    **{f"mage/antmaze-{m}-v2": ("mage.envs.antmaze:AntMazeTaskEnv", {"maze": m}) for m in ANTMAZE_ENVS},
    **{f"mage/{h}-v1": ("mage.envs.manipulation:AdroitTaskEnv", {"hand": h}) for h in ADROIT_ENVS},
    **{
        f"mage/kitchen-{k}-v0": ("mage.envs.manipulation:KitchenTaskEnv", {"tasks": t})
        for k, t in KITCHEN_TASKS.items()
    },
}


def _spec(name: str, env_id: str, base: str, horizon: int, refs: tuple[float, float], **kw: Any) -> TaskSpec:
    return TaskSpec(
        name=name, env_id=env_id, maze=None, horizon=horizon, multi=False, dataset=name,
        d4rl_ref_min=refs[0], d4rl_ref_max=refs[1], ours_ref_min=None, ours_ref_max=None,
        recipe=None, base_env=base, **kw,
    )  # fmt: skip


def robotics_tasks() -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    for name, (maze, file) in ANTMAZE_DATASETS.items():
        base, horizon = ANTMAZE_ENVS[maze]
        specs[name] = _spec(
            name, f"mage/antmaze-{maze}-v2", base, horizon, (0.0, 1.0), reward_type="sparse",
            family="antmaze", obs_dim=29, act_dim=8, terminates=True, goal_dim=2, d4rl_file=file,
        )  # fmt: skip
    for hand, (base, obs_dim, act_dim, horizon, terminates, refs) in ADROIT_ENVS.items():
        for kind in ADROIT_DATASETS:
            name = f"{hand}-{kind}-v1"
            specs[name] = _spec(
                name, f"mage/{hand}-v1", base, horizon, refs, reward_type="env", family="adroit",
                obs_dim=obs_dim, act_dim=act_dim, terminates=terminates, goal_dim=0, d4rl_file=f"{name}.hdf5",
            )  # fmt: skip
    for name, (tasks, file) in KITCHEN_DATASETS.items():
        specs[name] = _spec(
            name, f"mage/kitchen-{tasks}-v0", "FrankaKitchen-v1", KITCHEN_HORIZON, (0.0, 4.0),
            reward_type="env", family="kitchen", obs_dim=KITCHEN_OBS_DIM, act_dim=9, terminates=True,
            goal_dim=0, d4rl_file=file,
        )  # fmt: skip
    return specs
