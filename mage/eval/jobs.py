"""Rollout jobs: what to evaluate, cut into fixed chunks, run in this process; one row per episode.

A job is ``(method, checkpoint, task, seed, target_return)`` plus an episode count. Its episodes are cut into
fixed chunks of ``num_envs`` episodes (episode ``i`` uses env seed ``seed + i``); each chunk is one lockstep
batch of ``mage.eval.rollout.run_episodes``. Chunk boundaries depend only on ``num_envs`` and torch/numpy are
re-seeded per chunk, so the same job gives the same returns in this process or on N Ray actors
(``mage.distributed.rollouts`` runs the same ``ChunkRunner`` inside its actors).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mage.agent import Agent
from mage.envs.registry import get_spec
from mage.eval.protocol import PURE, EvalProtocol, check_applies
from mage.eval.registry import builds_per_chunk, make_agent, needs_goal
from mage.eval.rollout import EpisodeResult, run_episodes
from mage.rng import seed_everything

# Columns of eval/episodes.parquet (the rows also carry ``job`` in memory). ``task`` differs from ``dataset`` on
# Multi2D; start and goal positions feed the per-cell diagnostics (mage.eval.scores.cell_breakdown).
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
    "track",
    "acting",
    "hold",
    "first_arrival",
    "dwell",
    "hold_steps",
    "return_absorbing",
    "norm_score_absorbing",
    "task",
    "start_x",
    "start_y",
    "goal_x",
    "goal_y",
]
ChunkResult = tuple[list[dict[str, Any]], int, float]  # (episode rows, env steps, seconds in run_episodes)
PackedFetch = Callable[[], Mapping[str, bytes]]  # the checkpoint's files, for a process that cannot see it


@dataclass(frozen=True)
class RolloutJob:
    method: str  # agent registry key: mage, waypoint, random, (baselines)
    checkpoint: str | None  # checkpoint dir the factory loads (None for scripted agents)
    task: str  # task name, e.g. maze2d-umaze-v1
    seed: int  # env seed of episode 0; episode i uses seed + i
    target_return: float | None  # absolute initial RTG for return-conditioned agents
    episodes: int  # number of episodes
    agent_kwargs: Mapping[str, Any] = field(default_factory=dict)  # extra factory kwargs (sampling, ...)
    protocol: EvalProtocol = PURE  # goal given or not, own action or state tracking, hold

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes} must be >= 1")
        if needs_goal(self.method) and self.protocol.goal != "given":
            raise ValueError(
                f"method {self.method!r} steers to the env's goal, so it needs protocol goal='given' (track G)"
            )
        check_applies(self.protocol, get_spec(self.task))  # before any checkpoint is loaded


@dataclass
class RolloutStats:
    episodes: int
    env_steps: int
    wall_s: float  # driver wall time from first submit to last result (actor start-up excluded)
    busy_s: float  # summed time inside run_episodes over all chunks
    num_actors: int  # 0: in this process

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.wall_s if self.wall_s > 0 else float("nan")


def chunks(jobs: Sequence[RolloutJob], num_envs: int) -> list[tuple[int, int, int]]:
    """(job index, first episode, n episodes) of every job, independent of who runs them."""
    if not jobs:
        raise ValueError("jobs is empty; pass at least one RolloutJob")
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs} must be >= 1")
    return [
        (i, s, min(num_envs, job.episodes - s))
        for i, job in enumerate(jobs)
        for s in range(0, job.episodes, num_envs)
    ]


def episode_rows(job: RolloutJob, start: int, results: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """EpisodeResults of one chunk -> rows with the columns of eval/episodes.parquet (plus ``task``)."""
    dataset = get_spec(job.task).dataset
    rows = []
    for r in results:
        row = r.to_row()
        row["episode"] = start + int(row["episode"])
        row["target_return"] = float("nan") if job.target_return is None else float(job.target_return)
        row["method"] = job.method
        row["dataset"] = dataset
        row["task"] = job.task
        row.update(job.protocol.columns())
        rows.append(row)
    return rows


class ChunkRunner:
    """Runs chunks in the current process, caching loaded agents; a Ray rollout actor wraps one."""

    def __init__(self, device: str = "cpu", torch_threads: int | None = None) -> None:
        self.device = device
        if torch_threads:
            # N actors on N cores: one intra-op thread each, otherwise they oversubscribe and scale badly.
            torch.set_num_threads(torch_threads)
        self._agents: dict[tuple, Agent] = {}
        self._ckpt_dirs: dict[str, str] = {}  # driver path -> path usable here

    def _local_checkpoint(self, path: str, fetch: PackedFetch | None) -> str:
        """The driver's checkpoint path when this process sees it (same node, shared FS), else a copy
        unpacked from ``fetch()``, so actors on other nodes need no shared storage."""
        if path not in self._ckpt_dirs:
            if Path(path).is_dir() or fetch is None:
                self._ckpt_dirs[path] = path
            else:
                dst = Path(tempfile.mkdtemp(prefix="mage-ckpt-"))
                for rel, data in fetch().items():
                    (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                    (dst / rel).write_bytes(data)
                self._ckpt_dirs[path] = str(dst)
        return self._ckpt_dirs[path]

    def _agent(self, job: RolloutJob, chunk_seed: int) -> Agent:
        if builds_per_chunk(job.method):
            kw = {**job.agent_kwargs, "seed": chunk_seed}
            return make_agent(job.method, job.checkpoint, job.task, self.device, **kw)
        key = (job.method, job.checkpoint, job.task, tuple(sorted(job.agent_kwargs.items())))
        if key not in self._agents:
            self._agents[key] = make_agent(
                job.method, job.checkpoint, job.task, self.device, **job.agent_kwargs
            )
        return self._agents[key]

    def run_chunk(self, job: RolloutJob, start: int, n: int, fetch: PackedFetch | None = None) -> ChunkResult:
        """Episodes ``start .. start + n - 1`` of ``job`` as one lockstep batch."""
        if job.checkpoint:
            job = replace(job, checkpoint=self._local_checkpoint(job.checkpoint, fetch))
        chunk_seed = job.seed + start
        agent = self._agent(job, chunk_seed)
        seed_everything(chunk_seed)
        t0 = time.perf_counter()
        results = run_episodes(
            agent,
            job.task,
            episodes=n,
            num_envs=n,
            seed=chunk_seed,
            target_return=job.target_return,
            protocol=job.protocol,
        )
        dt = time.perf_counter() - t0
        rows = episode_rows(job, start, results)
        return rows, sum(r["length"] for r in rows), dt

    def ping(self) -> int:
        return os.getpid()

    def close(self) -> None:
        """Remove checkpoint copies unpacked from ``fetch``."""
        for path, local in self._ckpt_dirs.items():
            if local != path:
                shutil.rmtree(local, ignore_errors=True)
        self._ckpt_dirs.clear()


def pack_dir(path: str) -> dict[str, bytes]:
    """Files of a checkpoint dir by relative path, without the optimizer state (not needed to act)."""
    root = Path(path)
    return {
        str(f.relative_to(root)): f.read_bytes()
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.name != "train_state.pt"
    }


class Collector:
    """Gathers chunk results on the driver: rows tagged with their job, step and time totals, a progress bar."""

    def __init__(self, jobs: Sequence[RolloutJob], progress: bool) -> None:
        from tqdm.auto import tqdm

        self.total = sum(job.episodes for job in jobs)
        self.rows: list[dict[str, Any]] = []
        self.steps, self.busy = 0, 0.0
        self.bar = tqdm(
            total=self.total, desc="episodes", unit="ep", disable=not progress, dynamic_ncols=True
        )

    def add(self, job_index: int, out: ChunkResult) -> None:
        rows, steps, dt = out
        for row in rows:
            row["job"] = job_index
        self.rows.extend(rows)
        self.steps += steps
        self.busy += dt
        self.bar.update(len(rows))

    def finish(self, wall_s: float, num_actors: int) -> tuple[pd.DataFrame, RolloutStats]:
        self.bar.close()
        df = pd.DataFrame(self.rows).sort_values(["job", "episode"], ignore_index=True)
        return df, RolloutStats(self.total, self.steps, wall_s, self.busy, num_actors)


def run_jobs(
    jobs: Sequence[RolloutJob],
    *,
    num_envs: int = 50,
    device: str = "cpu",
    progress: bool = True,
    return_stats: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, RolloutStats]:
    """Run every job in this process; one row per episode, sorted by (job, episode)."""
    todo = chunks(jobs, num_envs)
    runner, col = ChunkRunner(device), Collector(jobs, progress)
    t0 = time.perf_counter()
    for ji, start, n in todo:
        col.add(ji, runner.run_chunk(jobs[ji], start, n))
    df, stats = col.finish(time.perf_counter() - t0, 0)
    return (df, stats) if return_stats else df


def in_process(
    device: str = "cpu", progress: bool = True
) -> Callable[[Sequence[RolloutJob], int], pd.DataFrame]:
    """``runner(jobs, num_envs) -> episodes`` running in this process (``mage.tracking.evaluation``)."""
    return lambda jobs, num_envs: run_jobs(jobs, num_envs=num_envs, device=device, progress=progress)
