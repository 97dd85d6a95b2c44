"""Train d3rlpy's SAC online on a gymnasium task, resumably: the policy source of the ``sac-*`` recipes
(``hopper-{medium,medium-replay,expert}-mage``; datasets in ``mage.data.generate_sac``).

D4RL's locomotion recipe (Fu et al. 2020; ``d4rl/scripts/generation/mujoco/collect_data.py``): train SAC
online; ``medium`` = a policy stopped early at about a third of expert return, ``medium-replay`` = every
sample seen in training up to that point, ``expert`` = a fully trained policy. Here SAC is d3rlpy's
``SACConfig`` with its defaults, which are the SAC papers' (Haarnoja et al. 2018a/b hyperparameter tables:
Adam 3e-4 for actor, critics and temperature, batch 256, 2 x 256 MLPs, gamma 0.99, tau 0.005, replay 1e6,
target entropy -|A|); ``update_start`` 1000 and 10,000-step epochs as d3rlpy's ``reproductions/online/sac.py``.

Work dir (one training run; medium, medium-replay and expert all read it):

    recipe.json          the env, horizon and SACRecipeConfig; another recipe in this dir is refused
    progress.json        step, SAC wall seconds, torch threads, one record per checkpoint (eval returns,
                         algo file or null)
    chunks/step_N.npz    every env step of the chunk that ends at step N (the medium-replay source)
    algo/step_N.d3       d3rlpy ``save`` of the algorithm (weights + optimisers) at N: kept for the latest
                         checkpoint (to resume) and for every new best return (medium / expert picks)

Training runs in chunks of ``checkpoint_every`` steps, one ``fit_online`` call each; every chunk starts new
episodes (the unfinished one is cut: a ``timeouts`` row in the stream, like gymnasium's TimeLimit) and is
seeded from (seed, step), so a resumed run is the same run as an uninterrupted one. That needs the same
torch intra-op thread count too (on Hopper one and two threads gave 216.7 and 286.1 at the first checkpoint),
so the first chunk records the process's count and every resume trains with it. The replay buffer is
rebuilt from the chunks on resume. Every file is written atomically; progress.json last. One trainer per
work dir (``train.lock``). The env side (step recorder, evaluation, seeds): ``mage.data.sac_env``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from mage.config_base import ConfigBase, ConfigError
from mage.data.d4rl_io import DatasetError
from mage.data.sac_env import STREAM_KEYS, StepRecorder, derive_seed, evaluate
from mage.envs.registry import TaskSpec
from mage.fsutil import atomic_file


@dataclass
class SACRecipeConfig(ConfigBase):
    seed: int = 0  # seeds d3rlpy (numpy, torch), the env and the evaluations, per chunk
    hidden: tuple[int, ...] = (256, 256)  # actor and critic MLPs (SAC paper, d3rlpy default encoder)
    batch_size: int = 256  # transitions per gradient step (SAC paper, d3rlpy default)
    actor_learning_rate: float = 3e-4  # Adam (SAC paper, d3rlpy default)
    critic_learning_rate: float = 3e-4  # Adam (SAC paper, d3rlpy default)
    temp_learning_rate: float = 3e-4  # Adam on log alpha (SAC paper, d3rlpy default)
    gamma: float = 0.99  # discount (SAC paper, d3rlpy default)
    tau: float = 0.005  # target smoothing (SAC paper, d3rlpy default)
    n_critics: int = 2  # twin Q (SAC paper, d3rlpy default)
    initial_temperature: float = 1.0  # alpha at step 0 (d3rlpy default)
    buffer_size: int = 1_000_000  # FIFO replay size (SAC paper 1e6)
    update_start: int = 1000  # env steps before the first gradient step (d3rlpy reproductions/online/sac.py)
    random_steps: int = 0  # first steps with uniform random actions (d3rlpy reproduction: none)
    checkpoint_every: int = 10_000  # env steps per chunk: evaluation + checkpoint (d3rlpy's epoch)
    eval_episodes: int = 10  # episodes per evaluation, stochastic and deterministic (d3rlpy eval_n_trials)

    section = "sac."

    def validate(self) -> None:
        super().validate()
        for name in ("batch_size", "n_critics", "buffer_size", "checkpoint_every", "eval_episodes"):
            self._require(name, 1)
        for name in ("update_start", "random_steps", "seed"):
            self._require(name, 0)
        self._require("gamma", 0, 1)
        self._require("tau", 0, 1)
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"sac.hidden={self.hidden!r} must be a non-empty list of positive sizes")

    def to_d3rlpy(self) -> Any:
        """The ``d3rlpy.algos.SACConfig`` of this recipe."""
        import d3rlpy

        enc = d3rlpy.models.VectorEncoderFactory(hidden_units=list(self.hidden))
        return d3rlpy.algos.SACConfig(
            batch_size=self.batch_size,
            gamma=self.gamma,
            actor_learning_rate=self.actor_learning_rate,
            critic_learning_rate=self.critic_learning_rate,
            temp_learning_rate=self.temp_learning_rate,
            actor_encoder_factory=enc,
            critic_encoder_factory=enc,
            tau=self.tau,
            n_critics=self.n_critics,
            initial_temperature=self.initial_temperature,
        )


class RecipeMismatchError(DatasetError):
    """The work dir holds another training recipe."""


def read_progress(work_dir: Path) -> dict[str, Any]:
    """A work dir's ``progress.json`` (step 0 and no checkpoints before the first); only reads, so it is safe
    beside a running trainer (the file is replaced atomically)."""
    p = work_dir / "progress.json"
    return json.loads(p.read_text()) if p.is_file() else {"step": 0, "sac_seconds": 0.0, "checkpoints": []}


def first_reaching(checkpoints: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The first checkpoint whose stochastic evaluation return is >= target."""
    return next((c for c in checkpoints if c["return"] >= target), None)


