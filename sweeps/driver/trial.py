"""The Tune trial: one MAGE experiment (both stages + evaluation) as a child run of the sweep's parent run.

The trainable is a plain Tune *function* trainable that calls ``run_experiment(..., under_tune=True)`` (Train
V2 in Ray 2.60 rejects ``Tuner(TorchTrainer)``, spec platform.md §3.2) and reports ``eval/norm_score`` plus the
trial's knobs with ``tune.report``. A trial that fails before or inside ``run_experiment`` still leaves a
FAILED child run with the error in ``mage.error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mage.config import ConfigError, ExperimentConfig, make_config
from mage.distributed.resources import Resources
from mage.tracking.context import Tracking
from sweeps.driver.data import ensure_dataset, smoke_data_path
from sweeps.driver.spec import METRIC


@dataclass
class TrialContext:
    """Everything a trial needs besides its config; shipped to the trial actor (keep it picklable)."""

    sweep: str  # the mage.sweep tag of every trial run
    tracking: Tracking  # store, experiment and parent run of the trial runs
    preset: str  # config preset the trial overrides apply to
    base_overrides: dict[str, Any]  # sweep-wide overrides (--smoke, --set)
    named_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ablation" name -> overrides
    adjust: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None  # Sweep.adjust
    smoke: bool = False  # smoke data files (data.path under <data dir>/smoke)
    resources: Resources = field(default_factory=Resources)  # Ray Train workers and rollout actors per trial


def trial_overrides(ctx: TrialContext, config: Mapping[str, Any]) -> dict[str, Any]:
    """Config overrides of one trial: sweep-wide, then the named config, then the trial's own keys."""
    overrides = dict(ctx.base_overrides)
    name = config.get("ablation")
    if name is not None:
        if name not in ctx.named_configs:
            raise ConfigError(f"unknown ablation {name!r}; choose from {', '.join(ctx.named_configs)}")
        overrides.update(ctx.named_configs[name])
    overrides.update({k: v for k, v in config.items() if "." in k})
    dataset = overrides.get("data.dataset")
    if ctx.smoke and dataset and "data.path" not in overrides:
        overrides["data.path"] = str(smoke_data_path(dataset))
    return overrides


def trial_fn(config: dict[str, Any], ctx: TrialContext) -> None:
    """Tune function trainable: one MAGE experiment (both stages + evaluation) as a child run."""
    from ray import tune

    from mage.tracking.mlflow_logger import standard_tags
    from mage.tracking.sweep_runs import mark_trial_failed

    tctx = tune.get_context()
    trial_id, run_name = tctx.get_trial_id(), tctx.get_trial_name()
    attempt_start = time.time()
    extra = {"mage.sweep": ctx.sweep, "mage.trial_id": trial_id}
    if config.get("ablation") is not None:
        extra["mage.ablation"] = str(config["ablation"])
    cfg: ExperimentConfig | None = None
    tracking = replace(
        ctx.tracking, run_name=run_name, tags=standard_tags(None, run_type="trial", extra=extra)
    )
    try:
        overrides = trial_overrides(ctx, config)
        if ctx.adjust is not None:  # before the config is built: it must validate as adjusted
            overrides = ctx.adjust(ctx.preset, overrides)
        cfg = make_config(ctx.preset, overrides)
        tracking = replace(tracking, tags=standard_tags(cfg, run_type="trial", extra=extra))
        if ctx.smoke or cfg.data.path is None:
            # A worker node may not share the driver's data dir: generate there too (idempotent, atomic).
            ensure_dataset(cfg.data.dataset, smoke=ctx.smoke)
        from mage.distributed.train import run_experiment

        result = run_experiment(cfg, resources=ctx.resources, tracking=tracking, under_tune=True)
    except Exception as e:
        mark_trial_failed(tracking, trial_id=trial_id, cfg=cfg, error=e, attempt_start=attempt_start)
        raise
    score = float(result.metrics.get(METRIC, float("nan")))
    # The knobs this trial set (after adjust), so Tune's own results table is readable too.
    flat = cfg.flatten()
    knobs = {
        f"cfg/{k}": flat[k] for k in overrides if k in flat and isinstance(flat[k], (int, float, str, bool))
    }
    tune.report({METRIC: score, "mlflow_run_id": result.run_id, **knobs})


def trial_name(sweep: str, trial: Any) -> str:
    """Short, stable trial names: they become MLflow run names and Tune trial dir names."""
    return f"{sweep}_{trial.trial_id}"
