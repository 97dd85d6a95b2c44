"""Rollout-actor scaling: env steps/s with 1 actor vs N actors (N = cores) in one embedded Ray.

    .venv/bin/python bench/rollouts.py                      # WaypointAgent (cheap), maze2d-umaze-v1
    .venv/bin/python bench/rollouts.py --checkpoint DIR     # a MAGE checkpoint (method mage)

Prints steps/s for both, the speed-up ratio and the scaling efficiency ratio / N (target >= 0.8).
Actor start-up is excluded (actors are pinged before the clock starts); both runs do the same job, so
their returns must match exactly (the determinism contract of mage.distributed.rollouts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="maze2d-umaze-v1")
    p.add_argument("--checkpoint", default=None, help="MAGE checkpoint dir (default: WaypointAgent)")
    p.add_argument("--actors", type=int, default=None, help="N (default: cores available)")
    p.add_argument("--episodes", type=int, default=None, help="episodes per run (default 100 per actor)")
    p.add_argument("--num-envs", type=int, default=10, help="lockstep envs per chunk")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per setting (best is reported)")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    args = p.parse_args(argv)

    from mage.checkpoint import read_episode_returns
    from mage.distributed.ray_init import init_ray, shutdown_ray
    from mage.distributed.rollouts import run_jobs
    from mage.eval.jobs import RolloutJob
    from mage.eval.protocol import EvalProtocol
    from mage.eval.rtg import resolve_target_return

    n = args.actors or len(os.sched_getaffinity(0))
    episodes = args.episodes or 100 * n
    method = "mage" if args.checkpoint else "waypoint"
    target = None
    if args.checkpoint:
        target = resolve_target_return(read_episode_returns(args.checkpoint), rtg_percentile=100.0)
    # the waypoint controller steers to the env's goal (track G); MAGE runs the pure protocol
    protocol = EvalProtocol(goal="given") if method == "waypoint" else EvalProtocol()
    job = RolloutJob(method, args.checkpoint, args.task, 0, target, episodes, protocol=protocol)
    init_ray(num_cpus=n)
    try:
        out: dict[str, float] = {}
        returns = {}
        for actors in (1, n):
            best = 0.0
            for _ in range(args.repeats):
                df, st = run_jobs(
                    [job], num_actors=actors, num_envs=args.num_envs, progress=False, return_stats=True
                )
                best = max(best, st.steps_per_s)
            returns[actors] = df["return"].to_numpy()
            out[f"steps_per_s_{actors}"] = best
            print(f"{actors} actor(s): {best:,.0f} env steps/s ({st.env_steps} steps, {episodes} episodes)")
    finally:
        shutdown_ray()
    ratio = out[f"steps_per_s_{n}"] / out["steps_per_s_1"]
    eff = ratio / n
    same = bool(np.array_equal(returns[1], returns[n]))
    print(f"speed-up {n} vs 1 actor: {ratio:.2f}x; scaling efficiency {eff:.2f} (target >= 0.80)")
    print(f"identical returns 1 vs {n} actors: {same}")
    out.update(actors=n, ratio=ratio, efficiency=eff, identical_returns=same, method=method)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
