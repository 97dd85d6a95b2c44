"""Shared sweep plumbing: CLI, Ray start-up, data preparation, the Tune trainable, MLflow parent/child runs.

A sweep script declares a :class:`Sweep` (its search space and, optionally, a searcher/scheduler or named
configs) and calls :func:`main`. Everything else lives here:

- one MLflow **parent run** per sweep (``mage.run_type=sweep``, ``mage.sweep=<name>``; search space, git sha and
  command line as params/tags). Its id is stored in the Tune experiment dir so ``--resume`` reuses it;
- one **child run per trial**, created by ``mage.distributed.train.run_experiment(parent_run_id=...)``; a trial
  that fails before or inside it still leaves a FAILED child with the error in ``mage.error``;
- the trainable is a plain Tune *function* trainable that calls ``run_experiment(..., under_tune=True)``
  (Train V2 in Ray 2.60 rejects ``Tuner(TorchTrainer)``, spec platform.md §3.2) and reports
  ``eval/norm_score`` plus the trial's knobs with ``tune.report``;
- ``--resume`` restores the Tune experiment (``Tuner.restore(..., resume_errored=True)``): finished trials are
  not re-run and keep their runs; runs that were left RUNNING by the interruption are marked KILLED.

Trial configs are flat: keys with a dot are ``ExperimentConfig`` overrides (``tokenizer.num_scales``); the key
``ablation`` names an entry of ``Sweep.named_configs`` whose overrides are applied first.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# run_experiment forwards stage-2 epoch results (pol/*) to Tune before the final eval/norm_score; Tune's
# strict check would reject those for lacking the TuneConfig metric. ASHA/Optuna skip results without it.
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")

from ray.tune import Callback  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402

from mage.config import ConfigError, ExperimentConfig, make_config  # noqa: E402
from mage.tracking.store import default_tracking_uri, project_root  # noqa: E402

DEFAULT_DATASETS = ("maze2d-umaze-v1", "maze2d-medium-v1", "maze2d-large-v1")
METRIC = "eval/norm_score"
PARENT_FILE = "mage_sweep.json"  # in the Tune experiment dir: parent run id, store, command
SMOKE_DATA_STEPS = 30_000  # a smoke dataset: ~1 s to generate, enough windows for the smoke preset
FULL_DATA_STEPS = 1_000_000  # D4RL's maze2d size
# Overrides on top of the smoke preset: one rollout batch, tiny data (the preset already shrinks the model).
SMOKE_OVERRIDES: dict[str, Any] = {"data.max_steps": SMOKE_DATA_STEPS, "eval.episodes": 2, "eval.num_envs": 2}
# Columns of the final table: short name -> MLflow column.
TABLE_COLUMNS = {
    "K": "params.tokenizer.num_scales",
    "V": "params.tokenizer.codebook_size",
    "depth": "params.transformer.depth",
    "H": "params.data.horizon",
    "lam_tok": "params.tokenizer.lambda_cond",
    "lam_pol": "params.policy.lambda_cond",
    "lr": "params.train.policy_lr",
    "dataset": "params.data.dataset",
    "seed": "params.train.seed",
    "ablation": "tags.mage.ablation",
}
ALWAYS_SHOWN = ("K", "dataset", "seed", "ablation")


# ----------------------------------------------------------------------------------------------------------
# What a sweep script declares


@dataclass
class Sweep:
    """A sweep: its name, MLflow experiment, search space and how to search it."""

    name: str  # mage.sweep tag and default Tune experiment name
    experiment: str  # default MLflow experiment
    param_space: dict[str, Any]  # flat trial config: dotted overrides and/or "ablation"
    num_samples: int = 1  # Tune num_samples (grids multiply it)
    search_alg: Any = None  # e.g. OptunaSearch; None = Tune's grid/random BasicVariantGenerator
    scheduler: Any = None  # e.g. ASHAScheduler; None = FIFO
    named_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ablation" name -> overrides
    # Last per-trial fix-up of the config (e.g. raise the horizon so K scales fit); must be picklable.
    adjust: Callable[[ExperimentConfig], ExperimentConfig] | None = None
    description: str = ""


# ----------------------------------------------------------------------------------------------------------
# CLI


def build_parser(description: str, *, default_experiment: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--smoke", action="store_true", help="tiny data/model, 1 dataset, 1 seed: minutes on 2 CPUs"
    )
    p.add_argument(
        "--datasets",
        nargs="+",
        default=None,
        help=f"datasets (default: {' '.join(DEFAULT_DATASETS)}; --smoke: maze2d-umaze-v1)",
    )
    p.add_argument(
        "--seeds", nargs="+", type=int, default=None, help="train seeds (default 0 1 2; --smoke: 0)"
    )
    p.add_argument("--num-samples", type=int, default=None, help="Tune num_samples (searchers: trials)")
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=None,
        help="GPUs per trial (default: auto = GPUs / max-concurrent, at most 1; 0 without GPUs)",
    )
    p.add_argument(
        "--cpus-per-trial",
        type=float,
        default=0.5,
        help="CPUs of the trial driver itself; its Ray Train workers and rollout actors take their own",
    )
    p.add_argument("--num-workers", type=int, default=1, help="Ray Train workers per trial")
    p.add_argument("--num-actors", type=int, default=1, help="rollout actors per trial's evaluation")
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="max concurrent trials (default: GPUs, else CPUs // 2, at least 1)",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="Tune storage_path: local dir, or shared (NFS path, s3://) on "
        "a multi-node cluster (default <project>/ray_results)",
    )
    p.add_argument(
        "--name",
        default=None,
        help="Tune experiment name (default <sweep>[-smoke]-<timestamp>); "
        "with --resume: the sweep to continue (default: the latest one of this sweep)",
    )
    p.add_argument("--experiment", default=default_experiment, help="MLflow experiment")
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI, else "
        "sqlite:///<project>/mlruns.db); a server (http://...) on a multi-node cluster",
    )
    p.add_argument("--preset", default=None, help="config preset (default: paper; --smoke: smoke)")
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides for all trials"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted sweep (--name or the latest)"
    )
    p.add_argument("--max-failures", type=int, default=0, help="retries of a failed trial (FailureConfig)")
    p.add_argument("--address", default=None, help="Ray address (default $RAY_ADDRESS, else an embedded Ray)")
    # Test hook: behave as if Ctrl-C was pressed once N trials finished (resume tests).
    p.add_argument("--interrupt-after-trials", type=int, default=None, help=argparse.SUPPRESS)
    return p


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def resolve_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the --smoke dependent defaults."""
    if args.datasets is None:
        args.datasets = ["maze2d-umaze-v1"] if args.smoke else list(DEFAULT_DATASETS)
    if args.seeds is None:
        args.seeds = [0] if args.smoke else [0, 1, 2]
    if args.preset is None:
        args.preset = "smoke" if args.smoke else "paper"
    args.tracking_uri = args.tracking_uri or default_tracking_uri()
    storage = args.storage or str(project_root() / "ray_results")
    # Tune wants an absolute local path or a URI (s3://, gs://) that every node can reach.
    args.storage = storage if "://" in storage else str(Path(storage).expanduser().resolve())
    return args


