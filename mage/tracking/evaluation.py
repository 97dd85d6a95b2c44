"""An evaluation as MLflow sees it: resolve the checkpoint (dir or run), run the rollout jobs, log the
episode table and the ``eval/*`` metrics to a run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mage.checkpoint import read_config, read_episode_returns, read_time_limit
from mage.config import ExperimentConfig
from mage.eval.jobs import EPISODE_COLUMNS, RolloutJob, in_process
from mage.eval.protocol import PURE, EvalProtocol
from mage.eval.rtg import resolve_target_return
from mage.eval.scores import summarize
from mage.tracking import query
from mage.tracking.mlflow_logger import RunLogger, standard_tags

# runner(jobs, num_envs) -> one row per episode; the default runs in this process,
# mage.distributed.rollouts.actor_runner(n) on Ray actors.
Runner = Callable[[Sequence[RolloutJob], int], pd.DataFrame]


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


def checkpoint_from_run(run_id: str, *, tracking_uri: str | None = None, artifact: str = "checkpoint") -> str:
    """Local copy of a run's ``checkpoint/`` (or ``tokenizer/``) artifact; a clear error when it has none."""
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
    protocol: EvalProtocol = PURE,
    runner: Runner | None = None,
    log: bool = True,
    child_run: bool = False,
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    progress: bool = True,
    allow_other_data: bool = False,
) -> EvalResult:
    """Evaluate one checkpoint (or a scripted method) and log the results to MLflow.

    checkpoint / run_id: the checkpoint dir, or an MLflow run whose ``checkpoint/`` artifact is used.
    task: defaults to the checkpoint's dataset; another task must share that dataset (the Multi2D variant of
        a maze) unless ``allow_other_data`` (a transfer evaluation on purpose, tagged ``mage.transfer``).
        Target: ``target_return`` if given, else ``rtg_percentile`` of
        the checkpoint's dataset episode returns (the paper's R̂_0 for percentile 100 = dataset max).
    protocol: goal given or not, own action or state tracking, hold (recorded as tags and columns).
    runner: where the rollouts run (default: in this process; ``actor_runner(n)`` for Ray actors).
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
        trained = trained_on(method, ckpt) if ckpt is not None else None
        if task is None:
            if ckpt is None:
                raise ValueError("task is required when no checkpoint is given (e.g. task='maze2d-umaze-v1')")
            task = trained if method == "mage" else read_config(ckpt).data.dataset  # the config, read once
        elif not allow_other_data:
            check_task_shares_data(task, trained, str(ckpt))
        transfer = not shares_data(task, trained)
        returns = read_episode_returns(ckpt) if ckpt is not None else None
        target = resolve_target_return(returns, target_return=target_return, rtg_percentile=rtg_percentile)
        model_tags = _model_tags(method, ckpt)  # before a downloaded checkpoint is removed below
        job = RolloutJob(method, ckpt, task, seed, target, episodes, dict(agent_kwargs or {}), protocol)
        df = (runner or in_process(progress=progress))([job], num_envs)
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
            tags={
                "mage.method": method,
                "mage.dataset": task,
                **protocol.tags(),
                **model_tags,
                **({"mage.transfer": "true"} if transfer else {}),  # tables give it a row of its own
                **_agent_tags(agent_kwargs),
                **(tags or {}),
            },
            tracking_uri=tracking_uri,
        )
    return EvalResult(metrics, df, logged_to, f"runs:/{run_id}/checkpoint" if downloaded else ckpt)


def trained_on(method: str, ckpt: str) -> str | None:
    """The dataset a checkpoint was trained on: a MAGE checkpoint's config, a baseline's meta.json (d3rlpy and
    the diffusion planners); None where it names none."""
    if method == "mage":
        return read_config(ckpt).data.dataset
    from mage.baselines.checkpoint import read_meta

    try:
        return read_meta(ckpt).dataset
    except (FileNotFoundError, ValueError):  # not a baseline directory: loading the agent says so
        return None


def shares_data(task: str, trained_on: str | None) -> bool:
    """Whether ``task`` is evaluated on the dataset ``trained_on`` names (a maze and its Multi2D variant do);
    True where the training data has no registered name (nothing to compare)."""
    from mage.envs.registry import TASKS, get_spec

    if trained_on is None or trained_on.removeprefix("mage/") not in TASKS:
        return True
    return get_spec(task).dataset == get_spec(trained_on).dataset


def check_task_shares_data(task: str, trained_on: str | None, ckpt: str) -> None:
    """A checkpoint is evaluated on a task of its own data (``maze2d-umaze-v1`` and ``-multi-v1`` share one
    file); another maze, another family or the dense rewards is a transfer evaluation, so it must be asked for."""
    from mage.envs.registry import TASKS, get_spec

    if shares_data(task, trained_on):
        return
    assert trained_on is not None  # shares_data is True for None
    data = get_spec(trained_on).dataset
    own = [name for name, spec in TASKS.items() if spec.dataset == data]
    raise ValueError(
        f"task {task!r} is not a task of the data checkpoint {ckpt} was trained on ({trained_on}); evaluate it "
        f"on {' or '.join(own)}, or pass --allow-other-data (allow_other_data=True) to evaluate it elsewhere "
        "on purpose"
    )


def _agent_tags(agent_kwargs: Mapping[str, Any] | None) -> dict[str, str]:
    """``mage.agent_settings``: the agent settings an evaluation overrode (``mage evaluate --set eval.*``:
    sampling, plan scales, lookahead, R̂ update), as sorted JSON; none when it used the checkpoint's."""
    if not agent_kwargs:
        return {}
    return {"mage.agent_settings": json.dumps(dict(agent_kwargs), sort_keys=True, default=str)}


