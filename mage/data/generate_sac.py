"""Datasets of the ``sac-*`` recipes (``hopper-{medium,medium-replay,expert}-mage``), D4RL's locomotion
recipe made here on gymnasium's env with d3rlpy's SAC (training: ``mage.data.sac_recipe``). Named ``-mage``
so nobody takes them for D4RL's ``hopper-*-v2`` files.

- ``sac-medium``: the first checkpoint whose sampled evaluation return reaches the target (default a third of
  D4RL's hopper REF_MAX, 3234.3 / 3 = 1078.1), rolled out for ``steps`` steps.
- ``sac-medium-replay``: every env step of training up to that checkpoint, as recorded (D4RL: "all samples
  in the replay buffer observed during training until the policy reaches the medium level").
- ``sac-expert``: the best checkpoint within ``sac_steps`` SAC steps, rolled out for ``steps`` steps.

Rollouts sample the policy (``sample_action``), as D4RL's ``collect_data.py`` does (``distr.sample()``, no
added noise). ``ROLLOUT_ENVS`` copies step in lockstep, one batched policy call per step; like D4RL, only
finished trajectories are kept, in the order they finish, and the stream is cut at ``steps`` (the last
trajectory may be cut: no flag on its last row). ``terminals``: the env terminated (Hopper fell);
``timeouts``: the episode reached the horizon (1000) without terminating. Also ``next_observations`` and
``infos/qpos``, ``infos/qvel`` (the state before the step). D4RL's ``infos/action_log_probs`` is not written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from mage.data.d4rl_io import DatasetError, data_dir, default_path, read_metadata, write_d4rl_hdf5
from mage.data.generate import check_output, existing_recipe_matches
from mage.data.sac_env import STREAM_KEYS, derive_seed
from mage.data.sac_recipe import SACRecipeConfig, SACRun, first_reaching, read_progress, recipe_id, run_recipe
from mage.envs.registry import TaskSpec, get_spec

SAC_RECIPES = ("sac-medium", "sac-medium-replay", "sac-expert")
ROLLOUT_ENVS = 16  # lockstep copies in policy rollouts
# Measured on this project's 2-core CPU boxes (docs/benchmarks.md): d3rlpy SAC with the default networks,
# one gradient step per env step (17-27 ms alone, 30-60 ms beside other jobs, 109 ms at load ~8-20), and
# batched policy rollouts. Used for the time estimate until a run has its own measurement.
SAC_SECONDS_PER_STEP = 0.03
ROLLOUT_STEPS_PER_SECOND = 2000.0  # 1,100-3,100 measured here (load ~20 vs ~2)


class TargetNotReachedError(DatasetError):
    """Training stopped at its step cap before a checkpoint reached the target return."""


def sac_spec(name: str) -> TaskSpec:
    spec = get_spec(get_spec(name).dataset)
    if spec.recipe not in SAC_RECIPES:
        raise DatasetError(f"{spec.name} has recipe {spec.recipe!r}, not one of {', '.join(SAC_RECIPES)}")
    return spec


def default_target(spec: TaskSpec) -> float | None:
    """medium / medium-replay: a third of D4RL's expert return (REF_MAX); expert: None (train to the cap)."""
    if spec.recipe == "sac-expert":
        return None
    if spec.d4rl_ref_max is None:
        raise DatasetError(f"{spec.name} has no D4RL REF_MAX for a default target; pass --target-return")
    return round(spec.d4rl_ref_max / 3, 1)


def default_work_dir(spec: TaskSpec, seed: int) -> Path:
    """One training run per env and seed, shared by the medium, medium-replay and expert datasets."""
    return data_dir() / "sac" / f"{spec.env_id}-seed{seed}"