# ----------------------------------------------------------------------------------------------------------
# Data


def dataset_file_name(name: str) -> str:
    """The dataset a task trains on (Multi2D tasks share the single-task file)."""
    from mage.envs.registry import get_spec

    return get_spec(name).dataset


def smoke_data_path(name: str) -> Path:
    from mage.data.d4rl_io import data_dir

    return data_dir() / "smoke" / f"{dataset_file_name(name)}.hdf5"


def ensure_dataset(name: str, *, smoke: bool) -> str | None:
    """Path of the dataset file to use, generated locally when missing (never downloaded).

    Smoke runs use a separate small file (``<data dir>/smoke/``) so they never shadow the full dataset.
    Returns the explicit path to put in ``data.path`` (smoke), or None to let the name be looked up.
    """
    from mage.data.d4rl_io import DatasetNotFoundError, find_dataset
    from mage.data.generate import generate_dataset

    name = dataset_file_name(name)
    if smoke:
        path = smoke_data_path(name)
        steps = SMOKE_DATA_STEPS
    else:
        try:
            find_dataset(name)
            return None
        except DatasetNotFoundError:
            from mage.data.d4rl_io import default_path

            path, steps = default_path(name), FULL_DATA_STEPS
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside and rename: parallel trials/drivers never see a half-written file.
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.hdf5")
        print(f"[sweep] generating {name} ({steps} steps) -> {path}", flush=True)
        generate_dataset(name, steps=steps, seed=0, out=tmp, progress=False)
        os.replace(tmp, path)
    return str(path) if smoke else None


