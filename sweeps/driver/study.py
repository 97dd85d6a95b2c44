"""An evaluation study over trained runs: (source, target, seed) rollout jobs, grouped per (source, target)."""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from typing import Any

import pandas as pd

from sweeps.driver.sources import Source

# Env seed of episode i of eval seed s: s * SEED_STRIDE + i, so seeds never share an episode.
SEED_STRIDE = 100_000


def build_jobs(
    sources: Sequence[Source], targets: Sequence[Sequence[Any]], seeds: Sequence[int], episodes: int
) -> list[Any]:
    """One RolloutJob per (source, target, seed); returns [(source index, target, seed, job)]. A target is
    anything hashable with a ``target_return`` (absolute R̂_0); every target gets the same env seeds (paired)."""
    from mage.eval.jobs import RolloutJob

    out = []
    for si, (src, tgts) in enumerate(zip(sources, targets)):
        for t in tgts:
            for s in seeds:
                job = RolloutJob(
                    src.method, src.checkpoint, src.task, s * SEED_STRIDE, t.target_return, episodes,
                    src.agent_kwargs,
                )  # fmt: skip
                out.append((si, t, s, job))
    return out


def run_study_jobs(
    jobs: Sequence[tuple[int, Hashable, int, Any]],
    *,
    num_actors: int,
    num_envs: int,
    actor_cpus: float,
    progress: bool,
) -> tuple[dict[tuple[int, Any], pd.DataFrame], Any, float]:
    """Run all jobs at once on the rollout actors.

    Returns ``({(source index, target): its episodes over all seeds, with an eval_seed column}, RolloutStats,
    wall seconds)``, the groups in job order.
    """
    from mage.distributed.rollouts import run_jobs

    t0 = time.perf_counter()
    df, stats = run_jobs(
        [j for *_, j in jobs],
        num_actors=num_actors,
        num_envs=num_envs,
        actor_cpus=actor_cpus,
        progress=progress,
        return_stats=True,
    )
    wall = time.perf_counter() - t0
    df["eval_seed"] = [jobs[j][2] for j in df["job"]]
    groups: dict[tuple[int, Any], list[int]] = {}
    for ji, (si, t, _, _) in enumerate(jobs):
        groups.setdefault((si, t), []).append(ji)
    return {key: df[df["job"].isin(jis)] for key, jis in groups.items()}, stats, wall
