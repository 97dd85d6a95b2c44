"""Evaluation on a pool of Ray rollout actors, and logging of the results to MLflow.

A job is ``(method, checkpoint, task, seed, target_return)`` plus an episode count. Its episodes are cut into
fixed chunks of ``num_envs`` episodes (episode ``i`` uses env seed ``seed + i``); each chunk is one lockstep
batch of ``mage.eval.rollout.run_episodes`` inside a ``RolloutWorker`` actor, which keeps its own env copies
and a cache of loaded agents. Chunk boundaries depend only on ``num_envs``, never on the number of actors,
and torch/numpy are re-seeded per chunk, so the same job gives the same returns on 1 or N actors.

Agents come from a small registry keyed by method name (``register_agent``): ``mage`` loads a checkpoint
through ``MageAgent.from_checkpoint``; ``waypoint`` and ``random`` are the reference agents of
``mage.eval.agents``; baselines register their own factories later.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mage.agent import Agent

# ----------------------------------------------------------------------------------------------------------
# Agent registry

AgentFactory = Callable[..., Agent]
_FACTORIES: dict[str, tuple[AgentFactory, bool]] = {}


def register_agent(method: str, factory: AgentFactory, *, per_chunk: bool = False) -> None:
    """Add an agent to the registry: ``factory(checkpoint, task, device, **kwargs) -> Agent``.

    ``checkpoint`` may be None for scripted agents. Loaded agents are cached per actor and torch/numpy are
    re-seeded per chunk; ``per_chunk=True`` instead builds a fresh agent for every chunk with ``seed=<chunk
    seed>`` (cheap agents with their own RNG), which keeps results independent of the actor count.
    """
    _FACTORIES[method] = (factory, per_chunk)


_CKPT_CACHE: dict[tuple[str, str], Any] = {}


def _mage_factory(
    checkpoint: str | None,
    task: str,
    device: str,
    seed: int = 0,
    sampling: Mapping[str, Any] | None = None,
    rtg_update: str | None = None,
) -> Agent:
    """MageAgent over a checkpoint loaded once per process; ``sampling``: SamplingConfig fields;
    ``rtg_update``: decrement | hold (default: the checkpoint's eval.rtg_update)."""
    from mage.checkpoint import load_checkpoint
    from mage.policy.mage_agent import MageAgent
    from mage.policy.planner import SamplingConfig

    if not checkpoint:
        raise ValueError("method 'mage' needs a checkpoint directory (--run-id or a checkpoint path)")
    key = (str(checkpoint), str(device))
    if key not in _CKPT_CACHE:
        _CKPT_CACHE[key] = load_checkpoint(checkpoint, device)
    return MageAgent(
        _CKPT_CACHE[key],
        device,
        sampling=SamplingConfig(**(sampling or {})),
        seed=seed,
        rtg_update=rtg_update,
    )


def _waypoint_factory(checkpoint: str | None, task: str, device: str, **kw: Any) -> Agent:
    from mage.eval.agents import WaypointAgent

    return WaypointAgent(task, **kw)


def _random_factory(checkpoint: str | None, task: str, device: str, **kw: Any) -> Agent:
    from mage.eval.agents import RandomAgent

    return RandomAgent(**kw)


register_agent("mage", _mage_factory, per_chunk=True)
register_agent("waypoint", _waypoint_factory, per_chunk=True)
register_agent("random", _random_factory, per_chunk=True)


def registered_methods() -> list[str]:
    return sorted(_FACTORIES)


def make_agent(method: str, checkpoint: str | None, task: str, device: str = "cpu", **kwargs: Any) -> Agent:
    if method not in _FACTORIES:
        raise ValueError(
            f"unknown method {method!r}; registered: {', '.join(registered_methods())} "
            "(add one with mage.distributed.rollouts.register_agent)"
        )
    return _FACTORIES[method][0](checkpoint, task, device, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# Jobs and chunks


@dataclass(frozen=True)
class RolloutJob:
    method: str  # agent registry key: mage, waypoint, random, (baselines)
    checkpoint: str | None  # checkpoint dir the factory loads (None for scripted agents)
    task: str  # task name, e.g. maze2d-umaze-v1
    seed: int  # env seed of episode 0; episode i uses seed + i
    target_return: float | None  # absolute initial RTG for return-conditioned agents
    episodes: int  # number of episodes
    agent_kwargs: Mapping[str, Any] = field(default_factory=dict)  # extra factory kwargs (sampling, ...)

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes} must be >= 1")


def _chunks(job_index: int, job: RolloutJob, num_envs: int) -> list[tuple[int, int, int]]:
    """(job index, first episode, n episodes), independent of the actor count."""
    return [(job_index, s, min(num_envs, job.episodes - s)) for s in range(0, job.episodes, num_envs)]


def _seed_everything(seed: int) -> None:
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def _episode_rows(job: RolloutJob, start: int, results: Sequence[Any]) -> list[dict[str, Any]]:
    """EpisodeResult list -> rows with the columns of eval/episodes.parquet (plus ``task``)."""
    from mage.envs.registry import get_spec

    dataset = get_spec(job.task).dataset
    rows = []
    for r in results:
        row = r.to_row()
        row["episode"] = start + int(row["episode"])
        row["target_return"] = float("nan") if job.target_return is None else float(job.target_return)
        row["method"] = job.method
        row["dataset"] = dataset
        row["task"] = job.task
        rows.append(row)
    return rows


class _ChunkRunner:
    """Runs chunks in the current process; a ``RolloutWorker`` actor wraps one."""

    def __init__(self, device: str = "cpu", torch_threads: int | None = None) -> None:
        self.device = device
        if torch_threads:
            # N actors on N cores: one intra-op thread each, otherwise they oversubscribe and scale badly.
            import torch

            torch.set_num_threads(torch_threads)
        self._agents: dict[tuple, Agent] = {}
        self._ckpt_dirs: dict[str, str] = {}  # driver path -> path usable here

    def _local_checkpoint(self, path: str, packed: list[Any] | None) -> str:
        """The driver's checkpoint path when this node sees it (same node, shared FS), else a copy
        unpacked from the object store, so actors on other nodes need no shared storage."""
        if path not in self._ckpt_dirs:
            if Path(path).is_dir() or not packed:
                self._ckpt_dirs[path] = path
            else:
                import ray

                dst = Path(tempfile.mkdtemp(prefix="mage-ckpt-"))
                for rel, data in ray.get(packed[0]).items():
                    (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                    (dst / rel).write_bytes(data)
                self._ckpt_dirs[path] = str(dst)
        return self._ckpt_dirs[path]

    def _agent(self, job: RolloutJob, chunk_seed: int) -> Agent:
        if job.method in _FACTORIES and _FACTORIES[job.method][1]:
            kw = {**job.agent_kwargs, "seed": chunk_seed}
            return make_agent(job.method, job.checkpoint, job.task, self.device, **kw)
        key = (job.method, job.checkpoint, job.task, tuple(sorted(job.agent_kwargs.items())))
        if key not in self._agents:
            self._agents[key] = make_agent(
                job.method, job.checkpoint, job.task, self.device, **job.agent_kwargs
            )
        return self._agents[key]

    def run_chunk(
        self, job: RolloutJob, start: int, n: int, packed: list[Any] | None = None
    ) -> tuple[list[dict[str, Any]], int, float]:
        """-> (episode rows, env steps, seconds). ``packed``: ``[ObjectRef]`` of the packed checkpoint."""
        from mage.eval.rollout import run_episodes

        if job.checkpoint:
            job = replace(job, checkpoint=self._local_checkpoint(job.checkpoint, packed))
        chunk_seed = job.seed + start
        agent = self._agent(job, chunk_seed)
        _seed_everything(chunk_seed)
        t0 = time.perf_counter()
        results = run_episodes(
            agent, job.task, episodes=n, num_envs=n, seed=chunk_seed, target_return=job.target_return
        )
        dt = time.perf_counter() - t0
        rows = _episode_rows(job, start, results)
        return rows, sum(r["length"] for r in rows), dt

    def ping(self) -> int:
        return os.getpid()

    def close(self) -> None:
        """Remove checkpoint copies unpacked from the object store."""
        for path, local in self._ckpt_dirs.items():
            if local != path:
                shutil.rmtree(local, ignore_errors=True)
        self._ckpt_dirs.clear()


def _pack_dir(path: str) -> dict[str, bytes]:
    """Files of a checkpoint dir by relative path, without the optimizer state (not needed to act)."""
    root = Path(path)
    return {
        str(f.relative_to(root)): f.read_bytes()
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.name != "train_state.pt"
    }


def _remote_worker_cls():
    import ray

    return ray.remote(_ChunkRunner)


# ----------------------------------------------------------------------------------------------------------
# Running jobs


@dataclass
class RolloutStats:
    episodes: int
    env_steps: int
    wall_s: float  # driver wall time from first submit to last result (actor start-up excluded)
    busy_s: float  # summed time inside run_episodes over all chunks
    num_actors: int

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.wall_s if self.wall_s > 0 else float("nan")


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
    """Run every job; one row per episode, sorted by (job, episode), with ``norm_score`` columns.

    num_actors: Ray actors (needs ``init_ray()`` first); 0 runs the chunks in this process, no Ray.
    num_envs: episodes per lockstep batch (chunk size); part of the determinism contract.
    actor_cpus / actor_gpus: resources per actor (fractions are fine; Ray does not pin cores).
    """
    if not jobs:
        raise ValueError("jobs is empty; pass at least one RolloutJob")
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs} must be >= 1")
    chunks = [c for i, job in enumerate(jobs) for c in _chunks(i, job, num_envs)]
    total = sum(job.episodes for job in jobs)
    bar = _progress(total, progress)
    rows: list[dict[str, Any]] = []
    steps = 0
    busy = 0.0

    def collect(job_index: int, out: tuple[list[dict[str, Any]], int, float]) -> None:
        nonlocal steps, busy
        r, s, dt = out
        for row in r:
            row["job"] = job_index
        rows.extend(r)
        steps += s
        busy += dt
        bar.update(len(r))

    if num_actors == 0:
        runner = _ChunkRunner(device)
        t0 = time.perf_counter()
        for ji, start, n in chunks:
            collect(ji, runner.run_chunk(jobs[ji], start, n))
        wall = time.perf_counter() - t0
    else:
        import ray

        if not ray.is_initialized():
            raise RuntimeError("Ray is not initialised; call mage.distributed.ray_init.init_ray() first")
        # "DEFAULT" keeps the actors out of an enclosing Tune trial's placement group (which holds only
        # the trial's own CPU); they use whatever the cluster has free once training released its workers.
        cls = _remote_worker_cls().options(
            num_cpus=actor_cpus, num_gpus=actor_gpus, scheduling_strategy="DEFAULT"
        )
        actors = [cls.remote(device, 1) for _ in range(min(num_actors, len(chunks)))]
        ray.get([a.ping.remote() for a in actors])  # start-up outside the timed region
        t0 = time.perf_counter()
        queue = list(chunks)
        inflight: dict[Any, tuple[Any, int]] = {}

        # Each checkpoint goes into the object store once; wrapped in a list so Ray passes the reference
        # and an actor fetches it only if it cannot see the driver's path.
        packs = {
            j.checkpoint: [ray.put(_pack_dir(j.checkpoint))]
            for j in jobs
            if j.checkpoint and Path(j.checkpoint).is_dir()
        }

        def submit(actor: Any) -> None:
            ji, start, n = queue.pop(0)
            job = jobs[ji]
            inflight[actor.run_chunk.remote(job, start, n, packs.get(job.checkpoint))] = (actor, ji)

        try:
            for a in actors:
                # two chunks in flight per actor hide the driver round trip between chunks
                for _ in range(2):
                    if queue:
                        submit(a)
            while inflight:
                done, _ = ray.wait(list(inflight), num_returns=1)
                actor, ji = inflight.pop(done[0])
                collect(ji, ray.get(done[0]))
                if queue:
                    submit(actor)
            wall = time.perf_counter() - t0
        finally:
            # a dead actor must not hide the error that killed it
            with contextlib.suppress(Exception):
                ray.get([a.close.remote() for a in actors], timeout=30)
            for a in actors:
                ray.kill(a)
    bar.close()
    df = pd.DataFrame(rows).sort_values(["job", "episode"], ignore_index=True)
    stats = RolloutStats(total, steps, wall, busy, num_actors)
    return (df, stats) if return_stats else df


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    """tqdm bar of episodes done on the driver (a silent stand-in where tqdm is missing)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc="episodes", unit="ep", disable=not enabled, dynamic_ncols=True)


EPISODE_COLUMNS = [
    "episode",
    "env_seed",
    "return",
    "length",
    "success",
    "norm_score",
    "norm_score_ours",
    "target_return",
    "method",
    "dataset",
]


def summarize(df: pd.DataFrame, prefix: str = "eval/") -> dict[str, float]:
    """The final evaluation metrics of docs/architecture.md for one job's episodes."""
    from mage.eval.scores import mean_std_ci

    ns_mean, ns_std, ns_ci = mean_std_ci(df["norm_score"].to_numpy(dtype=np.float64))
    ret_mean, ret_std, _ = mean_std_ci(df["return"].to_numpy(dtype=np.float64))
    return {
        f"{prefix}norm_score": ns_mean,
        f"{prefix}norm_score_std": ns_std,
        f"{prefix}norm_score_ci95": ns_ci,
        f"{prefix}norm_score_ours": float(df["norm_score_ours"].mean()),
        f"{prefix}return_mean": ret_mean,
        f"{prefix}return_std": ret_std,
        f"{prefix}success_rate": float(df["success"].astype(float).mean()),
        f"{prefix}length_mean": float(df["length"].astype(float).mean()),
        f"{prefix}target_return": float(df["target_return"].iloc[0]),
        f"{prefix}episodes": float(len(df)),
    }


# ----------------------------------------------------------------------------------------------------------
# One checkpoint, logged to MLflow


@dataclass
class EvalResult:
    metrics: dict[str, float]  # eval/* summary
    episodes: pd.DataFrame  # one row per episode (EPISODE_COLUMNS + task, job)
    run_id: str | None  # the MLflow run the results were logged to (None: not logged)
    checkpoint: str | None  # checkpoint dir that was evaluated (runs:/<id>/checkpoint when downloaded)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["episodes"] = self.episodes.to_dict("records")
        return d


def resolve_target_return(
    checkpoint: str | None,
    *,
    target_return: float | None = None,
    rtg_percentile: float | None = None,
) -> float | None:
    """Absolute R̂_0: ``target_return`` as given, else ``rtg_percentile`` of the dataset episode returns that
    the checkpoint stores (None for agents that take no target, i.e. no checkpoint and no explicit value)."""
    if target_return is not None:
        if not math.isfinite(target_return):
            raise ValueError(f"target_return={target_return} must be a finite number")
        return float(target_return)
    if rtg_percentile is None or checkpoint is None:
        return None
    from mage.checkpoint import load_checkpoint
    from mage.eval.rtg import target_return as rtg_target

    return rtg_target(load_checkpoint(checkpoint).episode_returns, percentile=rtg_percentile)


def checkpoint_from_run(run_id: str, *, tracking_uri: str | None = None, artifact: str = "checkpoint") -> str:
    """Local copy of a run's ``checkpoint/`` (or ``tokenizer/``) artifact; a clear error when it has none."""
    from mage.tracking import query

    query.get_run(run_id, tracking_uri=tracking_uri)  # clear error on a wrong id
    files = query.list_artifacts(run_id, artifact, tracking_uri=tracking_uri)
    if not files:
        raise ValueError(
            f"run {run_id} has no {artifact}/ artifact; pass a run that finished training "
            "(mage train prints its id) or a checkpoint directory"
        )
    return str(query.download_artifacts(run_id, artifact, tracking_uri=tracking_uri))


def evaluate_checkpoint(
    checkpoint: str | Path | None = None,
    *,
    run_id: str | None = None,
    method: str = "mage",
    task: str | None = None,
    episodes: int = 100,
    seed: int = 0,
    num_envs: int = 50,
    target_return: float | None = None,
    rtg_percentile: float | None = 100.0,
    agent_kwargs: Mapping[str, Any] | None = None,
    num_actors: int = 2,
    actor_cpus: float = 1.0,
    device: str = "cpu",
    log: bool = True,
    child_run: bool = False,
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> EvalResult:
    """Evaluate one checkpoint (or a scripted method) and log the results to MLflow.

    checkpoint / run_id: the checkpoint dir, or an MLflow run whose ``checkpoint/`` artifact is used.
    task: defaults to the checkpoint's dataset. Target: ``target_return`` if given, else ``rtg_percentile`` of
        the checkpoint's dataset episode returns (the paper's R̂_0 for percentile 100 = dataset max).
    num_actors: rollout actors (0 = in this process, no Ray). See ``run_jobs`` for determinism.
    Logging (``log=True``): with ``run_id`` and not ``child_run``: ``eval/*`` metrics and
        ``eval/episodes.parquet`` go onto that run; with ``child_run``: onto a new child run
        (``mage.run_type=eval``, ``mage.source_run_id``, extra ``tags``) in ``experiment`` (default: the
        parent's experiment); without ``run_id``: onto a new eval run in ``experiment`` (default mage-train).
    """
    ckpt = str(checkpoint) if checkpoint is not None else None
    downloaded = ckpt is None and run_id is not None and method == "mage"
    if downloaded:
        ckpt = checkpoint_from_run(run_id, tracking_uri=tracking_uri)
    try:
        if ckpt is not None and not Path(ckpt).is_dir():
            raise FileNotFoundError(
                f"checkpoint {ckpt!r} is not a directory; pass a checkpoint dir or --run-id"
            )
        if task is None:
            if ckpt is None:
                raise ValueError("task is required when no checkpoint is given (e.g. task='maze2d-umaze-v1')")
            from mage.checkpoint import load_checkpoint

            task = load_checkpoint(ckpt).cfg.data.dataset
        target = resolve_target_return(ckpt, target_return=target_return, rtg_percentile=rtg_percentile)
        job = RolloutJob(method, ckpt, task, seed, target, episodes, dict(agent_kwargs or {}))
        df = run_jobs(
            [job],
            num_actors=num_actors,
            num_envs=num_envs,
            device=device,
            actor_cpus=actor_cpus,
            progress=progress,
        )
    finally:
        if downloaded and ckpt:
            shutil.rmtree(Path(ckpt).parent, ignore_errors=True)  # the temp dir download_artifacts made
    metrics = summarize(df)
    logged_to = None
    if log:
        logged_to = log_evaluation(
            df,
            metrics,
            run_id=run_id,
            child_run=child_run,
            experiment=experiment,
            run_name=run_name,
            tags={"mage.method": method, "mage.dataset": task, **(tags or {})},
            tracking_uri=tracking_uri,
        )
    return EvalResult(metrics, df, logged_to, f"runs:/{run_id}/checkpoint" if downloaded else ckpt)


def log_evaluation(
    episodes: pd.DataFrame,
    metrics: Mapping[str, float],
    *,
    run_id: str | None = None,
    child_run: bool = False,
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Write ``eval/episodes.parquet`` and the ``eval/*`` metrics; returns the run id written to."""
    from mage.tracking.mlflow_logger import RunLogger, standard_tags

    table = episodes[[c for c in EPISODE_COLUMNS if c in episodes.columns]]
    if run_id is not None and not child_run:
        logger = RunLogger.attach(run_id, tracking_uri=tracking_uri)
        logger.log_table(table, "eval/episodes.parquet")
        logger.log_metrics(metrics)
        return run_id
    exp = experiment
    if exp is None and run_id is not None:
        parent = RunLogger.attach(run_id, tracking_uri=tracking_uri)
        exp = parent.client.get_experiment(parent.client.get_run(run_id).info.experiment_id).name
    all_tags = standard_tags(run_type="eval", method=str((tags or {}).get("mage.method", "mage")))
    all_tags.update({k: str(v) for k, v in (tags or {}).items()})
    if run_id is not None:
        all_tags["mage.source_run_id"] = run_id
    with RunLogger.start(
        experiment=exp or "mage-train",
        tracking_uri=tracking_uri,
        run_name=run_name,
        parent_run_id=run_id if child_run else None,
        tags=all_tags,
    ) as logger:
        logger.log_table(table, "eval/episodes.parquet")
        logger.log_metrics(metrics)
    return logger.run_id