# ----------------------------------------------------------------------------------------------------------
# Trial


@dataclass
class TrialContext:
    """Everything a trial needs besides its config; shipped to the trial actor (keep it picklable)."""

    sweep: str
    experiment: str
    tracking_uri: str
    parent_run_id: str
    preset: str
    base_overrides: dict[str, Any]
    named_configs: dict[str, dict[str, Any]]
    adjust: Callable[[ExperimentConfig], ExperimentConfig] | None
    smoke: bool
    num_workers: int
    num_actors: int
    use_gpu: bool
    resources_per_worker: dict[str, float] | None
    storage_path: str


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


def _mark_trial_failed(
    ctx: TrialContext,
    trial_id: str,
    run_name: str,
    tags: dict[str, str],
    cfg: ExperimentConfig | None,
    error: BaseException,
    attempt_start: float,
) -> None:
    """Make the failure visible as a FAILED child run (create one when run_experiment never got that far)."""
    from mage.tracking.mlflow_logger import RunLogger
    from mage.tracking.query import search_runs

    try:
        runs = search_runs(
            ctx.experiment,
            tracking_uri=ctx.tracking_uri,
            parent_run_id=ctx.parent_run_id,
            filter_string=f"tags.`mage.trial_id` = '{trial_id}'",
        )
        if len(runs):
            runs = runs[runs["start_time"] >= pd_timestamp(attempt_start - 1.0)]
        if not len(runs):
            run = RunLogger.start(
                experiment=ctx.experiment,
                tracking_uri=ctx.tracking_uri,
                run_name=run_name,
                parent_run_id=ctx.parent_run_id,
                tags=tags,
            )
            if cfg is not None:
                run.log_config(cfg)
            run.fail(error)
            return
        for rid in runs[runs["status"] == "RUNNING"]["run_id"]:  # run_experiment died without ending its run
            RunLogger.attach(rid, tracking_uri=ctx.tracking_uri).fail(error)
    except Exception as log_error:  # never hide the trial's own error behind a logging error
        print(
            f"[sweep] could not record the failure of trial {trial_id} in MLflow: {log_error}",
            file=sys.stderr,
        )


def pd_timestamp(t: float):
    import pandas as pd

    return pd.Timestamp(t, unit="s", tz="UTC")


