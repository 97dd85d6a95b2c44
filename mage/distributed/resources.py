"""What one experiment asks Ray for: Ray Train workers per stage and rollout actors (plain data, no Ray)."""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_CPU_SHARE = 0.25  # the smallest automatic CPU share of a worker or actor
MAX_CPU_SHARE = 1.0  # the largest: one core each (Ray does not pin cores, fractions only bound packing)


def cpu_share(free_cpus: float, n: int, *, quarter_steps: bool = False) -> float:
    """CPUs for each of ``n`` processes so that they fit into ``free_cpus``, clipped to [0.25, 1]."""
    share = free_cpus / max(n, 1)
    if quarter_steps:
        share = math.floor(share * 4) / 4
    return min(MAX_CPU_SHARE, max(MIN_CPU_SHARE, share))


def concurrent_shares(
    cpus: float, trials: int, driver_cpus: float, num_workers: int, num_actors: int
) -> tuple[int, float, float]:
    """(trials that fit, CPUs of each Ray Train worker, CPUs of each rollout actor) when ``trials`` trials
    share ``cpus``: each holds ``driver_cpus`` for its driver and splits the rest of its equal part over its
    workers, then over its actors (training and evaluation run one after the other). Fixed when the sweep
    starts: trials that start together would otherwise each count the same free cores, and Ray would hold the
    later trial's Train workers until the first trial's training ended."""
    floor = driver_cpus + MIN_CPU_SHARE * max(num_workers, num_actors, 1)
    fit = max(1, min(trials, int(cpus // floor)))
    budget = cpus / fit - driver_cpus
    return fit, cpu_share(budget, num_workers, quarter_steps=True), cpu_share(budget, max(num_actors, 1))


class ResourceError(ValueError):
    """The experiment asks for resources (GPUs) that the Ray cluster does not have and cannot get."""


@dataclass(frozen=True)
class Resources:
    """Ray resources of one experiment (both training stages and the evaluation after them)."""

    num_workers: int = 1  # Ray Train workers per stage (DDP ranks)
    use_gpu: bool | None = None  # train on GPUs; None = iff the cluster has GPUs
    gpus_per_worker: float = 1.0  # GPUs of each Ray Train worker when training on GPUs
    cpus_per_worker: float | None = None  # CPUs of each Ray Train worker; None = a share of the free CPUs
    num_actors: int = 2  # rollout actors of the evaluation (0 = roll out in the driver's process)
    cpus_per_actor: float | None = None  # CPUs of each rollout actor; None = a share of the free CPUs
    max_failures: int = 2  # worker-group restarts per stage, each resuming from the stage's last checkpoint
    storage_path: str | None = (
        None  # Ray Train checkpoints; None = <project>/ray_results (shared on a cluster)
    )

    def __post_init__(self) -> None:
        if self.num_workers < 1:
            raise ValueError(f"num_workers={self.num_workers} must be >= 1")
        if self.num_actors < 0:
            raise ValueError(f"num_actors={self.num_actors} must be >= 0")

    def per_worker(self, free_cpus: float, gpu: bool) -> dict[str, float]:
        """Ray Train ``resources_per_worker``: the fixed CPUs, else quarter-CPU steps of ``free_cpus`` that let
        all workers fit (fractions on a 2-core box, 1 on a cluster); ``gpus_per_worker`` GPUs when ``gpu``."""
        cpu = self.cpus_per_worker
        if cpu is None:
            cpu = cpu_share(free_cpus, self.num_workers, quarter_steps=True)
        res = {"CPU": float(cpu)}
        if gpu:
            res["GPU"] = float(self.gpus_per_worker)
        return res

    def actor_cpus(self, free_cpus: float) -> float:
        """CPUs of each rollout actor: the fixed value, else a share of ``free_cpus`` over the actors."""
        if self.cpus_per_actor is not None:
            return float(self.cpus_per_actor)
        return cpu_share(free_cpus, self.num_actors)

    def peak_cpus(self) -> float:
        """Most CPUs the experiment's Ray processes hold at once: training and evaluation run one after the
        other, each worker/actor holding at most one core (or its fixed share)."""
        train = self.num_workers * (self.cpus_per_worker or MAX_CPU_SHARE)
        rollouts = self.num_actors * (self.cpus_per_actor or MAX_CPU_SHARE)
        return max(train, rollouts)

    def gpus_needed(self) -> float:
        """GPUs that training asks for when it is on GPUs (all workers of a stage at once)."""
        return self.num_workers * self.gpus_per_worker

    def check_gpus(self, gpus: float, *, where: str, flag: str = "--gpus") -> None:
        """Raise :class:`ResourceError` when ``use_gpu=True`` asks for more GPUs than ``gpus`` (what ``where``,
        a machine or a cluster that cannot grow, has): Ray would otherwise wait for them forever. ``flag``:
        the setting that asked for them, named in the message."""
        need = self.gpus_needed()
        if self.use_gpu and gpus < need:
            raise ResourceError(
                f"training on GPUs ({flag}) asks for {need:g} GPU(s) ({self.num_workers} worker(s) x "
                f"{self.gpus_per_worker:g}) but {where} has {gpus:g}; drop {flag} to train on CPUs, use fewer "
                "--workers, or send the job to a cluster with GPUs (RAY_ADDRESS)"
            )