def _write_json(path: Path, obj: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")


def run_recipe(spec: TaskSpec, cfg: SACRecipeConfig) -> dict[str, Any]:
    """What defines a training run (recipe.json): the env, its horizon and the config."""
    return {"env": spec.env_id, "horizon": spec.horizon, **cfg.to_dict(), "hidden": list(cfg.hidden)}


def recipe_id(recipe: dict[str, Any]) -> str:
    """A short stable name of a run recipe, for dataset metadata."""
    return hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]


@contextlib.contextmanager
def _quiet_d3rlpy() -> Iterator[None]:
    """Silence d3rlpy's structlog lines below ERROR (a config dump and a metrics line per chunk); ours say
    what matters."""
    import structlog

    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        yield
    finally:
        structlog.configure(**old)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Train with ``n`` intra-op threads, restoring the caller's count after."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def train_lock(directory: Path) -> Iterator[None]:
    """Hold ``<dir>/train.lock`` (flock, released when the process dies) or refuse: two trainers on one
    work dir would interleave their chunks."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "train.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            raise DatasetError(
                f"SAC work dir {directory} is being trained by {who}; wait for it to finish, or pass --work-dir NEW"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class SACRun:
    """One resumable SAC training run in a work dir (see the module doc)."""

    def __init__(self, spec: TaskSpec, cfg: SACRecipeConfig, work_dir: str | Path) -> None:
        self.spec, self.cfg, self.dir = spec, cfg, Path(work_dir)
        self.recipe = run_recipe(spec, cfg)
        path = self.dir / "recipe.json"
        if path.is_file():
            have = json.loads(path.read_text())
            if have != self.recipe:
                diff = ", ".join(
                    f"{k}: {have.get(k)!r} there, {self.recipe.get(k)!r} here"
                    for k in sorted(set(have) | set(self.recipe))
                    if have.get(k) != self.recipe.get(k)
                )
                raise RecipeMismatchError(
                    f"SAC work dir {self.dir} holds another recipe ({diff}); pass the same options to resume "
                    f"it, or --work-dir NEW for a new run"
                )
        else:
            _write_json(path, self.recipe)
        self.progress: dict[str, Any] = {}
        self._threads = 1  # torch intra-op threads of the current train() call
        self._load_progress()

    def _load_progress(self) -> None:
        self.progress = read_progress(self.dir)

    @property
    def step(self) -> int:
        return int(self.progress["step"])

    @property
    def checkpoints(self) -> list[dict[str, Any]]:
        return list(self.progress["checkpoints"])

    def first_reaching(self, target: float) -> dict[str, Any] | None:
        """The first checkpoint whose stochastic evaluation return is >= target (a new best, so kept)."""
        return first_reaching(self.checkpoints, target)

    def best(self, upto: int | None = None) -> dict[str, Any] | None:
        """The checkpoint with the highest stochastic evaluation return (the first of equals), among those
        at step <= ``upto`` (None: all)."""
        cks = [c for c in self.checkpoints if upto is None or c["step"] <= upto]
        return max(cks, key=lambda c: c["return"]) if cks else None

    def seconds_per_step(self) -> float | None:
        return self.progress["sac_seconds"] / self.step if self.step else None

    def load_algo(self, ckpt: dict[str, Any]) -> Any:
        import d3rlpy

        if ckpt.get("algo") is None:
            raise DatasetError(f"checkpoint at step {ckpt['step']} of {self.dir} kept no algorithm file")
        return d3rlpy.load_learnable(str(self.dir / ckpt["algo"]), device="cpu")

    def stream(self, upto: int) -> dict[str, np.ndarray]:
        """Every env step of training up to step ``upto`` (a checkpoint step), from the chunk files."""
        steps = [c["step"] for c in self.checkpoints if c["step"] <= upto]
        parts = []
        for s in steps:
            with np.load(self.dir / "chunks" / f"step_{s:09d}.npz") as z:
                parts.append({k: z[k] for k in STREAM_KEYS})
        if not parts:
            raise DatasetError(f"{self.dir} has no training chunks up to step {upto}")
        return {k: np.concatenate([p[k] for p in parts]) for k in STREAM_KEYS}

    def _buffer(self, env: gym.Env) -> Any:
        """d3rlpy's FIFO replay buffer holding the stream so far, episode by episode, as fit_online left it."""
        from d3rlpy.dataset import Episode, create_fifo_replay_buffer

        buffer = create_fifo_replay_buffer(self.cfg.buffer_size, env=env)
        if not self.step:
            return buffer
        s = self.stream(self.step)
        ends = np.flatnonzero(s["terminals"] | s["timeouts"]) + 1
        for a, b in zip(np.r_[0, ends[:-1]], ends, strict=True):
            buffer.append_episode(
                Episode(
                    observations=s["observations"][a:b],
                    actions=s["actions"][a:b],
                    rewards=s["rewards"][a:b, None].astype(np.float32),
                    terminated=bool(s["terminals"][b - 1]),
                )
            )
        return buffer

    def train(
        self,
        max_steps: int,
        target: float | None = None,
        show_progress: bool = False,
        log: Callable[[str], None] = print,
    ) -> int:
        """Train until a checkpoint's stochastic return reaches ``target`` (None: never) or ``max_steps``
        (rounded up to whole chunks); returns the steps trained now (0: nothing left to do). One trainer per
        work dir: a second one is refused while the first runs."""
        import torch

        with train_lock(self.dir):
            self._load_progress()  # another process may have trained since this object was made
            threads = int(self.progress.get("torch_threads") or torch.get_num_threads())
            if threads != torch.get_num_threads():
                log(
                    f"SAC trains with this work dir's {threads} torch thread(s), not this process's "
                    f"{torch.get_num_threads()}, so the resumed run stays the same run"
                )
            self._threads = threads
            with _torch_threads(threads):
                return self._train(max_steps, target, show_progress, log)

    def _train(
        self, max_steps: int, target: float | None, show_progress: bool, log: Callable[[str], None]
    ) -> int:
        n = self.cfg.checkpoint_every

        def finished() -> bool:
            return self.step >= max_steps or (target is not None and self.first_reaching(target) is not None)

        if finished():
            return 0
        import d3rlpy
        from d3rlpy.logging import NoopAdapterFactory

        env = StepRecorder(gym.make(self.spec.env_id, max_episode_steps=self.spec.horizon))
        last = self.checkpoints[-1] if self.checkpoints else None
        algo = self.load_algo(last) if last else self.cfg.to_d3rlpy().create(device="cpu")
        with _quiet_d3rlpy():
            buffer = self._buffer(env)
        start = self.step
        bar = None
        if show_progress:
            from tqdm import tqdm

            total = -(-max_steps // n) * n
            bar = tqdm(total=total, initial=start, desc="SAC", unit="step", unit_scale=True, mininterval=2.0)
        while not finished():
            t0 = time.perf_counter()
            step = self.step
            d3rlpy.seed(derive_seed(self.cfg.seed, step))
            env.reseed(derive_seed(self.cfg.seed, step, 1))
            with _quiet_d3rlpy():
                algo.fit_online(
                    env,
                    buffer,
                    n_steps=n,
                    n_steps_per_epoch=n,
                    update_start_step=max(0, self.cfg.update_start - step),
                    random_steps=max(0, self.cfg.random_steps - step),
                    logger_adapter=NoopAdapterFactory(),
                    show_progress=False,
                    callback=(lambda *_: bar.update(1)) if bar is not None else None,
                )
            rows = env.take()
            sac_s = time.perf_counter() - t0
            eval_seed = derive_seed(self.cfg.seed, step + n, 2)
            ret = evaluate(algo, self.spec, self.cfg.eval_episodes, eval_seed, stochastic=True)
            det = evaluate(algo, self.spec, self.cfg.eval_episodes, eval_seed, stochastic=False)
            self._save(algo, rows, step + n, float(ret.mean()), float(det.mean()), sac_s)
            ends = np.flatnonzero(rows["terminals"] | rows["timeouts"]) + 1
            train_ret = [float(r.sum()) for r in np.split(rows["rewards"], ends[:-1])]
            log(
                f"SAC step {step + n:,}: eval return {ret.mean():.1f} sampled / {det.mean():.1f} mean action "
                f"({self.cfg.eval_episodes} episodes); training episodes {len(train_ret)}, mean return "
                f"{np.mean(train_ret):.1f}; {n:,} steps in {sac_s:.0f} s ({sac_s / n * 1e3:.1f} ms/step)"
            )
        if bar is not None:
            bar.close()
        env.close()
        return self.step - start

    def _save(
        self, algo: Any, rows: dict[str, np.ndarray], step: int, ret: float, det: float, sec: float
    ) -> None:
        with atomic_file(self.dir / "chunks" / f"step_{step:09d}.npz") as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **rows)
        algo_rel = f"algo/step_{step:09d}.d3"
        with atomic_file(self.dir / algo_rel) as tmp:
            algo.save(str(tmp))
        cks = self.checkpoints
        prev = cks[-1] if cks else None
        drop = None
        if prev is not None and prev["algo"] is not None and not prev["best"]:
            drop, prev["algo"] = prev["algo"], None  # the previous latest: no longer needed to resume
        cks.append(
            {
                "step": step,
                "return": ret,  # mean stochastic (sample_action) return: the data policy's
                "return_mean_action": det,
                "best": not cks or ret > max(c["return"] for c in cks),
                "algo": algo_rel,
                "seconds": sec,
            }
        )
        self.progress = {
            "step": step,
            "sac_seconds": self.progress["sac_seconds"] + sec,
            "torch_threads": self._threads,  # the count train() set: every resume uses it
            "checkpoints": cks,
        }
        _write_json(self.dir / "progress.json", self.progress)
        if drop is not None:
            (self.dir / drop).unlink(missing_ok=True)