def trial_fn(config: dict[str, Any], ctx: TrialContext) -> None:
    """Tune function trainable: one MAGE experiment (both stages + evaluation) as a child run."""
    from ray import tune

    from mage.tracking.mlflow_logger import standard_tags

    tctx = tune.get_context()
    trial_id, run_name = tctx.get_trial_id(), tctx.get_trial_name()
    attempt_start = time.time()
    extra = {"mage.sweep": ctx.sweep, "mage.trial_id": trial_id}
    if config.get("ablation") is not None:
        extra["mage.ablation"] = str(config["ablation"])
    cfg: ExperimentConfig | None = None
    tags = standard_tags(None, run_type="trial", extra=extra)
    try:
        overrides = trial_overrides(ctx, config)
        cfg = make_config(ctx.preset, overrides)
        if ctx.adjust is not None:
            cfg = ctx.adjust(cfg)
        tags = standard_tags(cfg, run_type="trial", extra=extra)
        if ctx.smoke or cfg.data.path is None:
            # A worker node may not share the driver's data dir: generate there too (idempotent, atomic).
            ensure_dataset(cfg.data.dataset, smoke=ctx.smoke)
        from mage.distributed.train import run_experiment

        result = run_experiment(
            cfg,
            num_workers=ctx.num_workers,
            use_gpu=ctx.use_gpu,
            storage_path=ctx.storage_path,
            tracking_uri=ctx.tracking_uri,
            experiment=ctx.experiment,
            parent_run_id=ctx.parent_run_id,
            run_name=run_name,
            tags=tags,
            tokenizer_from=None,
            evaluate=True,
            num_actors=ctx.num_actors,
            under_tune=True,
            resources_per_worker=ctx.resources_per_worker,
        )
    except Exception as e:
        _mark_trial_failed(ctx, trial_id, run_name, tags, cfg, e, attempt_start)
        raise
    score = float(result.metrics.get(METRIC, float("nan")))
    # The knobs this trial set (after adjust), so Tune's own results table is readable too.
    flat = cfg.flatten()
    knobs = {
        f"cfg/{k}": flat[k] for k in overrides if k in flat and isinstance(flat[k], (int, float, str, bool))
    }
    tune.report({METRIC: score, "mlflow_run_id": result.run_id, **knobs})


# ----------------------------------------------------------------------------------------------------------
# Parent run


def describe_space(space: Mapping[str, Any]) -> dict[str, str]:
    """Human-readable search space: grid lists, choices and ranges instead of object reprs."""
    from ray.tune.search.sample import Categorical, Float, Integer

    out: dict[str, str] = {}
    for k, v in space.items():
        if isinstance(v, Mapping) and "grid_search" in v:
            out[k] = f"grid{list(v['grid_search'])}"
        elif isinstance(v, Categorical):
            out[k] = f"choice{list(v.categories)}"
        elif isinstance(v, (Float, Integer)):
            sampler = type(v.get_sampler()).__name__.lower().lstrip("_")
            kind = "log" if "log" in sampler else ""
            out[k] = f"{kind}{'int' if isinstance(v, Integer) else 'float'}[{v.lower}, {v.upper}]"
        else:
            out[k] = repr(v)
    return out


def start_parent(args: argparse.Namespace, sweep: Sweep, tune_dir: str, space: Mapping[str, Any]) -> str:
    from mage.tracking.mlflow_logger import RunLogger, standard_tags

    tags = standard_tags(
        None,
        run_type="sweep",
        extra={
            "mage.sweep": sweep.name,
            "mage.command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])[:5000],
            "mage.tune_dir": tune_dir,
            "mlflow.note.content": sweep.description,
            "mage.ray_address": os.environ.get("RAY_ADDRESS", "embedded"),
            "mage.smoke": str(bool(args.smoke)).lower(),
        },
    )
    run = RunLogger.start(
        experiment=args.experiment,
        tracking_uri=args.tracking_uri,
        run_name=tune_dir.rsplit("/", 1)[1],
        tags=tags,
    )
    params = {f"space.{k}": v for k, v in describe_space(space).items()}
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
    if sweep.named_configs:
        params.update({f"ablation.{k}": json.dumps(v) for k, v in sweep.named_configs.items()})
    run.log_params(params)
    return run.run_id


def join_storage(storage: str, *parts: str) -> str:
    """``storage`` joined with ``parts``; keeps URIs (``s3://bucket/x``) intact, which ``Path`` would not."""
    return "/".join([storage.rstrip("/"), *parts])


def _fs(uri: str):
    """(pyarrow filesystem, path) for a local path or a URI such as s3://bucket/ray_results."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else str(Path(uri).resolve()))


def storage_exists(uri: str) -> bool:
    import pyarrow.fs

    fs, path = _fs(uri)
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def write_state(tune_dir: str, state: Mapping[str, Any]) -> None:
    """The sweep's state file (parent run id, store, command) in the Tune experiment dir."""
    fs, path = _fs(join_storage(tune_dir, PARENT_FILE))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(state, indent=2, default=str).encode())


