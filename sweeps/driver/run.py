"""The sweep driver loop: Ray start-up, resources per trial, the Tune run (or its resume) and the results table.

- one MLflow **parent run** per sweep (``mage.tracking.sweep_runs``); its id is stored in the Tune experiment
  dir (``sweeps.driver.state``) so ``--resume`` reuses it;
- one **child run per trial** (``sweeps.driver.trial``);
- ``--resume`` restores the Tune experiment (``Tuner.restore(..., resume_errored=True)``): finished trials are
  not re-run and keep their runs; runs that were left RUNNING by the interruption are marked KILLED.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from typing import Any

from ray.tune import Callback

from mage.config import ConfigError, make_config, parse_overrides
from mage.distributed.resources import Resources, concurrent_shares
from mage.distributed.train import release_train_workers
from mage.eval.protocol import EvalProtocol
from mage.tracking.context import Tracking
from mage.tracking.reaper import reap_at_start
from mage.tracking.redact import redact_argv, redact_uri
from sweeps.driver.cli import SMOKE_BASELINE_OVERRIDES, add_baseline_args, build_parser, resolve_defaults
from sweeps.driver.data import ensure_dataset
from sweeps.driver.env import sweep_env
from sweeps.driver.spec import FINAL, OBJECTIVE, Sweep, describe_space, expected_trials, grid_values
from sweeps.driver.state import find_sweep, join_storage, settings_of, storage_exists, write_state
from sweeps.driver.trial import TrialContext, check_trials, mark_trial_stopped, trial_fn, trial_name

# ----------------------------------------------------------------------------------------------------------
# Resources


def trial_resources(args: argparse.Namespace) -> Resources:
    """Ray Train workers and rollout actors of one trial: on GPU clusters each worker gets its share of
    --gpus-per-trial and one CPU, else an automatic CPU share of what is free."""
    gpu = args.gpus_per_trial > 0
    return Resources(
        num_workers=args.num_workers,
        use_gpu=gpu,
        gpus_per_worker=args.gpus_per_trial / max(args.num_workers, 1) if gpu else 0.0,
        cpus_per_worker=1.0 if gpu else getattr(args, "cpus_per_worker", None),
        num_actors=args.num_actors,
        cpus_per_actor=None if gpu else getattr(args, "cpus_per_actor", None),
        storage_path=join_storage(args.storage, "train"),
    )


def trial_placement(args: argparse.Namespace) -> Any:
    """The trial's placement group: one bundle for the trial driver, the only process that runs in it.

    Ray Train V2 schedules its workers in a placement group of its own, and the rollout actors ask for the
    cluster's default scheduling (``mage.distributed.rollouts``), so neither runs in the trial's bundles:
    reserving CPUs for them there would hold cores nobody uses. Their CPUs are counted in the default
    ``--max-concurrent`` (:func:`auto_resources`), which bounds how many trials train at once."""
    from ray import tune

    return tune.PlacementGroupFactory([{"CPU": args.cpus_per_trial}], strategy="PACK")


def auto_resources(args: argparse.Namespace) -> None:
    """Fill --max-concurrent and --gpus-per-trial from the cluster: one trial per GPU, else as many as fit
    with the CPUs a trial holds at its peak (its driver plus its Ray Train workers or rollout actors)."""
    import ray

    from mage.distributed.ray_init import require_gpus

    res = ray.cluster_resources()
    gpus, cpus = float(res.get("GPU", 0)), float(res.get("CPU", 1))
    if args.max_concurrent is None:
        peak = args.cpus_per_trial + Resources(args.num_workers, num_actors=args.num_actors).peak_cpus()
        args.max_concurrent = max(1, int(gpus) if gpus >= 1 else int(cpus // peak))
    if args.gpus_per_trial is None:
        args.gpus_per_trial = min(1.0, gpus / args.max_concurrent) if gpus else 0.0
    if not gpus:  # fixed CPU shares per trial (concurrent_shares); fewer trials at once if not all fit
        want = args.max_concurrent
        args.max_concurrent, args.cpus_per_worker, args.cpus_per_actor = concurrent_shares(
            cpus, want, args.cpus_per_trial, args.num_workers, args.num_actors
        )
        if args.max_concurrent < want:
            print(f"[sweep] --max-concurrent {want}: {args.max_concurrent} trial(s) fit into {cpus:g} CPUs")
    elif args.gpus_per_trial > 0:  # asked for: one trial must fit, or Tune would wait forever
        require_gpus(Resources(use_gpu=True, gpus_per_worker=args.gpus_per_trial), flag="--gpus-per-trial")


# ----------------------------------------------------------------------------------------------------------
# Driver


# Test hook (--interrupt-after-trials): a module global, not callback state (restored by --resume: inert).
_INTERRUPT_AFTER: int | None = None


class InterruptAfterTrials(Callback):
    """Tune callback: send ourselves SIGINT once N trials completed, exactly like a user's Ctrl-C."""

    def __init__(self) -> None:
        self.done = 0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        if _INTERRUPT_AFTER is not None and self.done == _INTERRUPT_AFTER:
            print(f"[sweep] --interrupt-after-trials {_INTERRUPT_AFTER}: interrupting", flush=True)
            os.kill(os.getpid(), signal.SIGINT)


