"""The pool of Ray rollout actors that runs ``mage.eval.jobs`` chunks on a cluster.

Each ``RolloutWorker`` actor wraps a ``mage.eval.jobs.ChunkRunner`` (its own env copies and agent cache).
Chunks are the eval package's fixed chunks, so the same jobs give the same rows on 0 (in process), 1 or N
actors. Checkpoints go into the object store once; an actor fetches one only if it cannot see the driver's
path (another node without shared storage).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mage.eval.jobs import ChunkResult, ChunkRunner, Collector, RolloutJob, RolloutStats, chunks, pack_dir
from mage.eval.jobs import run_jobs as run_jobs_here


class RolloutWorker(ChunkRunner):
    """The Ray actor: a ChunkRunner whose checkpoint bytes come from the object store."""

    def run_chunk_packed(self, job: RolloutJob, start: int, n: int, packed: list[Any] | None) -> ChunkResult:
        """``packed``: ``[ObjectRef]`` of ``pack_dir(checkpoint)``, wrapped in a list so that Ray passes the
        reference and the bytes are fetched only when needed."""
        import ray

        fetch = (lambda: ray.get(packed[0])) if packed else None
        return self.run_chunk(job, start, n, fetch)


def run_jobs(
    jobs: Sequence[RolloutJob],
    *,
    num_actors: int = 2,
    num_envs: int = 50,
    device: str = "cpu",
    actor_cpus: float = 1.0,
    actor_gpus: float = 0.0,
    progress: bool = True,
    return_stats: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, RolloutStats]:
    """Run every job on ``num_actors`` Ray actors (0: in this process, no Ray); one row per episode, sorted
    by (job, episode). ``num_envs`` (episodes per lockstep batch) is part of the determinism contract;
    ``actor_cpus`` / ``actor_gpus``: resources per actor (fractions are fine; Ray does not pin cores)."""
    if num_actors == 0:
        return run_jobs_here(
            jobs, num_envs=num_envs, device=device, progress=progress, return_stats=return_stats
        )
    import ray

    if not ray.is_initialized():
        raise RuntimeError("Ray is not initialised; call mage.distributed.ray_init.init_ray() first")
    queue = chunks(jobs, num_envs)
    col = Collector(jobs, progress)
    # "DEFAULT" keeps the actors out of an enclosing Tune trial's placement group (which holds only the
    # trial's own CPU); they use whatever the cluster has free once training released its workers.
    cls = ray.remote(RolloutWorker).options(
        num_cpus=actor_cpus, num_gpus=actor_gpus, scheduling_strategy="DEFAULT"
    )
    actors = [cls.remote(device, 1) for _ in range(min(num_actors, len(queue)))]
    ray.get([a.ping.remote() for a in actors])  # start-up outside the timed region
    t0 = time.perf_counter()
    packs = {
        j.checkpoint: [ray.put(pack_dir(j.checkpoint))]
        for j in jobs
        if j.checkpoint and Path(j.checkpoint).is_dir()
    }
    inflight: dict[Any, tuple[Any, int]] = {}

    def submit(actor: Any) -> None:
        ji, start, n = queue.pop(0)
        job = jobs[ji]
        inflight[actor.run_chunk_packed.remote(job, start, n, packs.get(job.checkpoint))] = (actor, ji)

    try:
        for a in actors:
            for _ in range(2):  # two chunks in flight per actor hide the driver round trip between chunks
                if queue:
                    submit(a)
        while inflight:
            done, _ = ray.wait(list(inflight), num_returns=1)
            actor, ji = inflight.pop(done[0])
            col.add(ji, ray.get(done[0]))
            if queue:
                submit(actor)
        wall = time.perf_counter() - t0
    finally:
        with contextlib.suppress(Exception):  # a dead actor must not hide the error that killed it
            ray.get([a.close.remote() for a in actors], timeout=30)
        for a in actors:
            ray.kill(a)
    df, stats = col.finish(wall, num_actors)
    return (df, stats) if return_stats else df


def actor_runner(
    num_actors: int, *, actor_cpus: float = 1.0, device: str = "cpu", progress: bool = True
) -> Callable[[Sequence[RolloutJob], int], pd.DataFrame]:
    """``runner(jobs, num_envs) -> episodes`` for ``mage.tracking.evaluation.evaluate_checkpoint``."""

    def run(jobs: Sequence[RolloutJob], num_envs: int) -> pd.DataFrame:
        return run_jobs(
            jobs,
            num_actors=num_actors,
            num_envs=num_envs,
            device=device,
            actor_cpus=actor_cpus,
            progress=progress,
        )

    return run
