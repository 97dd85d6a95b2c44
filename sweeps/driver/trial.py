"""The Tune trial: one experiment (train + evaluate) as a child run of the sweep's parent run.

The trainable is a plain Tune *function* trainable. The trial key ``method`` (default ``mage``) chooses what it
trains: MAGE through ``run_experiment(..., under_tune=True)`` (both stages on Ray Train; Train V2 in Ray 2.60
rejects ``Tuner(TorchTrainer)``, spec platform.md §3.2), a d3rlpy baseline (``bc``, ``iql``, ... of
``mage.baselines``) through ``mage.distributed.baselines.run_baseline``; both evaluate on the rollout actors.
A MAGE trial reports every stage-2 epoch to Tune while Ray Train runs (``tune/objective`` = -pol/val_loss, see
``mage.distributed.train.tune_epoch_callback``), so ASHA can stop it early; every trial's last result is its
evaluation: ``eval/norm_score`` (also the objective), the MLflow run id and the trial's knobs. A trial that
fails before or inside the run still leaves a FAILED child run with the error in ``mage.error``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mage.config import ConfigError, ExperimentConfig, make_config
from mage.distributed.resources import Resources
from mage.eval.protocol import EvalProtocol
from mage.provenance import CodeChangedError, changed_files, code_hashes, describe
from mage.tracking.context import Tracking
from sweeps.driver.cli import BASELINE_PREFIX
from sweeps.driver.data import ensure_dataset, smoke_data_path
from sweeps.driver.spec import FINAL, METRIC, OBJECTIVE, TOKENIZER_METRIC, grid_points
from sweeps.driver.state import fit_state_root

MAGE = "mage"  # the method of trials without a "method" key


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
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # Sweep.method_overrides
    baseline_overrides: dict[str, Any] = field(default_factory=dict)  # --set baseline.[METHOD.]KEY=VALUE
    baseline_steps: int | None = None  # --steps: gradient steps of a baseline trial (None: its config's)
    also: tuple[EvalProtocol, ...] = ()  # more protocols each trained model is evaluated under (--also-hold)
    reuse_tokenizers: bool = True  # a MAGE trial reuses a tokenizer this sweep already trained (same stage 1)
    tokenizers_from: str | None = None  # another sweep's parent run whose tokenizers may be reused too
    tokenizer_only: bool = False  # trials train stage 1 only (sweeps/tokenizer.py)
    tune_dir: str = ""  # the sweep's Tune dir ("": none yet, the checks before Ray)
    code: dict[str, str] = field(default_factory=code_hashes)  # the code when the driver made the context

    def fit_name(self, trial_id: str) -> str | None:
        """The Ray Train run stem of a MAGE trial: the same on ``--resume``, so its fit continues (None: unique)."""
        return f"{self.tune_dir.rstrip('/').rsplit('/', 1)[-1]}_{trial_id}" if self.tune_dir else None

    def fit_state_dir(self, trial_id: str, role: str = "fit") -> str | None:
        """Where trial ``trial_id``'s baseline fit ``role`` keeps its mid-training state (None: nowhere)."""
        root = fit_state_root(self.tune_dir)
        return f"{root}/{trial_id}/{role}" if root else None