STOPPED_EARLY = "mage/stopped_early"  # in the last Tune result of a trial the scheduler stopped


def unfinished(grid: Any, sweep_name: str) -> list[str]:
    """Ids of the trials of a Tune run that neither finished (the final metric), errored nor were stopped early
    (after Ctrl-C, Tune marks the trials it stopped TERMINATED); dirs are ``<sweep>_<trial id>`` (``trial_name``)."""
    done = (r.error is not None or FINAL in (m := r.metrics or {}) or m.get(STOPPED_EARLY) for r in grid)
    dirs = [os.path.basename(str(r.path).rstrip("/")) for r, d in zip(grid, done, strict=True) if not d]
    return [d.removeprefix(f"{sweep_name}_") for d in dirs]


class StoppedTrials(Callback):
    """Tune callback: the child run of a trial that the scheduler (ASHA) stopped early ends KILLED, tagged
    ``mage.stopped_early``. Only early-stopped trials reach ``on_trial_complete`` without the final metric
    (an interrupted sweep's trials do not reach it; errored ones go to ``on_trial_error``)."""

    def __init__(self, tracking_uri: str | None, scheduler: str) -> None:
        self.tracking_uri, self.scheduler, self.stopped = tracking_uri, scheduler, 0

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        # The scheduler's STOP came before this call (done=True); the flag stays in the trial's last result
        # (and the experiment state), so an early-stopped trial is never mistaken for an interrupted one.
        if result.get("done") and FINAL not in result:
            result[STOPPED_EARLY] = True

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        if FINAL not in result:
            self.stopped += 1
            mark_trial_stopped(self.tracking_uri, result, self.scheduler)
            if release_train_workers(result):  # its Train workers' CPUs/GPUs, for the next trials
                print(f"[sweep] trial {trial.trial_id} stopped: released its Train workers' resources")


