"""Ray Train for both MAGE stages, and ``run_experiment``: the one entry point for the CLI and the sweeps.

A fit is one ``TorchTrainer`` over ``mage.distributed.worker.train_worker``: stage 1 (tokenizer), stage 2
(transformer + inverse dynamics) from a given tokenizer, or both in the same workers (the default of
``run_experiment``: one Ray Train start-up per trial; ``MAGE_ONE_FIT=0`` runs the stages as two fits, as the
bench compares). Stage 2 takes the tokenizer from stage 1 in memory, from a checkpoint directory or from an
MLflow run's ``tokenizer/`` artifact (``tokenizer_from``), so one tokenizer can serve many transformer trials.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mage.config import ExperimentConfig
from mage.distributed.resources import Resources
from mage.distributed.worker import (
    JOBS,
    NONFINITE,
    STAGE_SECONDS,
    TOKENIZER_METRICS,
    TRAIN_PG,
    StageJob,
    train_worker,
)
from mage.tracking.context import Tracking
from mage.tracking.store import project_root

ONE_FIT_ENV = "MAGE_ONE_FIT"  # "0": stage 1 and stage 2 as two fits (two Ray Train start-ups per trial)
# Every result a MAGE trial reports to Tune carries the objective (higher is better): per stage-2 epoch
# -pol/val_loss (-pol/loss without validation batches), and in the trial's last result its eval/norm_score.
TUNE_OBJECTIVE = "tune/objective"


# ----------------------------------------------------------------------------------------------------------
# Driver side


def _resumed_fit(run_id: str, uri: str | None, resources: Resources) -> tuple[str, Resources]:
    """The Ray Train name and storage of a run to resume (its tags), the storage unless one was given."""
    from mage.tracking.mlflow_logger import ResumeError
    from mage.tracking.query import get_run

    tags = get_run(run_id, tracking_uri=uri).data.tags
    if "mage.fit_name" not in tags:
        raise ResumeError(
            f"run {run_id} has no mage.fit_name tag (it predates resumable runs): its Ray Train checkpoints "
            "cannot be found; start a new run"
        )
    return tags["mage.fit_name"], replace(
        resources, storage_path=resources.storage_path or tags["mage.fit_storage"]
    )


def default_storage_path() -> str:
    return str(project_root() / "ray_results")


def train_stage(
    stage: str,
    cfg: ExperimentConfig,
    *,
    resources: Resources | None = None,
    run_id: str | None = None,
    tracking_uri: str | None = None,
    name: str | None = None,
    tokenizer: Mapping[str, Any] | None = None,
    under_tune: bool = False,
    fail_once: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> Any:
    """Run one fit as a ``TorchTrainer`` and return its ``ray.train.Result`` (``.checkpoint`` = last epoch).

    stage: ``tokenizer``, ``policy`` (needs ``tokenizer``) or ``both`` (stage 1 then stage 2 in the same workers;
        ``.return_value[TOKENIZER_METRICS]``: stage 1's last epoch; the run gets ``tokenizer/`` when stage 1 ends).

    resources: workers, GPUs, CPU share, storage and restarts (default ``Resources()``: one worker, GPUs iff
        the cluster has them, a CPU share of what is free).
    run_id / tracking_uri: the MLflow run rank 0 logs the epochs into (None: no logging).
    tokenizer (``policy`` only): ``{"checkpoint": ray.train.Checkpoint}``, ``{"path": dir}`` or
        ``{"run_id": id, "tracking_uri": uri}``.
    under_tune: forward the objective's epochs to the enclosing Tune trial (:func:`tune_epoch_callback`): stage
        1's in a ``tokenizer`` fit, stage 2's otherwise.
    fail_once: test hook, ``{"marker": file, "epoch": n}``: rank 0 raises once after epoch n while the file
        exists (and deletes it), so ``FailureConfig`` restarts the workers from the last checkpoint.
    progress: a bar of the stage's optimiser steps (rate, ETA) on the driver's terminal.
    """
    import ray.train

    from mage.distributed.progress import stage_progress
    from mage.distributed.ray_init import (
        available,
        cluster_has_gpus,
        init_ray,
        ray_train_sigint,
        require_gpus,
    )
    from mage.distributed.trainer import LeanTorchTrainer as TorchTrainer  # Ray's, minus unused actors

    res = resources or Resources()
    if stage not in JOBS:
        raise ValueError(f"stage={stage!r} must be one of {JOBS}")
    if stage == "policy" and not tokenizer:
        raise ValueError("stage 'policy' needs tokenizer= (a stage-1 checkpoint, path or MLflow run id)")
    init_ray()
    require_gpus(res)
    gpu = cluster_has_gpus() if res.use_gpu is None else bool(res.use_gpu)
    stage1 = stage == "tokenizer"  # a tokenizer-only fit forwards its epochs; stage 1 of both does not
    callbacks = [tune_epoch_callback({"mlflow_run_id": run_id}, stage1=stage1)] if under_tune else []
    tc = cfg.train
    epochs = {"tokenizer": tc.tokenizer_epochs, "policy": tc.policy_epochs}
    total = (epochs.get(stage) or tc.tokenizer_epochs + tc.policy_epochs) * tc.steps_per_epoch
    with stage_progress("train" if stage == "both" else f"train {stage}", total, enabled=progress) as poster:
        job = StageJob(
            stage=stage,
            cfg=cfg.to_dict(),
            run_id=run_id,
            tracking_uri=tracking_uri,
            tokenizer=dict(tokenizer or {}),
            fail_once=dict(fail_once) if fail_once else None,
            progress=poster,
        )
        trainer = TorchTrainer(
            train_worker,
            train_loop_config={"job": job},
            scaling_config=ray.train.ScalingConfig(
                num_workers=res.num_workers,
                use_gpu=gpu,
                resources_per_worker=res.per_worker(available("CPU"), gpu),
            ),
            run_config=ray.train.RunConfig(
                name=name or f"mage-{stage}-{time.strftime('%Y%m%d-%H%M%S')}",
                storage_path=res.storage_path or default_storage_path(),
                checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
                failure_config=ray.train.FailureConfig(max_failures=res.max_failures),
                callbacks=callbacks,
            ),
        )
        with ray_train_sigint():
            result = trainer.fit()
    if result.error is not None:
        raise result.error
    raise_nonfinite(getattr(result, "return_value", None))
    if result.checkpoint is None:
        raise RuntimeError(f"stage {stage} finished without a checkpoint (zero epochs configured?)")
    return result


def one_fit_enabled() -> bool:
    return os.environ.get(ONE_FIT_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def epoch_objective(metrics: Mapping[str, Any]) -> float:
    """``TUNE_OBJECTIVE`` of one epoch. Stage 2: its probe's ``probe/norm_score`` on probe epochs
    (``eval.probe_every``), else -pol/val_loss (-pol/loss without validation). Every trial of a sweep shares
    ``eval.probe_every``, so a scheduler compares like with like at each epoch. Stage 1 (a tokenizer sweep):
    -tok/val_rec (-tok/rec without validation), the tokenizer sweep's own objective. NaN if none."""
    if "tok/loss" in metrics:
        rec = metrics.get("tok/val_rec", metrics.get("tok/rec"))
        return -float(rec) if rec is not None else float("nan")
    if "probe/norm_score" in metrics:
        return float(metrics["probe/norm_score"])
    loss = metrics.get("pol/val_loss", metrics.get("pol/loss"))
    return -float(loss) if loss is not None else float("nan")


def tune_epoch_callback(extra: Mapping[str, Any], stage1: bool = False) -> Any:
    """Ray Train callback: each stage-2 epoch's result (``stage1``: each stage-1 epoch's) (rank 0's) goes to the enclosing Tune trial as it is reported,
    with ``TUNE_OBJECTIVE`` and ``extra`` added, through the trial session's queue (``TuneReportCallback``), so
    a scheduler (ASHA) can stop the trial and a searcher (Optuna) sees intermediate values. Call it in a trial.
    """
    from ray.tune.integration.ray_train import TuneReportCallback

    class TuneEpochReport(TuneReportCallback):  # pickled by value (cloudpickle) to the Train controller
        def after_report(self, run_context: Any, metrics: list, checkpoint: Any) -> None:
            if ("tok/loss" in metrics[0]) != stage1:  # e.g. stage 1 of a one-fit trial: not the objective's
                return
            first = {**metrics[0], TUNE_OBJECTIVE: epoch_objective(metrics[0]), **extra}
            super().after_report(run_context, [first, *metrics[1:]], checkpoint)

    return TuneEpochReport()


def release_train_workers(result: Mapping[str, Any]) -> bool:
    """Remove the placement group of the Ray Train workers named in a stopped trial's last result; True if
    one was removed. A trial the scheduler stops dies with its Train controller, but the worker group's
    placement group belongs to the sweep's job and would hold its CPUs (GPUs) until the sweep ends: Ray
    Train's own cleaner asks the state API, which an embedded Ray without dashboard does not serve (seen: the
    second trial ASHA stopped on 2 cores left no CPU for any later trial's workers)."""
    import ray
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

    hexid = result.get(TRAIN_PG)
    if not hexid or not ray.is_initialized():
        return False
    pg = PlacementGroup(PlacementGroupID.from_hex(str(hexid)))
    if placement_group_table(pg).get("state") in (None, "REMOVED"):
        return False
    remove_placement_group(pg)
    return True


def raise_nonfinite(return_value: Any) -> None:
    """Raise the ``NonFiniteLossError`` that rank 0 returned (see :func:`train_worker`), once, unretried."""
    if isinstance(return_value, Mapping) and return_value.get(NONFINITE):
        from mage.loop import NonFiniteLossError

        raise NonFiniteLossError(
            f"{return_value[NONFINITE]} (not retried: a NaN repeats from the checkpoint)"
        )


def _local_copy(ckpt: Any) -> Path:
    """Checkpoint dir on this machine: the path itself for local storage, a temp copy for remote (s3://)."""
    import pyarrow.fs

    if isinstance(ckpt.filesystem, pyarrow.fs.LocalFileSystem) and Path(ckpt.path).is_dir():
        return Path(ckpt.path)
    return Path(ckpt.to_directory(tempfile.mkdtemp(prefix="mage-exp-")))


@dataclass
class ExperimentResult:
    run_id: str  # MLflow run holding params, per-epoch metrics, checkpoint/, tokenizer/, eval/
    checkpoint_dir: str  # local dir of the final (stage 2) checkpoint
    metrics: dict[str, float] = field(default_factory=dict)  # last epoch of each stage + eval/* + timing
    tokenizer_dir: str | None = (
        None  # local stage-1 checkpoint of two-fit runs (one fit: the run's tokenizer/)
    )


def run_experiment(
    cfg: ExperimentConfig,
    *,
    resources: Resources | None = None,
    tracking: Tracking | None = None,
    tokenizer_from: str | None = None,
    evaluate: bool = True,
    under_tune: bool = False,
    progress: bool = False,
    tokenizer_only: bool = False,
    fit_name: str | None = None,
    resume_run_id: str | None = None,
) -> ExperimentResult:
    """Train MAGE (stage 1 then stage 2 on Ray Train, in one fit unless ``MAGE_ONE_FIT=0``), evaluate it, and
    record everything in one MLflow run. ``time/tokenizer_s`` and ``time/policy_s``: each stage's wall in the
    workers for one fit (``time/train_s``: the fit's wall from the driver), each fit's wall from the driver for two.

    cfg: the full ``ExperimentConfig`` (logged flattened as params).
    resources: Ray Train workers per stage (``use_gpu=None``: GPUs iff the cluster has them; CPU share of what
        is free unless fixed), Train storage and restarts per stage, rollout actors of the evaluation
        (default ``Resources()``).
    tracking: the MLflow run: store, experiment, parent run (a sweep's), run name and extra tags on top of
        the ``mage.*`` defaults; ``mage.run_type`` is ``trial`` under a parent or under Tune, else ``train``
        (default ``Tracking()``: the default store, experiment ``mage-train``).
    tokenizer_from: skip stage 1 and reuse a tokenizer: a checkpoint dir, or an MLflow run id whose
        ``tokenizer/`` artifact is used (any run made by ``run_experiment`` has one).
    evaluate: run ``cfg.eval`` (episodes, seed, num_envs, target) after training on ``resources.num_actors``
        rollout actors (0 = in this process).
    under_tune: call from inside a Tune function trainable: every stage-2 epoch result reaches Tune while
        training goes on, with ``TUNE_OBJECTIVE`` (-pol/val_loss) and ``mlflow_run_id`` added
        (:func:`tune_epoch_callback`), so ASHA can stop a weak trial; the caller reports the final result
        (``eval/*`` and the objective = ``eval/norm_score``). Stage 1 is not forwarded (its losses are not the
        objective's, and trials reusing a tokenizer skip it: every trial's epoch n is the same stage-2 epoch),
        except in ``tokenizer_only`` trials, whose objective is -tok/val_rec.
    progress: a bar per stage (optimiser steps, rate, ETA) on this process's terminal (``mage train``).
    tokenizer_only: stop after stage 1 (a tokenizer sweep): ``checkpoint_dir`` is the tokenizer's, no evaluation.
    fit_name: the stem of the Ray Train run names (``<stem>-train``, ``-tokenizer``, ``-policy``) under
        ``resources.storage_path``. Ray Train restores a run of the same name from its last checkpoint, so the
        same stem continues a fit that was stopped (a sweep trial on ``--resume``); default: unique per run.
    resume_run_id: an interrupted ``mage train`` run (KILLED / FAILED) to continue: the same MLflow run goes on,
        and its fits (name and storage from its tags ``mage.fit_name`` / ``mage.fit_storage``) continue from
        their last checkpoints.

    Returns ``ExperimentResult(run_id, checkpoint_dir, metrics, tokenizer_dir)``. The MLflow run is
    FINISHED on success and FAILED (error in the tag ``mage.error``) if anything raises.
    """
    from mage.distributed.ray_init import available, init_ray
    from mage.tracking.mlflow_logger import RunLogger, log_checkpoint, standard_tags

    resources = resources or Resources()
    tracking = tracking or Tracking()
    if tokenizer_only and tokenizer_from:
        raise ValueError("tokenizer_only trains stage 1; it cannot reuse a tokenizer (tokenizer_from)")
    init_ray()
    t_start = time.perf_counter()
    run_type = "trial" if (tracking.parent_run_id or under_tune) else "train"
    all_tags = standard_tags(cfg, run_type=run_type)
    all_tags.update({"mage.tokenizer_from": tokenizer_from} if tokenizer_from else {})
    all_tags.update({k: str(v) for k, v in tracking.tags.items()})
    if resume_run_id:
        fit_name, resources = _resumed_fit(resume_run_id, tracking.tracking_uri, resources)
        logger = RunLogger.reopen(resume_run_id, cfg, tracking_uri=tracking.tracking_uri)
    else:
        logger = RunLogger.start_for(tracking, all_tags)
    uri = logger.tracking_uri
    metrics: dict[str, float] = {}
    with logger:
        if not resume_run_id:
            logger.log_config(cfg)
            logger.log_params({"ray.num_workers": resources.num_workers})
        common: dict[str, Any] = dict(
            resources=resources, run_id=logger.run_id, tracking_uri=uri, progress=progress
        )
        name = fit_name or f"{tracking.run_name or 'mage'}-{logger.run_id[:8]}"
        storage = resources.storage_path or default_storage_path()
        logger.set_tags({"mage.fit_name": name, "mage.fit_storage": storage})
        tok_dir: str | None = None
        if tokenizer_from:
            if Path(tokenizer_from).is_dir():
                tok_spec: dict[str, Any] = {"path": str(Path(tokenizer_from).resolve())}
            else:
                from mage.tracking.query import get_run

                get_run(tokenizer_from, tracking_uri=uri)  # clear error on a wrong id
                tok_spec = {"run_id": tokenizer_from, "tracking_uri": uri}
        elif tokenizer_only or not one_fit_enabled():
            t0 = time.perf_counter()
            tune1 = under_tune and tokenizer_only
            r1 = train_stage("tokenizer", cfg, name=f"{name}-tokenizer", under_tune=tune1, **common)
            metrics.update(r1.metrics or {})
            metrics["time/tokenizer_s"] = time.perf_counter() - t0
            tok_dir = str(_local_copy(r1.checkpoint))
            log_checkpoint(logger, Path(tok_dir), "tokenizer")
            logger.set_tags({"mage.tokenizer_ready": "true"})  # other trials may reuse it (sweep_runs)
            tok_spec = {"checkpoint": r1.checkpoint}
        if tokenizer_only:
            metrics["time/total_s"] = time.perf_counter() - t_start
            logger.log_metrics({k: v for k, v in metrics.items() if k.startswith("time/")})
            return ExperimentResult(logger.run_id, str(tok_dir), metrics, tok_dir)
        t0 = time.perf_counter()
        if tokenizer_from or not one_fit_enabled():
            r2 = train_stage(
                "policy", cfg, name=f"{name}-policy", tokenizer=tok_spec, under_tune=under_tune, **common
            )
            metrics["time/policy_s"] = time.perf_counter() - t0
        else:  # one fit, both stages: the worker logs tokenizer/ when stage 1 ends
            r2 = train_stage("both", cfg, name=f"{name}-train", under_tune=under_tune, **common)
            done = r2.return_value or {}
            metrics.update(done.get(TOKENIZER_METRICS) or {})
            metrics["time/train_s"] = time.perf_counter() - t0
            for stage, seconds in (done.get(STAGE_SECONDS) or {}).items():
                metrics[f"time/{stage}_s"] = seconds
        metrics.update(r2.metrics or {})
        ckpt_dir = _local_copy(r2.checkpoint)
        log_checkpoint(logger, ckpt_dir, "checkpoint")
        if evaluate:
            from mage.distributed.rollouts import actor_runner
            from mage.tracking.evaluation import evaluate_with_config

            t0 = time.perf_counter()
            actor_cpus = resources.actor_cpus(available("CPU"))
            runner = actor_runner(resources.num_actors, actor_cpus=actor_cpus, progress=not under_tune)
            ev = evaluate_with_config(ckpt_dir, cfg, runner=runner, run_id=logger.run_id, tracking_uri=uri)
            metrics.update(ev.metrics)
            metrics["time/eval_s"] = time.perf_counter() - t0
        metrics["time/total_s"] = time.perf_counter() - t_start
        logger.log_metrics({k: v for k, v in metrics.items() if k.startswith("time/")})
    return ExperimentResult(logger.run_id, str(ckpt_dir), metrics, tok_dir)
