"""Generator vs raw env stepping, side by side: steps/s, their ratio, and the projected time for 1M steps.

.venv/bin/python bench/datagen.py [--steps 200000] [--task maze2d-umaze-v1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mage.data.generate import generate_arrays
from mage.envs.maze2d import Maze2DEnv
from mage.envs.registry import get_spec


def raw_env_rate(task: str, steps: int) -> float:
    """``Maze2DEnv.step`` with pre-sampled random actions, no wrappers (resets at the horizon)."""
    spec = get_spec(task)
    env = Maze2DEnv(spec.maze, reward_type=spec.reward_type)
    env.reset(seed=0)
    act_N2 = np.random.default_rng(0).uniform(-1, 1, (steps, 2))
    t0 = time.perf_counter()
    for t in range(steps):
        env.step(act_N2[t])
        if (t + 1) % spec.horizon == 0:
            env.reset()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--task", default="maze2d-umaze-v1")
    args = p.parse_args()
    env_rate = raw_env_rate(args.task, args.steps)
    t0 = time.perf_counter()
    generate_arrays(args.task, steps=args.steps, seed=0)
    gen_rate = args.steps / (time.perf_counter() - t0)
    print(f"task {args.task}, {args.steps:,} steps each")
    print(f"raw env.step (random actions): {env_rate:10,.0f} steps/s")
    print(f"generator (controller + noise + bookkeeping, no HDF5 write): {gen_rate:10,.0f} steps/s")
    print(f"generator / raw env ratio: {gen_rate / env_rate:.2f}")
    print(f"projected 1M steps: generator {1e6 / gen_rate:.1f} s, raw env {1e6 / env_rate:.1f} s")


if __name__ == "__main__":
    main()
