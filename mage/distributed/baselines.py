"""``run_baseline``: one baseline trained in a Ray worker, evaluated on the rollout actors, one MLflow run.

The counterpart of ``mage.distributed.train.run_experiment`` for the methods of ``mage.baselines`` (the sweeps
call either). Training is one Ray task (a GPU when the cluster has GPUs, else a CPU share of what is free)
that runs ``mage.baselines.train.train_baseline`` (d3rlpy, or a diffusion planner of
``mage.baselines.diffusion``) on the episodes of ``cfg.data`` with ``log_fn`` bound to the run's ``RunLogger``
(one MLflow step per epoch), logs the saved directory as the run's ``checkpoint/``
artifact and hands its files back, so the driver needs no storage shared with the worker. The evaluation is
the one MAGE runs get (``mage.tracking.evaluation.evaluate_with_config``: ``cfg.eval``'s episodes, env seeds,
R̂_0 and protocol) with the baseline's method; ``also`` evaluates the same model under more protocols, each as
a child run of the training run (``evaluate_also``, shared with MAGE trials).

Run tags: ``mage.method`` (the baseline), ``mage.dataset``, ``mage.seed``, the protocol tags of its evaluation;
params: ``cfg``'s ``data.*`` / ``eval.*``, the baseline's typed config as ``baseline.*``, ``baseline.steps``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mage.config import ConfigError, ExperimentConfig
from mage.distributed.resources import Resources
from mage.distributed.train import ExperimentResult
from mage.eval.protocol import EvalProtocol
from mage.tracking.context import Tracking


def baseline_eval_config(cfg: ExperimentConfig, method: str) -> ExperimentConfig:
    """``cfg`` as a baseline is evaluated: a ``-goal`` method always gets the goal (it cannot act without it);
    ``acting = track`` is refused for a method without a state plan (d3rlpy policies), allowed for the
    diffusion planners."""
    from mage.baselines.methods import get_method

    m = get_method(method)
    if cfg.eval.acting == "track" and not m.plans_states:
        raise ConfigError(
            f"eval.acting=track does not apply to baseline {method!r}: it produces no state plan "
            "(use eval.acting=own; hold applies to every method)"
        )
    if m.goal_conditioned and cfg.eval.goal != "given":
        return replace(cfg, eval=replace(cfg.eval, goal="given"))
    return cfg


def prepare_baseline(
    cfg: ExperimentConfig, method: str, overrides: Mapping[str, Any] | None, steps: int | None
) -> tuple[ExperimentConfig, Any, int]:
    """Everything a baseline run checks before any work: ``(evaluation config, the baseline's typed config,
    gradient steps)``; a ``ConfigError`` names the bad key (unknown fields, bad values, steps that are not
    whole epochs of a d3rlpy method, a protocol that does not apply)."""
    from mage.baselines.configs import config_for
    from mage.baselines.methods import get_method

    cfg = baseline_eval_config(cfg, method)
    try:
        bcfg = config_for(method, cfg.data.dataset, dict(overrides or {}))
    except ConfigError as e:
        raise ConfigError(f"baseline {method!r} (--set baseline.KEY=VALUE): {e}") from None
    n = int(steps if steps is not None else bcfg.steps)
    per_epoch = min(bcfg.steps_per_epoch, n) if get_method(method).kind == "d3rlpy" else 1  # diffusion: any
    if n < 1:
        raise ConfigError(f"steps={n} must be >= 1 (gradient steps of the baseline)")
    if n % per_epoch:
        raise ConfigError(
            f"steps={n} must be a positive multiple of baseline.steps_per_epoch={per_epoch} "
            "(d3rlpy runs whole epochs)"
        )
    return cfg, bcfg, n


def _fit_remote(
    method: str,
    overrides: dict[str, Any],
    data: dict[str, Any],
    steps: int | None,
    seed: int,
    device: str,
    run_id: str,
    tracking_uri: str,
    state_dir: str | None,
) -> dict[str, bytes]:
    """The Ray task: train, log epochs and the ``checkpoint/`` artifact to ``run_id``, return the files."""
    from mage.baselines.resume import saved_step
    from mage.baselines.train import train_baseline
    from mage.config import DataConfig
    from mage.data.prepare import load_episodes
    from mage.eval.jobs import pack_dir
    from mage.tracking.mlflow_logger import RunLogger, hardware, log_checkpoint

    logger = RunLogger.attach(run_id, tracking_uri=tracking_uri)
    logger.set_tags({"mage.hardware": hardware()})
    step = saved_step(state_dir)
    if step is not None:  # evidence in the run that this fit continued an interrupted one
        logger.set_tags({"mage.resumed_from_step": step})
    eps, task = load_episodes(DataConfig.from_dict(data, where="data."))
    with tempfile.TemporaryDirectory(prefix="mage-baseline-") as tmp:
        out = Path(tmp) / "checkpoint"
        train_baseline(
            method, overrides, eps, out_dir=out, steps=steps, seed=seed, device=device,
            log_fn=logger.log_metrics, dataset=task, state_dir=state_dir,
        )  # fmt: skip
        log_checkpoint(logger, out, "checkpoint")
        return pack_dir(str(out))


def child_tags(tags: Mapping[str, Any]) -> dict[str, Any]:
    """The tags of a trial run that its extra evaluations inherit (the sweep; not its type or trial id)."""
    return {k: v for k, v in tags.items() if k in ("mage.sweep", "mage.ablation")}


def evaluate_also(
    ckpt_dir: str | Path,
    cfg: ExperimentConfig,
    method: str,
    protocols: Sequence[EvalProtocol],
    *,
    runner: Any,
    run_id: str,
    tracking_uri: str | None,
    tags: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """The trained model of ``run_id`` evaluated once more per protocol (same episodes, env seeds and R̂_0 as
    its own evaluation), each logged as a child eval run of ``run_id`` with the protocol's tags and ``tags``.
    Returns ``{protocol label: eval/* metrics}``."""
    from mage.tracking.evaluation import evaluate_with_config

    out = {}
    for p in protocols:
        pc = replace(cfg, eval=replace(cfg.eval, goal=p.goal, acting=p.acting, hold=p.hold))
        ev = evaluate_with_config(
            ckpt_dir, pc, runner=runner, method=method, run_id=run_id, child_run=True,
            run_name=f"{method}-{p.label.replace(' ', '')}", tags=dict(tags or {}), tracking_uri=tracking_uri,
        )  # fmt: skip
        out[p.label] = ev.metrics
    return out


def run_baseline(
    cfg: ExperimentConfig,
    method: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    steps: int | None = None,
    resources: Resources | None = None,
    tracking: Tracking | None = None,
    also: Sequence[EvalProtocol] = (),
    under_tune: bool = False,
    state_dir: str | None = None,
) -> ExperimentResult:
    """Train baseline ``method`` on ``cfg.data`` (seed ``cfg.train.seed``) in a Ray task, evaluate it as
    ``cfg.eval`` says (and under ``also``), and record everything in one MLflow run where ``tracking`` says.

    overrides: the baseline's config fields (``mage.baselines.configs``, ``mage.baselines.diffusion.configs``;
        unknown keys raise before any work).
    steps: gradient steps (default: the config's ``steps``; for d3rlpy a multiple of its ``steps_per_epoch``).
    resources: ``use_gpu`` (None: iff the cluster has GPUs), ``gpus_per_worker`` / ``cpus_per_worker`` of the
        training task, ``num_actors`` rollout actors (0: in this process).
    state_dir: where the training keeps its state after every epoch and continues from (a path the training
        task's node can reach; ``mage.baselines.resume``); the sweeps give each trial its own.
    Returns ``ExperimentResult(run_id, checkpoint_dir, metrics)``: ``eval/*``, ``time/*`` and
    ``baseline/steps``; ``checkpoint_dir`` is a local copy (a temp dir the caller may remove).
    """
    import ray

    from mage.distributed.ray_init import available, cluster_has_gpus, init_ray
    from mage.distributed.rollouts import actor_runner
    from mage.tracking.evaluation import evaluate_with_config
    from mage.tracking.mlflow_logger import RunLogger, standard_tags

    res = resources or Resources()
    tracking = tracking or Tracking()
    cfg, bcfg, n = prepare_baseline(cfg, method, overrides, steps)
    dataset = cfg.data.dataset
    init_ray()
    t_start = time.perf_counter()
    run_type = "trial" if (tracking.parent_run_id or under_tune) else "train"
    extra = {"mage.dataset": dataset, "mage.seed": cfg.train.seed}
    tags = {**tracking.tags, **standard_tags(None, run_type=run_type, method=method, extra=extra)}
    logger = RunLogger.start_for(tracking, tags)
    uri = logger.tracking_uri
    flat = cfg.flatten()
    metrics: dict[str, float] = {"baseline/steps": float(n)}
    with logger:
        logger.log_params({k: v for k, v in flat.items() if k.startswith(("data.", "eval.", "train.seed"))})
        logger.log_params({"baseline.method": method, "baseline.steps": n})
        logger.log_params({f"baseline.{k}": v for k, v in bcfg.flatten().items() if k != "steps"})
        gpu = cluster_has_gpus() if res.use_gpu is None else bool(res.use_gpu)
        need = res.per_worker(available("CPU"), gpu)
        fit = ray.remote(_fit_remote).options(
            num_cpus=need["CPU"], num_gpus=need.get("GPU", 0.0), scheduling_strategy="DEFAULT", max_retries=0
        )
        t0 = time.perf_counter()
        packed = ray.get(
            fit.remote(
                method, dict(overrides or {}), cfg.data.to_dict(), n, cfg.train.seed,
                "cuda:0" if gpu else "cpu", logger.run_id, uri, state_dir,
            )
        )  # fmt: skip
        metrics["time/train_s"] = time.perf_counter() - t0
        ckpt_dir = Path(tempfile.mkdtemp(prefix="mage-baseline-")) / "checkpoint"
        for rel, data in packed.items():
            (ckpt_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (ckpt_dir / rel).write_bytes(data)
        t0 = time.perf_counter()
        runner = actor_runner(
            res.num_actors, actor_cpus=res.actor_cpus(available("CPU")), progress=not under_tune
        )
        ev = evaluate_with_config(
            ckpt_dir, cfg, runner=runner, method=method, run_id=logger.run_id, tracking_uri=uri
        )
        metrics.update(ev.metrics)
        metrics["time/eval_s"] = time.perf_counter() - t0
        if also:
            evaluate_also(
                ckpt_dir, cfg, method, also, runner=runner, run_id=logger.run_id, tracking_uri=uri,
                tags={"mage.seed": cfg.train.seed, **child_tags(tracking.tags)},
            )  # fmt: skip
        metrics["time/total_s"] = time.perf_counter() - t_start
        logger.log_metrics({k: v for k, v in metrics.items() if k.startswith(("time/", "baseline/"))})
    return ExperimentResult(logger.run_id, str(ckpt_dir), metrics)