def parent_params(args: argparse.Namespace, sweep: Sweep) -> dict[str, Any]:
    """Params of the sweep's parent run: the search space, the sweep's settings and named configs."""
    params: dict[str, Any] = {f"space.{k}": v for k, v in describe_space(sweep.param_space).items()}
    params.update(
        {
            "sweep.preset": args.preset,
            "sweep.datasets": args.datasets,
            "sweep.seeds": args.seeds,
            "sweep.num_samples": sweep.num_samples,
            "sweep.max_concurrent": args.max_concurrent,
            "sweep.gpus_per_trial": args.gpus_per_trial,
            "sweep.cpus_per_trial": args.cpus_per_trial,
            "sweep.searcher": type(sweep.search_alg).__name__
            if sweep.search_alg
            else "BasicVariantGenerator",
            "sweep.scheduler": type(sweep.scheduler).__name__ if sweep.scheduler else "FIFOScheduler",
            "sweep.storage": args.storage,
            "sweep.overrides": json.dumps(args.overrides, default=str),
        }
    )
    params.update({f"ablation.{k}": json.dumps(v) for k, v in sweep.named_configs.items()})
    params.update({f"method.{k}": json.dumps(v) for k, v in sweep.method_overrides.items()})
    if args.baseline_overrides or getattr(args, "steps", None) is not None:
        params["sweep.baseline_overrides"] = json.dumps(args.baseline_overrides, default=str)
        params["sweep.baseline_steps"] = args.steps
    if getattr(args, "also_hold", False):
        params["sweep.also"] = "hold"
    return params


def new_state(args: argparse.Namespace, sweep: str, parent_run_id: str) -> dict[str, Any]:
    """The state file of a new sweep: its parent run and store, the command line with secrets masked (like the
    ``mage.command`` tag) and the settings ``--resume`` restores (``sweeps.driver.state``)."""
    return {
        "parent_run_id": parent_run_id,
        "tracking_uri": redact_uri(args.tracking_uri),  # a password is given again on --resume
        "experiment": args.experiment,
        "sweep": sweep,
        "command": redact_argv(sys.argv),
        "settings": getattr(args, "settings", None) or settings_of(args),
        "max_concurrent": args.max_concurrent,  # Tune keeps it on --resume (state.saved_concurrency)
    }


def trial_context(sweep: Sweep, args: argparse.Namespace, tracking: Tracking) -> TrialContext:
    """What every trial of the sweep gets besides its config (resources need a started Ray)."""
    also = (replace_protocol(args),) if getattr(args, "also_hold", False) else ()
    return TrialContext(
        sweep=sweep.name,
        tracking=tracking,
        preset=args.preset,
        base_overrides=args.overrides,
        named_configs=sweep.named_configs,
        adjust=sweep.adjust,
        smoke=args.smoke,
        resources=trial_resources(args) if args.gpus_per_trial is not None else Resources(),
        method_overrides=sweep.method_overrides,
        baseline_overrides=args.baseline_overrides,
        baseline_steps=getattr(args, "steps", None),
        also=also,
        reuse_tokenizers=getattr(args, "reuse_tokenizers", True),
        tokenizers_from=getattr(args, "tokenizers_from", None),
        tokenizer_only=sweep.tokenizer_only,
    )


def replace_protocol(args: argparse.Namespace) -> EvalProtocol:
    """The sweep's protocol (``--set eval.*``) with the hold switched on: what ``--also-hold`` adds."""
    ec = make_config(args.preset, args.overrides).eval
    return EvalProtocol(goal=ec.goal, acting=ec.acting, hold=True)


def _tuner(sweep: Sweep, args: argparse.Namespace, trainable: Any, tune_dir: str, name: str) -> Any:
    from ray import tune

    if args.resume:  # the callbacks too come back from the experiment state
        return tune.Tuner.restore(tune_dir, trainable, resume_errored=True)
    scheduler = type(sweep.scheduler).__name__ if sweep.scheduler else "FIFOScheduler"
    return tune.Tuner(
        trainable,
        param_space=sweep.param_space,
        tune_config=tune.TuneConfig(
            metric=OBJECTIVE,  # in every result: per epoch -pol/val_loss, last eval/norm_score
            mode="max",
            search_alg=sweep.search_alg,
            scheduler=sweep.scheduler,
            num_samples=sweep.num_samples,
            max_concurrent_trials=args.max_concurrent,
            trial_name_creator=functools.partial(trial_name, sweep.name),
            trial_dirname_creator=functools.partial(trial_name, sweep.name),
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=args.storage,
            callbacks=[InterruptAfterTrials(), StoppedTrials(args.tracking_uri, scheduler)],
            failure_config=tune.FailureConfig(max_failures=args.max_failures),
            verbose=1,
        ),
    )


