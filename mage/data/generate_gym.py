"""Generate a D4RL-layout dataset on a gymnasium task with uniform random actions (recipe ``random-actions``;
``{hopper,halfcheetah,walker2d}-random-mage``): the minimal locomotion recipe, made here, named so nobody takes
it for D4RL's ``<env>-random-v2`` (which rolled out a randomly initialised SAC policy on mujoco-py ``*-v3``).

- One stream of ``steps`` steps on ``TaskSpec.env_id`` (e.g. ``Hopper-v5``); actions ~ U(act_low, act_high)
  per dim, drawn from ``numpy.random.default_rng(seed)`` in blocks.
- The env is reset with ``seed`` once; later resets continue its RNG, so (steps, seed) fixes the file.
- ``terminals[t]``: the env terminated at step t (Hopper, Walker2d: unhealthy; HalfCheetah never);
  ``timeouts[t]``: the episode reached the task horizon (1000) without terminating. The trailing unfinished
  episode has neither (D4RL's files do the same at their end).
- Also ``next_observations`` and ``infos/qpos``, ``infos/qvel`` (the state before the step), as D4RL's files.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mage.envs.registry import get_spec

_BLOCK = 65536
POLICY = "uniform-random"  # the recipe's behaviour policy (metadata/policy)


def generate_random_arrays(
    name: str, steps: int = 1_000_000, seed: int = 0, progress: bool = False
) -> dict[str, np.ndarray]:
    """The dataset arrays of a non-maze task from uniform random actions."""
    spec = get_spec(name)
    if spec.recipe != "random-actions":
        raise ValueError(f"task {spec.name} has recipe {spec.recipe!r}, not 'random-actions'")
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    env = gym.make(spec.env_id).unwrapped  # no wrappers: the horizon is counted here
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    data = env.data  # MuJoCo state of the gymnasium MujocoEnv
    nq, nv = len(data.qpos), len(data.qvel)
    obs_NS = np.empty((steps, spec.obs_dim), dtype=np.float32)
    next_NS = np.empty((steps, spec.obs_dim), dtype=np.float32)
    act_NA = np.empty((steps, spec.act_dim), dtype=np.float32)
    rew_N = np.empty(steps, dtype=np.float32)
    qpos_NQ = np.empty((steps, nq), dtype=np.float32)
    qvel_NV = np.empty((steps, nv), dtype=np.float32)
    terminals_N = np.zeros(steps, dtype=bool)
    timeouts_N = np.zeros(steps, dtype=bool)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"generate {spec.name}", unit="step", unit_scale=True, mininterval=0.5)
    actions = np.empty((0, spec.act_dim))
    ts = 0
    for t in range(steps):
        k = t % _BLOCK
        if k == 0:
            actions = rng.uniform(spec.act_low, spec.act_high, size=(_BLOCK, spec.act_dim))
            if bar is not None and t:
                bar.update(_BLOCK)
        obs_NS[t] = obs
        qpos_NQ[t] = data.qpos
        qvel_NV[t] = data.qvel
        act_NA[t] = actions[k]
        obs, r, terminated, truncated, _ = env.step(actions[k])
        ts += 1
        next_NS[t] = obs
        rew_N[t] = r
        if terminated:
            terminals_N[t] = True
        elif truncated or ts >= spec.horizon:
            timeouts_N[t] = True
        if terminals_N[t] or timeouts_N[t]:
            obs, _ = env.reset()
            ts = 0
    if bar is not None:
        bar.update(steps - bar.n)
        bar.close()
    env.close()
    return {
        "observations": obs_NS,
        "next_observations": next_NS,
        "actions": act_NA,
        "rewards": rew_N,
        "terminals": terminals_N,
        "timeouts": timeouts_N,
        "infos/qpos": qpos_NQ,
        "infos/qvel": qvel_NV,
    }
