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

Speed: the loop steps MuJoCo directly through cached qpos/qvel/ctrl views, runs the controller on Python
floats with cached plans, and writes into preallocated arrays; noise is drawn in blocks.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import mujoco
import numpy as np

from mage.data.d4rl_io import default_path, write_d4rl_hdf5
from mage.envs.maze2d import GOAL_RADIUS, Maze2DEnv
from mage.envs.registry import get_spec
from mage.envs.waypoint_controller import WaypointController

ACTION_NOISE = 0.5
_BLOCK = 65536


def relabel_rewards(xy_N2: np.ndarray, goal_2: np.ndarray, reward_type: str) -> np.ndarray:
    """D4RL's relabel: sparse ``d <= 0.5`` or dense ``exp(-d)`` w.r.t. the fixed goal; float32."""
    dist_N = np.linalg.norm(xy_N2.astype(np.float64) - goal_2, axis=1)
    if reward_type == "sparse":
        return (dist_N <= GOAL_RADIUS).astype(np.float32)
    return np.exp(-dist_N).astype(np.float32)


def generate_arrays(
    name: str, steps: int = 1_000_000, seed: int = 0, progress: bool = False
) -> dict[str, np.ndarray]:
    """The dataset arrays for a task name (Multi2D names generate their single-task dataset)."""
    spec = get_spec(get_spec(name).dataset)
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
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


def generate_dataset(
    name: str,
    steps: int = 1_000_000,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Generate and write ``<data dir>/<dataset>.hdf5`` (or ``out``); returns the path."""
    spec = get_spec(get_spec(name).dataset)
    arrays = generate_arrays(spec.name, steps=steps, seed=seed, progress=progress)
    path = Path(out) if out is not None else default_path(spec.name)
    meta = {
        "task": spec.name,
        "generator": "mage.data.generate (D4RL maze2d recipe, noisy waypoint controller)",
        "seed": seed,
        "steps": steps,
        "action_noise": ACTION_NOISE,
        "reward_type": spec.reward_type,
    }
    return write_d4rl_hdf5(path, arrays, meta)