def run_sweep(sweep: Sweep, args: argparse.Namespace) -> int:
    """Run (or resume) the sweep; print the results table from MLflow. Returns a process exit code."""
    sweep_env()
    import ray
    from ray import tune

    from mage.distributed.ray_init import init_ray
    from mage.tracking.sweep_runs import (
        mark_stale_children,
        print_table,
        results_table,
        resume_parent,
        start_parent,
    )

    args = resolve_defaults(args)
    if args.num_samples is not None:
        sweep.num_samples = args.num_samples
    try:
        make_config(args.preset, args.overrides)  # fail fast on a bad --set before starting Ray
        methods = grid_values(sweep, "method", ["mage"])
        if all(m == "mage" for m in methods):  # --smoke's baseline defaults concern baseline trials only
            given = parse_overrides(args.set or [])
            for k in SMOKE_BASELINE_OVERRIDES:
                if k not in given:
                    args.baseline_overrides.pop(k, None)
        check_trials(trial_context(sweep, args, Tracking()), methods, args.datasets, sweep.param_space)
    except (ConfigError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None

    prefix = f"{sweep.name}-smoke" if args.smoke else sweep.name
    if args.resume:
        if getattr(args, "resume_state", None) is None:  # not parsed by SweepParser (which restores settings)
            args.resume_dir, args.resume_state = find_sweep(args.storage, args.name, sweep.name)
        tune_dir, state = args.resume_dir, args.resume_state
        parent_run_id, args.experiment = state["parent_run_id"], state["experiment"]
        if redact_uri(args.tracking_uri) != state["tracking_uri"]:  # (restored by SweepParser)
            args.tracking_uri = state["tracking_uri"]
    else:
        tune_dir = join_storage(args.storage, args.name or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")
        if storage_exists(tune_dir):
            raise SystemExit(f"{tune_dir} exists; pass --resume to continue it or --name for a new sweep")
    name = tune_dir.rsplit("/", 1)[1]
    reap_at_start(args.tracking_uri)  # runs of killed earlier sweeps become KILLED, not RUNNING forever
    # Data on the driver, after the store answered (minutes of generation are not wasted on a dead server),
    # before Ray: trials on this node then find it; a smoke trial regenerates it if missing.
    for data_name in args.datasets:
        ensure_dataset(data_name, smoke=args.smoke)

    # Workers' default store is the sweep's (--tracking-uri), not the sqlite path under the driver's checkout.
    init_ray(args.address, env_vars={"MLFLOW_TRACKING_URI": args.tracking_uri})
    auto_resources(args)
    if args.resume:
        parent = resume_parent(parent_run_id, tracking_uri=args.tracking_uri)
        write_state(tune_dir, {**state, "status": "running"})
        n = mark_stale_children(args.tracking_uri, args.experiment, parent_run_id)
        print(
            f"[sweep] resuming {tune_dir} (parent run {parent_run_id}; {n} interrupted trial runs marked KILLED)"
        )
    else:
        parent = start_parent(
            Tracking(
                args.tracking_uri,
                args.experiment,
                run_name=name,
                tags={
                    "mage.tune_dir": tune_dir,
                    "mlflow.note.content": sweep.description,
                    "mage.method": ",".join(map(str, grid_values(sweep, "method", ["mage"]))),
                },
            ),
            sweep=sweep.name,
            smoke=args.smoke,
            params=parent_params(args, sweep),
            ray_address=args.address,
        )
        parent_run_id = parent.run_id
        state = new_state(args, sweep.name, parent_run_id)
        write_state(tune_dir, {**state, "status": "running"})
        print(f"[sweep] {sweep.name}: parent run {parent_run_id} in {args.experiment} ({args.tracking_uri})")

    ctx = trial_context(sweep, args, Tracking(args.tracking_uri, args.experiment, parent_run_id))
    ctx.tune_dir = tune_dir  # baseline trials keep their fit state under it
    trainable = tune.with_resources(tune.with_parameters(trial_fn, ctx=ctx), trial_placement(args))
    global _INTERRUPT_AFTER
    _INTERRUPT_AFTER = args.interrupt_after_trials
    started = time.time()
    hint = f"python {sys.argv[0]} --resume --name {name} --storage {args.storage}"
    try:
        grid = _tuner(sweep, args, trainable, tune_dir, name).fit()
    except KeyboardInterrupt:  # a second Ctrl-C: Tune stops without saving, the runs still end honestly
        _interrupted(args, parent, tune_dir, state, hint, "interrupted twice (Ctrl-C)")
        raise
    except BaseException as e:
        write_state(tune_dir, {**state, "status": "failed", "error": f"{type(e).__name__}: {e}"[:2000]})
        parent.fail(e)
        raise
    elapsed = time.time() - started
    n_err = grid.num_errors
    # Interrupted (Ctrl-C): trials left unfinished, or not all trials created yet (grids are created lazily).
    left = unfinished(grid, sweep.name)
    interrupted = len(left) > 0 or len(grid) < expected_trials(sweep)
    parent.log_metrics({"sweep/trials": len(grid), "sweep/errored": n_err, "sweep/wall_s": elapsed})
    table = results_table(args.tracking_uri, args.experiment, parent_run_id, metric=sweep.metric)
    print(
        f"\n[sweep] {sweep.name}: {len(grid)} trials, {n_err} errored, {elapsed:.0f} s; parent run {parent_run_id}"
    )
    print_table(table)
    if interrupted:
        _interrupted(args, parent, tune_dir, state, hint, "interrupted (Ctrl-C / SIGINT)", left)
        print(f"[sweep] interrupted; continue with: {hint}", flush=True)
        ray.shutdown()
        return 130
    write_state(tune_dir, {**state, "status": "errored" if n_err else "finished"})
    parent.end("FINISHED")
    return 1 if n_err else 0


def _interrupted(args: argparse.Namespace, parent: Any, tune_dir: str, state: dict, hint: str, why: str,
                 trials: list[str] | tuple = ()) -> None:  # fmt: skip
    """An interrupted sweep: unfinished child runs (Tune killed their actors) and the parent end KILLED with the
    reason in ``mage.error``; the state file says ``interrupted``. ``trials``: the unfinished trials' ids, whose
    runs end KILLED even when the interruption made their training raise first (FAILED)."""
    from mage.tracking.sweep_runs import mark_stale_children

    write_state(tune_dir, {**state, "status": "interrupted", "error": why, "resume": hint})
    mark_stale_children(args.tracking_uri, args.experiment, parent.run_id, interrupted_trials=trials)
    parent.set_tags({"mage.error": f"{why}; continue with: {hint}"})
    parent.end("KILLED")


def main(sweep: Sweep, args: argparse.Namespace) -> None:
    sys.exit(run_sweep(sweep, args))


def method_grid_parser(
    doc: str, *, experiment: str, methods: tuple[str, ...], smoke_methods: tuple[str, ...]
) -> argparse.ArgumentParser:
    """The flags of a method x dataset x seed sweep (``sweeps/baselines.py``, ``sweeps/main_results.py``)."""
    parser = build_parser(doc.splitlines()[0], default_experiment=experiment)
    add_baseline_args(parser, methods=" ".join(methods), smoke_methods=" ".join(smoke_methods))
    return parser


def run_method_grid(
    args: argparse.Namespace, make_sweep: Any, methods: tuple[str, ...], smoke_methods: tuple[str, ...]
) -> None:
    """``make_sweep(methods, datasets, seeds) -> Sweep`` run with ``args``; ``--methods`` defaults to
    ``methods`` (``smoke_methods`` with ``--smoke``)."""
    chosen = args.methods or list(smoke_methods if args.smoke else methods)
    resolve_defaults(args)
    main(make_sweep(chosen, args.datasets, args.seeds), args)
