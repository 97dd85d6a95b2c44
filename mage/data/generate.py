"""Generate a D4RL-style maze2d dataset (``scripts/generation/generate_maze2d_datasets.py --noisy`` then
``relabel_maze2d_rewards.py``), spec data.md §1.

- One continuing stream of ``steps`` steps: the waypoint controller drives to a random target (D4RL's
  ``set_target``: random empty-or-goal cell + U(±0.1)); actions get ``N(0, 0.5²)`` noise and are clipped.
- On arrival (controller ``done``) or when the segment reaches the task horizon, a new target is drawn; the
  agent is not reset. ``timeouts[t]`` is True at the last step of each segment; ``terminals`` are all False.
- Rewards are relabelled against the FIXED evaluation goal, from ``observations[t]`` as D4RL's relabel
  script does: sparse ``||xy - goal|| <= 0.5`` (dense ``exp(-d)`` for ``-dense`` names).
- ``infos/goal`` is the current target, ``infos/qpos`` / ``infos/qvel`` the state at the step.

One deliberate difference: after a target switch D4RL's script keeps the stale observation ``s`` for one
step (it only assigns ``s = ns`` when not done), so its next row repeats the previous state while the sim
has moved on. We record the true state, so every transition is consistent with the physics.

Other recipes: ``TaskSpec.recipe`` picks the generator; ``random-actions`` (``hopper-random-mage``) is
``mage.data.generate_gym``; tasks without a recipe (D4RL's ``hopper-*-v2``) are load-only and refused here.

Existing files are not silently replaced: ``generate_dataset`` compares the file's stored recipe
(``metadata/{task,maze,steps,seed,action_noise,reward_type,env,policy}``) with the requested one and refuses a different
recipe (``DatasetExistsError``) unless ``force``; the same recipe is not regenerated. Writes are atomic.

Speed: the loop steps MuJoCo directly through cached qpos/qvel/ctrl views, runs the controller on Python
floats with cached plans, and writes into preallocated arrays; noise is drawn in blocks.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import mujoco
import numpy as np

from mage.data.d4rl_io import DatasetError, default_path, read_metadata, write_d4rl_hdf5
from mage.data.generate_gym import POLICY, generate_random_arrays
from mage.data.relabel import relabel_rewards
from mage.envs.maze2d import Maze2DEnv
from mage.envs.registry import TaskSpec, get_spec
from mage.envs.waypoint_controller import WaypointController
from mage.fsutil import check_writable_dir

ACTION_NOISE = 0.5
_BLOCK = 65536
# The metadata keys that define what a generated file holds; two files with equal values are the same data.
RECIPE_KEYS = ("task", "maze", "steps", "seed", "action_noise", "reward_type", "env", "policy")
RECIPES = ("maze2d-waypoint", "random-actions")  # the TaskSpec.recipe values this module generates


def generated_spec(name: str) -> TaskSpec:
    """The spec of the dataset a task name trains on, if we can generate it (else ``DatasetError``)."""
    spec = get_spec(get_spec(name).dataset)
    if str(spec.recipe).startswith("sac-"):  # hours of SAC training: never started implicitly
        raise DatasetError(
            f"{spec.name} is made by training SAC online (mage.data.generate_sac); run "
            f"`mage data generate {spec.name}` (resumable)"
        )
    if spec.recipe not in RECIPES:
        raise DatasetError(
            f"{spec.name} is a D4RL dataset we cannot make here (no recipe); put D4RL's file in "
            f"$D4RL_DATASET_DIR (or $MAGE_DATA_DIR), or generate a task that has a recipe "
            f"(`mage data list` shows them)"
        )
    return spec


class DatasetExistsError(DatasetError, FileExistsError):
    """The output file exists and holds another recipe (or an unknown one); pass force to replace it."""


def generate_arrays(
    name: str, steps: int = 1_000_000, seed: int = 0, progress: bool = False
) -> dict[str, np.ndarray]:
    """The dataset arrays for a task name (Multi2D names generate their single-task dataset)."""
    spec = generated_spec(name)
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    if spec.recipe == "random-actions":
        return generate_random_arrays(spec.name, steps=steps, seed=seed, progress=progress)
    assert spec.maze is not None
    env = Maze2DEnv(spec.maze, reward_type=spec.reward_type)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    controller = WaypointController(env.maze_str, rng=rng)
    cells = env.reset_cells
    model, data = env.model, env.data
    qpos, qvel, ctrl = env._qpos, env._qvel, env._ctrl
    horizon = spec.horizon

    obs_N4 = np.empty((steps, 4), dtype=np.float32)
    act_N2 = np.empty((steps, 2), dtype=np.float32)
    goal_N2 = np.empty((steps, 2), dtype=np.float32)
    timeouts_N = np.zeros(steps, dtype=bool)

    def new_target() -> tuple[float, float]:
        c = cells[rng.integers(len(cells))]
        u = rng.uniform(-0.1, 0.1, size=2)
        return float(c[0] + u[0]), float(c[1] + u[1])

    gx, gy = new_target()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"generate {spec.name}", unit="step", unit_scale=True, mininterval=0.5)
    ts = 0
    noise = rng.standard_normal((0, 2))
    act = controller.act
    for t in range(steps):
        k = t % _BLOCK
        if k == 0:
            noise = (rng.standard_normal((_BLOCK, 2)) * ACTION_NOISE).tolist()
            if bar is not None and t:
                bar.update(_BLOCK)
        x, y, vx, vy = qpos[0], qpos[1], qvel[0], qvel[1]
        obs_N4[t] = (x, y, vx, vy)
        goal_N2[t] = (gx, gy)
        ax, ay, done = act(x, y, vx, vy, gx, gy)
        nx, ny = noise[k]
        ax = min(max(ax + nx, -1.0), 1.0)
        ay = min(max(ay + ny, -1.0), 1.0)
        act_N2[t] = (ax, ay)
        if ts >= horizon:
            done = True
        # env.step without the wrapper: clip velocity to ±5, set ctrl, one mj_step
        if not (-5.0 <= vx <= 5.0):
            qvel[0] = math.copysign(5.0, vx)
        if not (-5.0 <= vy <= 5.0):
            qvel[1] = math.copysign(5.0, vy)
        ctrl[0] = ax
        ctrl[1] = ay
        mujoco.mj_step(model, data)
        ts += 1
        if done:
            timeouts_N[t] = True
            gx, gy = new_target()
            ts = 0
    if bar is not None:
        bar.update(steps - bar.n)
        bar.close()
    return {
        "observations": obs_N4,
        "actions": act_N2,
        "rewards": relabel_rewards(obs_N4[:, :2], env.eval_goal, spec.reward_type),
        "terminals": np.zeros(steps, dtype=bool),
        "timeouts": timeouts_N,
        "infos/goal": goal_N2,
        "infos/qpos": obs_N4[:, :2].copy(),
        "infos/qvel": obs_N4[:, 2:].copy(),
    }


def recipe(name: str, steps: int = 1_000_000, seed: int = 0) -> dict[str, object]:
    """The values that define a generated dataset (stored as ``metadata/*``; see ``RECIPE_KEYS``)."""
    spec = generated_spec(name)
    if spec.recipe == "random-actions":
        return {
            "task": spec.name,
            "env": spec.env_id,
            "steps": int(steps),
            "seed": int(seed),
            "policy": POLICY,
            "reward_type": spec.reward_type,
        }
    return {
        "task": spec.name,
        "maze": spec.maze,
        "steps": int(steps),
        "seed": int(seed),
        "action_noise": ACTION_NOISE,
        "reward_type": spec.reward_type,
    }


def _fmt(r: dict[str, object]) -> str:
    return ", ".join(f"{k}={r[k]}" for k in RECIPE_KEYS if k in r)


def existing_recipe_matches(
    path: str | os.PathLike[str], want: dict[str, object], force: bool = False
) -> bool:
    """True when ``path`` exists and was generated with the ``want`` recipe; False when it does not exist
    (or ``force``). Raises ``DatasetExistsError`` when it holds another or an unknown recipe (unless
    ``force``)."""
    p = Path(path)
    if force or not p.exists():
        return False
    meta = read_metadata(p)
    if meta is None:
        found = "not a readable HDF5 file"
    else:
        have = {k: meta[k] for k in RECIPE_KEYS if k in meta}
        if have.keys() >= {"task", "steps", "seed"} and all(have[k] == want.get(k) for k in have):
            return True
        found = f"recipe {_fmt(have)}" if have else "no generator recipe (not written by mage data generate)"
    raise DatasetExistsError(
        f"{p} already exists with {found}; refusing to replace it with {_fmt(want)}. Pass --out NEW.hdf5 "
        "to write elsewhere, or --force to replace it (training on this dataset name then uses the new file)"
    )


def check_output(path: str | os.PathLike[str]) -> Path:
    """Fail before generating when ``path`` cannot be written (a file where its directory should be, no
    permission, a directory under that name): ``DatasetError`` naming the path and the fix."""
    p = Path(path)
    if p.is_dir():
        raise DatasetError(f"--out {p} is a directory; pass a file path such as {p / 'NAME.hdf5'}")
    try:
        check_writable_dir(p.parent)
    except OSError as e:
        raise DatasetError(
            f"--out {p}: cannot write to {p.parent} ({e.strerror or e}); pass --out in a writable directory"
        ) from None
    return p


def generate_dataset(
    name: str,
    steps: int = 1_000_000,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Generate and write ``<data dir>/<dataset>.hdf5`` (or ``out``) atomically; returns the path.

    An existing file with the same recipe is kept (nothing is generated); one with another or unknown recipe
    raises ``DatasetExistsError`` unless ``force``. An unwritable ``out`` raises before generating."""
    spec = generated_spec(name)
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    path = check_output(Path(out) if out is not None else default_path(spec.name))
    want = recipe(spec.name, steps, seed)
    if existing_recipe_matches(path, want, force):
        return path
    arrays = generate_arrays(spec.name, steps=steps, seed=seed, progress=progress)
    how = {
        "maze2d-waypoint": "D4RL maze2d recipe, noisy waypoint controller",
        "random-actions": "uniform random actions, not a D4RL file",
    }[str(spec.recipe)]
    meta = {**want, "generator": f"mage.data.generate ({how})"}
    return write_d4rl_hdf5(path, arrays, meta)