def baseline_overrides(method: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The typed-config overrides of baseline ``method`` from the ``baseline.*`` keys: ``baseline.KEY`` for
    every baseline, ``baseline.METHOD.KEY`` for that method only (it wins)."""
    from mage.baselines.methods import METHODS

    common, own = {}, {}
    for key, v in raw.items():
        rest = key.removeprefix(BASELINE_PREFIX)
        head, _, tail = rest.partition(".")
        if head in METHODS and tail:
            if head == method:
                own[tail] = v
        else:
            common[rest] = v
    return {**common, **own}


def trial_config(
    ctx: TrialContext, config: Mapping[str, Any]
) -> tuple[str, dict[str, Any], ExperimentConfig]:
    """(method, overrides, validated ExperimentConfig) of one trial: overrides, then the sweep's ``adjust``."""
    overrides = trial_overrides(ctx, config)
    if ctx.adjust is not None:  # before the config is built: it must validate as adjusted
        overrides = ctx.adjust(ctx.preset, overrides)
    return str(config.get("method", MAGE)), overrides, make_config(ctx.preset, overrides)


def check_trials(
    ctx: TrialContext,
    methods: Sequence[str],
    datasets: Sequence[str],
    space: Mapping[str, Any] | None = None,
) -> None:
    """Fail fast, before Ray starts, on a config a trial would reject: every method x dataset x point of the
    other grid keys of the search ``space`` (e.g. K x seed) is built and checked (baselines: their typed
    config, steps, the protocol); ``ConfigError`` names the key."""
    from mage.baselines.methods import METHODS
    from mage.distributed.baselines import prepare_baseline

    unknown = [m for m in methods if m != MAGE and m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {', '.join(unknown)}; choose from {MAGE}, {', '.join(METHODS)}")
    critics = any(str(o.get("eval.critic", "none")).lower() != "none" for o in ctx.named_configs.values())
    if ctx.baseline_overrides and all(m == MAGE for m in methods) and not critics:
        raise ConfigError(f"{', '.join(ctx.baseline_overrides)}: this sweep trains no baseline")
    points = grid_points(space or {}, skip=("method", "data.dataset", "ablation"))
    for m in methods:
        for ds in datasets:
            for point in points[1:]:  # cheap: the config alone; the first point is checked in full below
                trial_config(ctx, {**point, "method": m, "data.dataset": ds})
            _, _, cfg = trial_config(ctx, {**points[0], "method": m, "data.dataset": ds})
            if m != MAGE:
                prepare_baseline(cfg, m, baseline_overrides(m, ctx.baseline_overrides), ctx.baseline_steps)
    for name in ctx.named_configs:  # every row validates, and a critic row's critic is a Q-learning method
        _, _, cfg = trial_config(ctx, {"ablation": name, "data.dataset": datasets[0]})
        critic = cfg.eval.critic
        if critic is None:
            continue
        from mage.eval.critic import NO_Q_FUNCTION

        if critic not in METHODS or METHODS[critic].algo in NO_Q_FUNCTION or METHODS[critic].goal_conditioned:
            ok = [m for m, v in METHODS.items() if v.algo not in NO_Q_FUNCTION and not v.goal_conditioned]
            raise ConfigError(
                f"eval.critic={critic!r} (row {name}) must be a Q-learning baseline: {', '.join(ok)}"
            )
        crit_cfg = replace(cfg, eval=replace(cfg.eval, critic=None, acting="own"))
        prepare_baseline(
            crit_cfg,
            critic,
            baseline_overrides(critic, ctx.baseline_overrides),
            cfg.eval.critic_steps or ctx.baseline_steps,
        )


def trial_overrides(ctx: TrialContext, config: Mapping[str, Any]) -> dict[str, Any]:
    """Config overrides of one trial: sweep-wide, then its method's, then the named config, then the trial's
    own keys."""
    overrides = dict(ctx.base_overrides)
    overrides.update(ctx.method_overrides.get(str(config.get("method", MAGE)), {}))
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
    """Tune function trainable: one experiment (MAGE or a baseline, + evaluation) as a child run."""
    import ray
    from ray import tune

    from mage.tracking.mlflow_logger import standard_tags
    from mage.tracking.sweep_runs import mark_trial_failed

    tctx = tune.get_context()
    trial_id, run_name = tctx.get_trial_id(), tctx.get_trial_name()
    attempt_start = time.time()
    method = str(config.get("method", MAGE))
    extra = {"mage.sweep": ctx.sweep, "mage.trial_id": trial_id}
    extra["mage.node_id"] = ray.get_runtime_context().get_node_id()  # the Ray node it ran on (clusters)
    if config.get("ablation") is not None:
        extra["mage.ablation"] = str(config["ablation"])
    code_at_start = code_hashes()
    sweep_code = getattr(ctx, "code", {})  # {}: a context pickled by a driver older than this field
    if sweep_code and (moved := changed_files(sweep_code, code_at_start)):  # earlier trials ran other code
        extra["mage.code_changed"] = f"{len(moved)} file(s) since the sweep started: {describe(moved)}"
    cfg: ExperimentConfig | None = None
    tracking = replace(
        ctx.tracking,
        run_name=run_name,
        tags=standard_tags(None, run_type="trial", method=method, extra=extra),
    )
    try:
        method, overrides, cfg = trial_config(ctx, config)
        if method == MAGE:
            tracking = replace(tracking, tags=standard_tags(cfg, run_type="trial", extra=extra))
        else:  # no K: the baseline's own tags come from run_baseline
            ds = {"mage.dataset": cfg.data.dataset, "mage.seed": cfg.train.seed}
            tracking = tracking.with_tags(ds)
        if ctx.smoke or cfg.data.path is None:
            # A worker node may not share the driver's data dir: generate there too (idempotent, atomic).
            ensure_dataset(cfg.data.dataset, smoke=ctx.smoke)
        result = _run(method, cfg, ctx, tracking, trial_id)
    except Exception as e:
        mixed = code_changed_under(e, code_at_start)
        mark_trial_failed(tracking, trial_id=trial_id, cfg=cfg, error=mixed or e, attempt_start=attempt_start,
                          replace_error=mixed is not None)  # fmt: skip
        if mixed is not None:
            raise mixed from e
        raise
    if ctx.tokenizer_only:  # lower reconstruction error is better; Tune maximises
        score = -float(result.metrics.get(TOKENIZER_METRIC, float("nan")))
    else:
        score = float(result.metrics.get(METRIC, float("nan")))
    # The knobs this trial set (after adjust), so Tune's own results table is readable too.
    flat = cfg.flatten()
    knobs = {
        f"cfg/{k}": flat[k] for k in overrides if k in flat and isinstance(flat[k], (int, float, str, bool))
    }
    final = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    report = {**final, OBJECTIVE: score, FINAL: True, "mlflow_run_id": result.run_id, "method": method}
    if not ctx.tokenizer_only:
        report[METRIC] = score
    tune.report({**report, **knobs})


def code_changed_under(error: BaseException, code_at_start: dict[str, str]) -> CodeChangedError | None:
    """The trial's error restated when the code changed while the trial ran (None when it did not): the
    trial imported some modules before the edit and some after, so its error may be the mix, not a bug."""
    moved = changed_files(code_at_start, code_hashes())
    if not moved:
        return None
    return CodeChangedError(
        f"the code changed while this trial ran ({describe(moved)}), and the trial imports parts of it only "
        f"when it first needs them, so it ran a mix of two versions; it failed with {type(error).__name__}: "
        f"{error}. Re-run the sweep with --resume (same --name and --storage) to repeat this trial on the code "
        "as it is now (finished trials are kept), and run sweeps from a copy you do not edit while you keep "
        "coding (git worktree add ../mage-sweeps; MAGE_HOME=<this checkout> keeps its data and MLflow store)"
    )


def _run(method: str, cfg: ExperimentConfig, ctx: TrialContext, tracking: Tracking, trial_id: str) -> Any:
    """Train and evaluate (under ``cfg.eval``, then ``ctx.also``) in the child run ``tracking`` says."""
    from mage.distributed.baselines import run_baseline

    if method != MAGE:
        overrides = baseline_overrides(method, ctx.baseline_overrides)
        return run_baseline(
            cfg, method, overrides=overrides, steps=ctx.baseline_steps, resources=ctx.resources,
            tracking=tracking, also=ctx.also, under_tune=True, state_dir=ctx.fit_state_dir(trial_id),
        )  # fmt: skip
    from mage.distributed.train import run_experiment
    from mage.tracking.sweep_runs import TOKENIZER_KEY_TAG, find_tokenizer, tokenizer_key

    key = tokenizer_key(cfg.flatten())
    tracking = tracking.with_tags({TOKENIZER_KEY_TAG: key})
    if ctx.tokenizer_only:
        return run_experiment(
            cfg, resources=ctx.resources, tracking=tracking, tokenizer_only=True, under_tune=True,
            fit_name=ctx.fit_name(trial_id),
        )  # fmt: skip
    tok_from = None
    if ctx.reuse_tokenizers:  # this sweep's first, then the named tokenizer sweep's
        for parent in (tracking.parent_run_id, ctx.tokenizers_from):
            if parent and tok_from is None:  # not its own earlier attempt's: that fit continues (fit_name)
                tok_from = find_tokenizer(key, parent, tracking_uri=tracking.tracking_uri, not_trial=trial_id)
    if cfg.eval.critic is not None:
        return _run_with_critic(cfg, ctx, tracking, tok_from, trial_id)
    result = run_experiment(
        cfg, resources=ctx.resources, tracking=tracking, tokenizer_from=tok_from, under_tune=True,
        fit_name=ctx.fit_name(trial_id),
    )  # fmt: skip
    if ctx.also:
        _evaluate_also(cfg, ctx, tracking, result, _actor_runner(ctx))
    return result


def _actor_runner(ctx: TrialContext) -> Any:
    from mage.distributed.ray_init import available
    from mage.distributed.rollouts import actor_runner

    return actor_runner(
        ctx.resources.num_actors, actor_cpus=ctx.resources.actor_cpus(available("CPU")), progress=False
    )


def _evaluate_also(
    cfg: ExperimentConfig, ctx: TrialContext, tracking: Tracking, result: Any, runner: Any
) -> None:
    """The trained MAGE once more per ``ctx.also`` protocol (``--also-hold``), each a child eval run."""
    from mage.distributed.baselines import child_tags, evaluate_also

    evaluate_also(
        result.checkpoint_dir, cfg, MAGE, ctx.also, runner=runner, run_id=result.run_id,
        tracking_uri=tracking.tracking_uri, tags={"mage.seed": cfg.train.seed, **child_tags(tracking.tags)},
    )  # fmt: skip


def _run_with_critic(
    cfg: ExperimentConfig, ctx: TrialContext, tracking: Tracking, tok_from: str | None, trial_id: str
) -> Any:
    """The "A + CQL" row (``eval.critic``): train the critic baseline on the trial's data (a sibling child run,
    tag ``mage.role=critic``, evaluated as that baseline too), train MAGE, put the critic in the checkpoint
    (``critic/``, also logged under the run's ``checkpoint/critic``) and evaluate MAGE with critic selection."""
    import shutil
    from pathlib import Path

    from mage.distributed.baselines import run_baseline
    from mage.distributed.train import run_experiment
    from mage.eval.critic import CRITIC_DIR
    from mage.tracking.evaluation import evaluate_with_config
    from mage.tracking.mlflow_logger import RunLogger, log_checkpoint

    method = str(cfg.eval.critic)
    own = {k: v for k, v in tracking.tags.items() if k != "mage.ablation"}  # not a row of the table
    crit_tracking = replace(
        tracking, run_name=f"{tracking.run_name}-critic", tags={**own, "mage.role": "critic"}
    )
    crit_cfg = replace(cfg, eval=replace(cfg.eval, critic=None, acting="own"))
    critic = run_baseline(
        crit_cfg, method, overrides=baseline_overrides(method, ctx.baseline_overrides),
        steps=cfg.eval.critic_steps or ctx.baseline_steps, resources=ctx.resources, tracking=crit_tracking,
        under_tune=True, state_dir=ctx.fit_state_dir(trial_id, "critic"),
    )  # fmt: skip
    tracking = tracking.with_tags({"mage.critic_run_id": critic.run_id})
    result = run_experiment(
        cfg,
        resources=ctx.resources,
        tracking=tracking,
        tokenizer_from=tok_from,
        evaluate=False,
        under_tune=True,
        fit_name=ctx.fit_name(trial_id),
    )
    shutil.copytree(critic.checkpoint_dir, Path(result.checkpoint_dir) / CRITIC_DIR)
    log_checkpoint(RunLogger.attach(result.run_id, tracking_uri=tracking.tracking_uri), Path(critic.checkpoint_dir),
                   f"checkpoint/{CRITIC_DIR}")  # fmt: skip
    runner = _actor_runner(ctx)
    ev = evaluate_with_config(
        result.checkpoint_dir, cfg, runner=runner, method=MAGE, run_id=result.run_id,
        tracking_uri=tracking.tracking_uri,
    )  # fmt: skip
    result.metrics.update(ev.metrics)
    if ctx.also:  # with critic selection too: the checkpoint holds the critic and cfg.eval.critic stays
        _evaluate_also(cfg, ctx, tracking, result, runner)
    return result


def trial_name(sweep: str, trial: Any) -> str:
    """Short, stable trial names: they become MLflow run names and Tune trial dir names."""
    return f"{sweep}_{trial.trial_id}"


def mark_trial_stopped(tracking_uri: str | None, result: Mapping[str, Any], scheduler: str) -> None:
    """The child run of a trial the scheduler stopped early (its last result has no final ``METRIC``): KILLED
    with ``mage.stopped_early`` (the scheduler and the last epoch) and ``mage.error`` saying so. Never raises."""
    from mage.tracking.mlflow_logger import RunLogger

    run_id, it = result.get("mlflow_run_id"), result.get("training_iteration")
    if not run_id:
        return
    try:
        run = RunLogger.attach(str(run_id), tracking_uri=tracking_uri)
        run.set_tags(
            {
                "mage.stopped_early": f"{scheduler} after {it} stage-2 epoch(s)",
                "mage.error": f"stopped early by {scheduler} after {it} reports ({OBJECTIVE}="
                f"{result.get(OBJECTIVE)}): weaker than the trials that reached that rung; not evaluated",
            }
        )
        run.end("KILLED")
    except Exception as e:
        print(f"[sweep] could not mark the stopped trial run {run_id} in MLflow: {e}", file=sys.stderr)