def _model_tags(method: str, ckpt: str | None) -> dict[str, str]:
    """What sets a MAGE checkpoint apart beyond its method: ``mage.variant=goal`` for a goal-conditioned model
    (tables keep it apart from single-task MAGE), ``mage.trained_on`` (its dataset, e.g. a Multi2D model
    evaluated on the single-task env), ``mage.K`` (so a sweep's extra evaluations group by K too) and
    ``mage.budget`` (its training steps and batch: the main table never averages two budgets as seeds)."""
    if method != "mage" or ckpt is None:
        return {}
    cfg = read_config(ckpt)
    return {
        "mage.trained_on": cfg.data.dataset,
        "mage.K": str(cfg.tokenizer.num_scales),
        "mage.budget": training_budget(cfg, read_time_limit(ckpt)),
        **({"mage.variant": "goal"} if cfg.transformer.use_goal else {}),
    }


def training_budget(cfg: ExperimentConfig, cut: dict[str, Any] | None = None) -> str:
    """``"400+800 steps, batch 128"``: optimiser steps of stage 1 + stage 2 and the global batch;
    ``"400+300 of 800 steps (time limit), batch 128"`` when a time limit ended stage 2 early (``cut``)."""
    t = cfg.train
    planned = t.policy_epochs * t.steps_per_epoch
    stage2 = f"{planned}" if cut is None else f"{cut['steps']} of {planned}"
    limit = "" if cut is None else " (time limit)"
    return f"{t.tokenizer_epochs * t.steps_per_epoch}+{stage2} steps{limit}, batch {t.batch_size}"


def evaluate_with_config(
    checkpoint: str | Path, cfg: ExperimentConfig, *, runner: Runner, **log_kwargs: Any
) -> EvalResult:
    """The evaluation a training run declares in ``cfg.eval`` (episodes, seeds, R̂_0, protocol) on its own
    dataset; ``log_kwargs`` go to ``evaluate_checkpoint`` (run_id, log, tracking_uri, ...)."""
    ec = cfg.eval
    return evaluate_checkpoint(
        checkpoint,
        task=cfg.data.dataset,
        episodes=ec.episodes,
        seed=ec.seed,
        num_envs=ec.num_envs,
        target_return=ec.target_return,
        rtg_percentile=ec.rtg_percentile,
        protocol=EvalProtocol.from_config(ec),
        runner=runner,
        **log_kwargs,
    )


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
    table = episodes[[c for c in EPISODE_COLUMNS if c in episodes.columns]]
    if run_id is not None and not child_run:
        logger = RunLogger.attach(run_id, tracking_uri=tracking_uri)
        logger.set_tags(dict(tags or {}))  # the protocol switches, on the training run itself
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