def dataset_recipe(
    name: str, cfg: SACRecipeConfig, steps: int | None, target: float | None, sac_steps: int
) -> dict[str, Any]:
    """The ``metadata/*`` values that define a generated file (``mage.data.generate.RECIPE_KEYS``); the
    policy string names the training run and how the checkpoint is chosen. medium-replay: steps None."""
    spec = sac_spec(name)
    run = f"d3rlpy SAC run {recipe_id(run_recipe(spec, cfg))}"
    if spec.recipe == "sac-expert":
        pick = f"best checkpoint within {_round_up(sac_steps, cfg.checkpoint_every):,} steps"
        pick += f" or the first with sampled eval return >= {target:g}" if target is not None else ""
    else:
        pick = f"first checkpoint with sampled eval return >= {target:g}"
    how = "training stream up to the" if spec.recipe == "sac-medium-replay" else "actions sampled from the"
    out: dict[str, Any] = {
        "task": spec.name,
        "env": spec.env_id,
        "seed": cfg.seed,
        "policy": f"{spec.recipe}: {how} {pick} ({run})",
        "reward_type": spec.reward_type,
    }
    if steps is not None:
        out["steps"] = int(steps)
    return out


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def rollout_policy(
    algo: Any, spec: TaskSpec, steps: int, seed: int, progress: bool = False
) -> dict[str, np.ndarray]:
    """``steps`` env steps of finished trajectories of ``algo.sample_action`` (see the module doc)."""
    import d3rlpy

    d3rlpy.seed(derive_seed(seed, 3))  # torch sampling
    envs = [gym.make(spec.env_id).unwrapped for _ in range(ROLLOUT_ENVS)]  # horizon counted here
    obs_BS = np.stack([env.reset(seed=derive_seed(seed, 4, i))[0] for i, env in enumerate(envs)])
    t_B = np.zeros(len(envs), dtype=np.int64)
    trajs: list[dict[str, list]] = [{k: [] for k in STREAM_KEYS} for _ in envs]
    done: dict[str, list] = {k: [] for k in STREAM_KEYS}
    n_done = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"rollout {spec.name}", unit="step", unit_scale=True, mininterval=1.0)
    while n_done < steps:
        act_BA = algo.sample_action(obs_BS)
        for i, env in enumerate(envs):
            qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
            obs, r, terminated, truncated, _ = env.step(act_BA[i])
            t_B[i] += 1
            timeout = not terminated and (truncated or t_B[i] >= spec.horizon)
            row = (obs_BS[i].copy(), act_BA[i], r, obs, terminated, timeout, qpos, qvel)
            for k, v in zip(STREAM_KEYS, row, strict=True):
                trajs[i][k].append(v)
            if terminated or timeout:
                for k in STREAM_KEYS:
                    done[k].extend(trajs[i][k])
                    trajs[i][k] = []
                if bar is not None:
                    bar.update(min(int(t_B[i]), steps - n_done))
                n_done += int(t_B[i])
                t_B[i] = 0
                obs, _ = env.reset()  # continues the env's RNG
            obs_BS[i] = obs
    if bar is not None:
        bar.close()
    for env in envs:
        env.close()
    return {k: np.asarray(v[:steps]) for k, v in done.items()}


