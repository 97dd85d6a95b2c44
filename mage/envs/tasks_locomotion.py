"""The locomotion rows of the task table: gymnasium MuJoCo ``Hopper-v5``, ``HalfCheetah-v5``, ``Walker2d-v5``.

Per env: D4RL's ``<env>-{random,medium,medium-replay,medium-expert,expert}-v2`` (a D4RL file only:
``<env>_<kind>-v2.hdf5``), ``<env>-random-mage`` (uniform random actions, made here by
``mage.data.generate_gym``) and, for Hopper, ``hopper-{medium,medium-replay,expert}-mage`` (D4RL's SAC recipe
made here, ``mage.data.generate_sac``). Observations are gymnasium's default (D4RL's layout: qpos without the
x position, then qvel); D4RL recorded its files on mujoco-py ``*-v3`` envs (differences: docs/benchmarks.md).

D4RL refs: ``d4rl/infos.py`` REF_MIN_SCORE / REF_MAX_SCORE of ``<env>-random-v0`` (the ``-v2`` rows reuse
them; spec data.md §9). Ours: the mean return of uniform random actions over env seeds 0..99
(``mage data refs --episodes 100 --seed 0``: Hopper 17.48; HalfCheetah -266.31 and Walker2d 1.16 in 10.0 s /
0.7 s on 2 shared cores); no controller, so no max.
"""

from __future__ import annotations

from mage.envs.task_spec import TaskSpec

# env -> (gymnasium id, obs dim, act dim, terminates, (D4RL REF_MIN, REF_MAX), our random mean)
LOCOMOTION: dict[str, tuple[str, int, int, bool, tuple[float, float], float]] = {
    # Hopper: obs qpos[1:] (5) + qvel (6); terminates when unhealthy (height, angle, state range).
    "hopper": ("Hopper-v5", 11, 3, True, (-20.272305, 3234.3), 17.48),
    # HalfCheetah: obs qpos[1:] (8) + qvel (9); never terminates.
    "halfcheetah": ("HalfCheetah-v5", 17, 6, False, (-280.178953, 12135.0), -266.31),
    # Walker2d: obs qpos[1:] (8) + qvel (9); terminates when unhealthy (height 0.8..2, angle -1..1).
    "walker2d": ("Walker2d-v5", 17, 6, True, (1.629008, 4592.3), 1.16),
}
D4RL_DATASETS = ("random", "medium", "medium-replay", "medium-expert", "expert")  # load-only
SAC_DATASETS = ("medium", "medium-replay", "expert")  # hopper-<kind>-mage, made here (mage.data.generate_sac)
HORIZON = 1000  # D4RL / gymnasium max_episode_steps


def d4rl_file(env: str, kind: str) -> str:
    """D4RL's file name (dataset_url basename): ``hopper-medium-replay-v2`` -> ``hopper_medium_replay-v2.hdf5``."""
    return f"{env}_{kind.replace('-', '_')}-v2.hdf5"


def locomotion_task(env: str, name: str, recipe: str | None, d4rl: str | None = None) -> TaskSpec:
    env_id, obs_dim, act_dim, terminates, (ref_min, ref_max), ours_min = LOCOMOTION[env]
    return TaskSpec(
        name=name,
        env_id=env_id,
        maze=None,
        horizon=HORIZON,
        reward_type="env",
        multi=False,
        dataset=name,
        d4rl_ref_min=ref_min,
        d4rl_ref_max=ref_max,
        ours_ref_min=ours_min,
        ours_ref_max=None,
        family="locomotion",
        obs_dim=obs_dim,
        act_dim=act_dim,
        terminates=terminates,
        goal_dim=0,
        recipe=recipe,
        d4rl_file=d4rl,
    )


def locomotion_tasks() -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    for env in LOCOMOTION:
        specs[f"{env}-random-mage"] = locomotion_task(env, f"{env}-random-mage", "random-actions")
        if env == "hopper":
            for kind in SAC_DATASETS:
                specs[f"hopper-{kind}-mage"] = locomotion_task(env, f"hopper-{kind}-mage", f"sac-{kind}")
        for kind in D4RL_DATASETS:
            name = f"{env}-{kind}-v2"
            specs[name] = locomotion_task(env, name, None, d4rl_file(env, kind))
    return specs
