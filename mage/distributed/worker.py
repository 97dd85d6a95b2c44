"""What every Ray Train worker of a MAGE fit runs: stage 1, stage 2, or both in one ``fit()``.

The stage functions are the unchanged single-process ones (``mage.tokenizer.fit``, ``mage.policy.fit`` over
``mage.loop``); this module only supplies ``TrainHooks``: ``ray.train.torch.prepare_model`` (DDP, gloo on CPU /
nccl on GPU), ``prepare_data_loader`` (distributed sampler), and a ``report`` that every rank calls once per
epoch (a barrier): rank 0 writes the checkpoint and logs the epoch's metrics to MLflow, other ranks report
metrics only. A worker restarted by ``FailureConfig`` resumes from ``ray.train.get_checkpoint()`` (its
``train_state.pt``, which names the stage it was written in).

``both`` runs stage 1 then stage 2 in the same workers: one Ray Train start-up per trial instead of two (about
20 s each on 2 CPU cores, ``bench/sweep_overhead.py``), and the data is prepared once. Rank 0 logs the stage-1
tokenizer as the run's ``tokenizer/`` artifact as soon as stage 1 ends, so other trials can reuse it
(``tokenizer_from``) exactly as when stage 1 ran as its own fit.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mage.checkpoint import TRAIN_STATE_FILE
from mage.config import ExperimentConfig

JOBS = ("tokenizer", "policy", "both")
NONFINITE = "mage.nonfinite_loss"  # key of rank 0's return value: the NonFiniteLossError message
TOKENIZER_METRICS = "mage.tokenizer_metrics"  # key of rank 0's return value (both): stage 1's last epoch
STAGE_SECONDS = "mage.stage_seconds"  # key of rank 0's return value: {"tokenizer": s, "policy": s} in-worker


@dataclass(frozen=True)
class StageJob:
    """What every Ray Train worker of one fit runs (``train_loop_config={"job": StageJob}``)."""

    stage: str  # tokenizer | policy | both (stage 1 then stage 2 in the same workers)
    cfg: dict[str, Any]  # ExperimentConfig.to_dict() (plain data across processes)
    run_id: str | None = None  # MLflow run that rank 0 logs the epochs into (None: no logging)
    tracking_uri: str | None = None  # the store of run_id
    # policy: {"checkpoint": ray.train.Checkpoint} | {"path": dir} | {"run_id": id, "tracking_uri": uri}
    tokenizer: Mapping[str, Any] = field(default_factory=dict)
    fail_once: Mapping[str, Any] | None = None  # test hook: {"marker": file, "epoch": n}
    progress: Any = None  # mage.distributed.progress.StepPoster: rank 0 posts its step to the driver's bar


# In the stage-2 checkpoints of ``both``: stage 1's last epoch metrics, for a worker restarted in stage 2.
STAGE1_METRICS_FILE = "stage1_metrics.json"


def _load_train_state(ckpt: Any) -> tuple[dict[str, Any] | None, dict[str, float]]:
    """(``train_state.pt``, stage 1's last epoch metrics) of the checkpoint a restarted worker resumes from."""
    import torch

    if ckpt is None:
        return None, {}
    with ckpt.as_directory() as d:
        p, m = Path(d) / TRAIN_STATE_FILE, Path(d) / STAGE1_METRICS_FILE
        state = torch.load(p, map_location="cpu", weights_only=False) if p.is_file() else None
        return state, json.loads(m.read_text()) if m.is_file() else {}


def _resolve_tokenizer_dir(spec: Mapping[str, Any], dst: str) -> str:
    """Local dir of the stage-1 checkpoint: a Ray checkpoint, a path, or an MLflow run's tokenizer/."""
    if spec.get("checkpoint") is not None:
        return spec["checkpoint"].to_directory(dst)
    if spec.get("path"):
        return str(spec["path"])
    from mage.tracking.query import download_artifacts

    return str(download_artifacts(spec["run_id"], "tokenizer", dst, tracking_uri=spec.get("tracking_uri")))


def _publish_tokenizer(logger: Any, cfg: ExperimentConfig, data: Any, tok: Any) -> None:
    """Rank 0 of ``both``: the stage-1 tokenizer as the run's ``tokenizer/`` artifact, then the ready tag."""
    from mage.checkpoint import stage_saver
    from mage.tracking.mlflow_logger import log_checkpoint

    with tempfile.TemporaryDirectory(prefix="mage-tok-") as d:
        stage_saver(cfg, data.meta, data.normalizers, data.episode_returns, tok, None)(Path(d), {})
        log_checkpoint(logger, Path(d), "tokenizer")
    logger.set_tags({"mage.tokenizer_ready": "true"})  # other trials may reuse it (sweep_runs)


def probe(cfg: ExperimentConfig, ckpt_dir: Path) -> dict[str, float]:
    """``probe/*``: ``eval.probe_episodes`` rollouts of a checkpoint under ``cfg.eval``'s protocol and R̂_0, on env
    seeds after the final evaluation's (model selection never sees its episodes). Every RNG is restored after
    it (rollouts reseed), so a probe does not change what training does next."""
    from mage.eval.protocol import EvalProtocol
    from mage.rng import rng_state, set_rng_state
    from mage.tracking.evaluation import evaluate_checkpoint

    ec = cfg.eval
    before = rng_state()
    try:
        res = evaluate_checkpoint(
            ckpt_dir,
            task=cfg.data.dataset,
            episodes=ec.probe_episodes,
            seed=ec.seed + ec.episodes,
            num_envs=ec.probe_episodes,
            target_return=ec.target_return,
            rtg_percentile=ec.rtg_percentile,
            protocol=EvalProtocol.from_config(ec),
            log=False,
            progress=False,
        )
    finally:
        set_rng_state(before)
    keep = ("norm_score", "success_rate", "return_mean")  # evaluate_checkpoint's eval/* summary, renamed
    return {f"probe/{k}": res.metrics[f"eval/{k}"] for k in keep if f"eval/{k}" in res.metrics}


TRAIN_PG = "mage/train_pg"  # in rank 0's reports: the id of the worker group's placement group


def _train_pg() -> dict[str, str]:
    """``{TRAIN_PG: id}`` of the placement group this worker runs in (the sweep driver releases it when the
    scheduler stops the trial: see ``mage.distributed.train.release_train_workers``)."""
    from ray.util import get_current_placement_group

    pg = get_current_placement_group()
    return {TRAIN_PG: pg.id.hex()} if pg is not None else {}


def _probe_due(cfg: ExperimentConfig, metrics: Mapping[str, float]) -> bool:
    every = cfg.eval.probe_every
    if not every or "pol/loss" not in metrics:
        return False
    return (int(metrics["epoch"]) - cfg.train.tokenizer_epochs) % every == 0  # stage-2 epochs are offset


def _after_stage_one(hooks: Any, steps: int) -> Any:
    """Stage 2's hooks in ``both``: the driver's one bar counts on from stage 1's ``steps`` (the loop counts
    each stage's steps from 0)."""
    if hooks.on_step is None:
        return hooks
    post = hooks.on_step
    return replace(hooks, on_step=lambda step, total: post(step + steps, total + steps))


def train_worker(config: dict[str, Any]) -> dict[str, Any]:
    """``train_loop_per_worker`` of every fit; ``config["job"]`` is the fit's :class:`StageJob`.

    Returns (rank 0's is the fit's ``return_value``) the in-worker seconds of each stage run and, for
    ``both``, stage 1's last epoch metrics. A ``NonFiniteLossError`` is deterministic (a restart from the last
    checkpoint meets the same NaN), so it is returned, not raised: Ray Train's ``FailureConfig`` retries raised
    errors only. Every rank sees the same non-finite gradient norm (after the all-reduce) and returns at the same
    step; the driver raises the error from rank 0's return value."""
    import ray.train
    import ray.train.torch
    from ray.train import Checkpoint

    from mage import loop
    from mage.data.prepare import prepare_data
    from mage.policy.checkpoint import load_checkpoint
    from mage.policy.fit import fit_policy
    from mage.rng import seed_everything
    from mage.tokenizer.fit import fit_tokenizer
    from mage.tracking.fallback import NoopLogger
    from mage.tracking.mlflow_logger import RunLogger, hardware

    job: StageJob = config["job"]
    cfg = ExperimentConfig.from_dict(job.cfg)
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    is_main = rank == 0
    logger: Any = NoopLogger()
    if is_main and job.run_id:
        logger = RunLogger.attach(job.run_id, tracking_uri=job.tracking_uri)

    resume, last_tok = _load_train_state(ray.train.get_checkpoint())
    if resume is not None and is_main:
        # Evidence for the run (and the resume test) that a restart continued instead of starting over.
        logger.set_tags({f"mage.resumed_from_epoch.{resume.get('stage', job.stage)}": resume.get("epoch", 0)})
    if is_main and resume is None:
        logger.set_tags({"mage.hardware": hardware(), "mage.world_size": ctx.get_world_size()})

    fault = job.fail_once

    def report(metrics: dict[str, float], save_fn: loop.SaveFn) -> None:
        step = int(metrics.get("epoch", 0))
        logger.log_metrics(metrics, step=step)
        if "tok/loss" in metrics:
            last_tok.clear()
            last_tok.update(metrics)
        if is_main:
            with tempfile.TemporaryDirectory(prefix="mage-ckpt-") as d:
                save_fn(Path(d))
                if last_tok and "tok/loss" not in metrics:  # stage 2 of both: a restart here still knows them
                    (Path(d) / STAGE1_METRICS_FILE).write_text(json.dumps(last_tok))
                if _probe_due(cfg, metrics):
                    metrics = {**metrics, **probe(cfg, Path(d))}
                    logger.log_metrics(
                        {k: v for k, v in metrics.items() if k.startswith("probe/")}, step=step
                    )
                ray.train.report({**metrics, **_train_pg()}, checkpoint=Checkpoint.from_directory(d))
        else:
            ray.train.report(metrics)
        if fault and is_main and step >= fault["epoch"] and os.path.exists(fault["marker"]):
            os.remove(fault["marker"])
            raise RuntimeError(f"injected failure after epoch {step} (marker {fault['marker']})")

    hooks = loop.TrainHooks(
        device=ray.train.torch.get_device(),
        wrap_model=ray.train.torch.prepare_model,
        wrap_loader=ray.train.torch.prepare_data_loader,
        report=report,
        resume_state=resume,
        is_main=is_main,
        on_step=job.progress if is_main else None,
    )
    seed_everything(cfg.train.seed + rank)
    data = prepare_data(cfg)
    seconds: dict[str, float] = {}
    out: dict[str, Any] = {STAGE_SECONDS: seconds}
    try:
        if job.stage in ("tokenizer", "both"):
            t0 = time.perf_counter()
            tokenizer = fit_tokenizer(cfg, data, hooks)
            seconds["tokenizer"] = time.perf_counter() - t0
            if job.stage == "tokenizer":
                return out
            out[TOKENIZER_METRICS] = dict(last_tok)
            # A restart inside stage 2 holds stage 2's tokenizer (trained adapters): stage 1's was published.
            if is_main and (resume is None or resume.get("stage") == "tokenizer"):
                _publish_tokenizer(logger, cfg, data, tokenizer)
            hooks = _after_stage_one(hooks, cfg.train.tokenizer_epochs * cfg.train.steps_per_epoch)
        else:
            with tempfile.TemporaryDirectory(prefix="mage-tok-") as tmp:
                tok_dir = _resolve_tokenizer_dir(job.tokenizer, tmp)
                tokenizer = load_checkpoint(tok_dir, device=hooks.device).tokenizer
        t0 = time.perf_counter()
        fit_policy(cfg, data, tokenizer, hooks)
        seconds["policy"] = time.perf_counter() - t0
    except loop.NonFiniteLossError as e:
        out[NONFINITE] = str(e)
    return out