def to_d4rl(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stream rows -> D4RL's keys and dtypes (float32 arrays, bool flags, infos/qpos, infos/qvel)."""
    f32 = ("observations", "actions", "rewards", "next_observations")
    out = {k: np.asarray(rows[k], dtype=np.float32) for k in f32}
    out["terminals"] = np.asarray(rows["terminals"], dtype=bool)
    out["timeouts"] = np.asarray(rows["timeouts"], dtype=bool)
    out["infos/qpos"] = np.asarray(rows["qpos"], dtype=np.float32)
    out["infos/qvel"] = np.asarray(rows["qvel"], dtype=np.float32)
    return out


def _plan(run: SACRun, spec: TaskSpec, sac_steps: int, target: float | None, steps: int | None) -> str:
    """One line: where training stands and about how long the rest takes here."""
    n = run.cfg.checkpoint_every
    cap = _round_up(sac_steps, n)
    left = max(0, cap - run.step)
    measured = run.seconds_per_step()
    rate = measured if measured is not None else SAC_SECONDS_PER_STEP
    stop = (
        f", or earlier at the first checkpoint with sampled eval return >= {target:g}"
        if target is not None
        else ""
    )
    roll = (
        f"; then {steps:,} rollout steps (~{steps / ROLLOUT_STEPS_PER_SECOND / 60:.0f} min)" if steps else ""
    )
    src = "measured in this work dir" if measured is not None else "typical on 2 shared cores"
    return (
        f"SAC on {spec.env_id} in {run.dir}: step {run.step:,} of at most {cap:,}{stop}; "
        f"{rate * 1e3:.0f} ms/step ({src}) -> at most {left * rate / 3600:.1f} h{roll}. "
        "Resumable: rerun the same command to continue from the last checkpoint."
    )


def sac_status(name: str, seed: int = 0, sac_steps: int = 1_000_000) -> str | None:
    """Where the default SAC work dir behind ``name`` stands, in a few words for ``mage data list``; None
    when no run has started there. Reads ``progress.json`` only, so it is safe beside a running trainer."""
    spec = sac_spec(name)
    work_dir = default_work_dir(spec, seed)
    if not (work_dir / "progress.json").is_file():
        return None
    prog = read_progress(work_dir)
    step = int(prog["step"])
    if spec.recipe == "sac-expert":
        if step >= sac_steps:
            return f"SAC done at {step:,} steps: the command only rolls out"
        eta = (sac_steps - step) * prog["sac_seconds"] / step / 3600 if step else float("nan")
        return f"SAC at step {step:,} of {sac_steps:,}, ~{eta:.1f} h left here; resumable"
    target = default_target(spec)
    hit = first_reaching(prog["checkpoints"], target) if target is not None else None
    if hit is not None:
        return f"SAC reached the target at step {hit['step']:,}: the command only " + (
            "copies the stream" if spec.recipe == "sac-medium-replay" else "rolls out"
        )
    return f"SAC at step {step:,}, below the target return {target:g}; resumable"


def generate_sac_dataset(
    name: str,
    cfg: SACRecipeConfig | None = None,
    *,
    steps: int | None = 1_000_000,
    sac_steps: int = 1_000_000,
    target: float | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Train (or resume) SAC, pick the checkpoint, write ``<data dir>/<name>.hdf5`` (or ``out``) atomically.

    ``steps``: rollout steps (medium, expert; must be None for medium-replay, whose length is the training
    stream's); ``target``: None = ``default_target``. An existing file with the same recipe is kept without
    training. Raises ``TargetNotReachedError`` when ``sac_steps`` end before the target (resumable)."""
    spec = sac_spec(name)
    cfg = cfg or SACRecipeConfig()
    replay = spec.recipe == "sac-medium-replay"
    if replay and steps is not None:
        raise DatasetError(
            f"{spec.name} is the training stream as is: do not pass --steps (its length is set)"
        )
    if not replay and (steps is None or steps < 1):
        raise DatasetError(f"--steps {steps} must be >= 1 (rollout steps, default 1,000,000)")
    if sac_steps < 1:
        raise DatasetError(f"--sac-steps {sac_steps} must be >= 1 (default 1,000,000)")
    target = default_target(spec) if target is None else float(target)
    if target is not None and not math.isfinite(target):
        raise DatasetError(f"--target-return {target} must be a finite number")
    path = check_output(Path(out) if out is not None else default_path(spec.name))
    want = dataset_recipe(spec.name, cfg, steps, target, sac_steps)
    if replay and path.exists():
        want["steps"] = (read_metadata(path) or {}).get("steps")
    if existing_recipe_matches(path, want, force):
        log(f"{path} exists with the same recipe; kept (--force regenerates it)")
        return path
    run = SACRun(spec, cfg, work_dir if work_dir is not None else default_work_dir(spec, cfg.seed))
    log(_plan(run, spec, sac_steps, target, steps))
    run.train(sac_steps, target, show_progress=progress, log=log)
    cap = _round_up(sac_steps, cfg.checkpoint_every)
    ckpt = run.best(upto=cap) if spec.recipe == "sac-expert" else run.first_reaching(target)  # type: ignore[arg-type]
    if spec.recipe == "sac-expert" and target is not None:
        ckpt = run.first_reaching(target) or ckpt
    if ckpt is None:
        best = run.best()
        got = (
            f"best sampled eval return {best['return']:.1f} at step {best['step']:,}"
            if best
            else "no checkpoint"
        )
        raise TargetNotReachedError(
            f"SAC stopped at step {run.step:,} (--sac-steps {sac_steps:,}) before return {target:g} ({got}); "
            f"no dataset written. Rerun with a larger --sac-steps to continue from step {run.step:,}"
        )
    log(f"chosen checkpoint: step {ckpt['step']:,}, sampled eval return {ckpt['return']:.1f}")
    if replay:
        rows = run.stream(ckpt["step"])
        want["steps"] = len(rows["rewards"])
    else:
        assert steps is not None
        rows = rollout_policy(run.load_algo(ckpt), spec, steps, derive_seed(cfg.seed, 5), progress=progress)
    meta = {
        **want,
        "generator": f"mage.data.generate_sac ({spec.recipe}; D4RL's SAC recipe on {spec.env_id}, not a D4RL file)",
        "sac_step": int(ckpt["step"]),
        "sac_return": float(ckpt["return"]),
        "sac_return_mean_action": float(ckpt["return_mean_action"]),
        "sac_target": float("nan") if target is None else target,
        "sac_recipe": json.dumps(run.recipe, sort_keys=True),
        "sac_work_dir": str(run.dir),
        # the numerics depend on it (mage.data.sac_recipe); 0 for a work dir trained before it was recorded
        "sac_torch_threads": int(run.progress.get("torch_threads") or 0),
        "rollout_envs": 0 if replay else ROLLOUT_ENVS,
    }
    return write_d4rl_hdf5(path, to_d4rl(rows), meta)