def read_state(tune_dir: str) -> dict[str, Any] | None:
    fs, path = _fs(join_storage(tune_dir, PARENT_FILE))
    try:
        with fs.open_input_stream(path) as f:
            return json.loads(f.read().decode())
    except FileNotFoundError:
        return None


def find_latest_sweep_dir(storage: str, prefix: str) -> str | None:
    """The most recently started sweep ``<storage>/<prefix>*`` that has a state file."""
    import pyarrow.fs

    fs, base = _fs(storage)
    try:
        infos = fs.get_file_info(pyarrow.fs.FileSelector(base, allow_not_found=True))
    except FileNotFoundError:
        return None
    dirs = [i for i in infos if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith(prefix)]
    dirs = [i for i in dirs if read_state(join_storage(storage, i.base_name)) is not None]
    if not dirs:
        return None
    latest = max(dirs, key=lambda i: i.mtime.timestamp() if i.mtime else 0.0)
    return join_storage(storage, latest.base_name)


def mark_stale_children(tracking_uri: str, experiment: str, parent_run_id: str) -> int:
    """Runs of trials that an interruption left RUNNING: KILLED (Tune re-runs those trials)."""
    from mage.tracking.mlflow_logger import RunLogger
    from mage.tracking.query import search_runs

    runs = search_runs(experiment, tracking_uri=tracking_uri, parent_run_id=parent_run_id)
    stale = runs[runs["status"] == "RUNNING"]["run_id"].tolist() if len(runs) else []
    for rid in stale:
        run = RunLogger.attach(rid, tracking_uri=tracking_uri)
        run.set_tags({"mage.error": "sweep interrupted; --resume re-runs this trial"})
        run.end("KILLED")
    return len(stale)


# ----------------------------------------------------------------------------------------------------------
# Results


def results_table(tracking_uri: str, experiment: str, parent_run_id: str):
    """One row per child run of the sweep: trial, knobs that vary, dataset, seed, status, eval/norm_score."""
    import pandas as pd

    from mage.tracking.query import search_runs

    runs = search_runs(experiment, tracking_uri=tracking_uri, parent_run_id=parent_run_id)
    if not len(runs):
        return pd.DataFrame(columns=["trial", "status", METRIC])
    table = pd.DataFrame({"trial": runs["run_name"], "status": runs["status"]})
    for short, col in TABLE_COLUMNS.items():
        # Always K, dataset and seed; other knobs only where they vary across the sweep's trials.
        if col in runs.columns and (short in ALWAYS_SHOWN or runs[col].nunique(dropna=False) > 1):
            table[short] = runs[col].values
    score = runs.get(f"metrics.{METRIC}")
    table[METRIC] = score.values if score is not None else float("nan")
    table["run_id"] = runs["run_id"].values
    if "tags.mage.error" in runs.columns:
        table["error"] = runs["tags.mage.error"].fillna("").str.slice(0, 60).values
    return table.sort_values(["trial", "run_id"], ignore_index=True)


def print_table(table) -> None:
    import pandas as pd

    with pd.option_context(
        "display.max_rows",
        500,
        "display.max_columns",
        50,
        "display.width",
        200,
        "display.float_format",
        "{:.4g}".format,
    ):
        print(table.to_string(index=False), flush=True)


# ----------------------------------------------------------------------------------------------------------
# Driver


def _auto_resources(args: argparse.Namespace) -> None:
    import ray

    res = ray.cluster_resources()
    gpus, cpus = float(res.get("GPU", 0)), float(res.get("CPU", 1))
    if args.max_concurrent is None:
        args.max_concurrent = max(1, int(gpus) if gpus >= 1 else int(cpus // 2))
    if args.gpus_per_trial is None:
        args.gpus_per_trial = min(1.0, gpus / args.max_concurrent) if gpus else 0.0


# Test hook (--interrupt-after-trials): a module global, not callback state, so that a callback restored
# from the experiment state by --resume stays inert.
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


class FinalMetricOptunaSearch(OptunaSearch):
    """OptunaSearch that skips results without the metric.

    run_experiment forwards the stage-2 epoch results (``pol/*``) to Tune before the final ``eval/norm_score``;
    the stock OptunaSearch reads the metric from every result and raises KeyError on those.
    """

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if isinstance(self.metric, str) and self.metric in result:
            super().on_trial_result(trial_id, result)


def optuna_search(seed: int) -> FinalMetricOptunaSearch:
    """TPE with a fixed seed; metric/mode come from TuneConfig (spec platform.md §1.1)."""
    import optuna

    return FinalMetricOptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed))


def trial_resources(args: argparse.Namespace) -> Any:
    """The trial's placement group: its driver, plus one bundle per rollout actor.

    Tune captures a trial's child actors in the trial's placement group, so the rollout actors of the final
    evaluation must fit into its bundles (an actor asks for at most 1 CPU). Ray Train V2 schedules its
    workers in a placement group of its own, outside the trial's: their CPUs/GPUs are not reserved here
    (``--gpus-per-trial`` goes to the workers), and ``--max-concurrent`` bounds how many trials train at once.
    """
    from ray import tune

    bundles = [{"CPU": args.cpus_per_trial}] + [{"CPU": 1.0}] * max(args.num_actors, 0)
    return tune.PlacementGroupFactory(bundles, strategy="PACK")


def worker_resources(args: argparse.Namespace) -> dict[str, float] | None:
    """Ray Train resources per worker: a share of --gpus-per-trial on GPU clusters, else automatic."""
    if args.gpus_per_trial <= 0:
        return None  # run_experiment picks a CPU share that fits what is free
    return {"CPU": 1.0, "GPU": args.gpus_per_trial / max(args.num_workers, 1)}


def run_sweep(sweep: Sweep, args: argparse.Namespace) -> int:
    """Run (or resume) the sweep; print the results table from MLflow. Returns a process exit code."""
    import ray
    from ray import tune

    from mage.distributed.ray_init import init_ray
    from mage.tracking.mlflow_logger import RunLogger

    args = resolve_defaults(args)
    args.overrides = {**(SMOKE_OVERRIDES if args.smoke else {}), **parse_set(args.set)}
    if args.num_samples is not None:
        sweep.num_samples = args.num_samples
    make_config(args.preset, args.overrides)  # fail fast on a bad --set before starting Ray

    # Data first, on the driver: trials on this node then find it; a smoke trial regenerates it if missing.
    for name in args.datasets:
        ensure_dataset(name, smoke=args.smoke)

    prefix = f"{sweep.name}-smoke" if args.smoke else sweep.name
    if args.resume:
        tune_dir = (
            join_storage(args.storage, args.name)
            if args.name
            else find_latest_sweep_dir(args.storage, prefix)
        )
        state = read_state(tune_dir) if tune_dir else None
        if state is None:
            raise SystemExit(
                f"--resume: no sweep to resume under {args.storage} (name {args.name or prefix + '*'})"
            )
        parent_run_id, args.tracking_uri, args.experiment = (
            state["parent_run_id"],
            state["tracking_uri"],
            state["experiment"],
        )
    else:
        tune_dir = join_storage(args.storage, args.name or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")
        if storage_exists(tune_dir):
            raise SystemExit(f"{tune_dir} exists; pass --resume to continue it or --name for a new sweep")
    name = tune_dir.rsplit("/", 1)[1]

    init_ray(args.address)
    _auto_resources(args)
    space = sweep.param_space
    if args.resume:
        parent = RunLogger.attach(parent_run_id, tracking_uri=args.tracking_uri)
        parent.client.update_run(parent_run_id, status="RUNNING")
        parent.set_tags({"mage.resumed": time.strftime("%Y-%m-%dT%H:%M:%S")})
        n = mark_stale_children(args.tracking_uri, args.experiment, parent_run_id)
        print(
            f"[sweep] resuming {tune_dir} (parent run {parent_run_id}; {n} interrupted trial runs marked KILLED)"
        )
    else:
        parent_run_id = start_parent(args, sweep, tune_dir, space)
        state = {
            "parent_run_id": parent_run_id,
            "tracking_uri": args.tracking_uri,
            "experiment": args.experiment,
            "sweep": sweep.name,
            "command": sys.argv,
        }
        write_state(tune_dir, state)
        parent = RunLogger.attach(parent_run_id, tracking_uri=args.tracking_uri)
        print(f"[sweep] {sweep.name}: parent run {parent_run_id} in {args.experiment} ({args.tracking_uri})")

    ctx = TrialContext(
        sweep=sweep.name,
        experiment=args.experiment,
        tracking_uri=args.tracking_uri,
        parent_run_id=parent_run_id,
        preset=args.preset,
        base_overrides=args.overrides,
        named_configs=sweep.named_configs,
        adjust=sweep.adjust,
        smoke=args.smoke,
        num_workers=args.num_workers,
        num_actors=args.num_actors,
        use_gpu=args.gpus_per_trial > 0,
        resources_per_worker=worker_resources(args),
        storage_path=join_storage(args.storage, "train"),
    )
    trainable = tune.with_resources(tune.with_parameters(trial_fn, ctx=ctx), trial_resources(args))
    global _INTERRUPT_AFTER
    _INTERRUPT_AFTER = args.interrupt_after_trials
    started = time.time()
    try:
        if args.resume:
            tuner = tune.Tuner.restore(tune_dir, trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric=METRIC,
                    mode="max",
                    search_alg=sweep.search_alg,
                    scheduler=sweep.scheduler,
                    num_samples=sweep.num_samples,
                    max_concurrent_trials=args.max_concurrent,
                    trial_name_creator=functools.partial(_trial_name, sweep.name),
                    trial_dirname_creator=functools.partial(_trial_name, sweep.name),
                ),
                run_config=tune.RunConfig(
                    name=name,
                    storage_path=args.storage,
                    callbacks=[InterruptAfterTrials()],
                    failure_config=tune.FailureConfig(max_failures=args.max_failures),
                    verbose=1,
                ),
            )
        grid = tuner.fit()
    except BaseException as e:
        parent.fail(e)
        raise
    elapsed = time.time() - started
    n_err = grid.num_errors
    # Interrupted (Ctrl-C): trials left unfinished, or not all trials created yet (grids are created lazily).
    interrupted = grid.num_terminated + n_err < max(len(grid), expected_trials(sweep))
    parent.log_metrics({"sweep/trials": len(grid), "sweep/errored": n_err, "sweep/wall_s": elapsed})
    table = results_table(args.tracking_uri, args.experiment, parent_run_id)
    print(
        f"\n[sweep] {sweep.name}: {len(grid)} trials, {n_err} errored, {elapsed:.0f} s; parent run {parent_run_id}"
    )
    print_table(table)
    if interrupted:
        # Tune killed the running trials' actors: their runs would stay RUNNING forever.
        mark_stale_children(args.tracking_uri, args.experiment, parent_run_id)
        parent.set_tags({"mage.error": "interrupted"})
        parent.end("KILLED")
        print(
            f"[sweep] interrupted; continue with: python {sys.argv[0]} --resume --name {name} "
            f"--storage {args.storage}" + (" --smoke" if args.smoke else ""),
            flush=True,
        )
        ray.shutdown()
        return 130
    parent.end("FINISHED")
    return 1 if n_err else 0


def expected_trials(sweep: Sweep) -> int:
    """Trials a complete sweep has: num_samples times the product of the grid sizes."""
    n = sweep.num_samples
    for v in sweep.param_space.values():
        if isinstance(v, Mapping) and "grid_search" in v:
            n *= len(v["grid_search"])
    return n


def _trial_name(sweep: str, trial: Any) -> str:
    # Short, stable names: they become MLflow run names and Tune trial dir names.
    return f"{sweep}_{trial.trial_id}"


def main(sweep: Sweep, args: argparse.Namespace) -> None:
    sys.exit(run_sweep(sweep, args))
