"""The flags every sweep shares and their --smoke dependent defaults, incl. the one ``--set`` grammar."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mage.config import ConfigError, parse_overrides
from mage.tracking.store import default_tracking_uri, project_root
from sweeps.driver.data import SMOKE_DATA_STEPS
from sweeps.driver.state import ResumeError, find_sweep, restore_settings, settings_of

DEFAULT_DATASETS = ("maze2d-umaze-v1", "maze2d-medium-v1", "maze2d-large-v1")
# Overrides on top of the smoke preset: one rollout batch, tiny data (the preset already shrinks the model).
# Baseline trials of a --smoke sweep: a few gradient steps on small batches.
SMOKE_BASELINE_STEPS = 20
SMOKE_OVERRIDES: dict[str, Any] = {
    "data.max_steps": SMOKE_DATA_STEPS,
    "eval.episodes": 2,
    "eval.num_envs": 2,
    "eval.critic_steps": SMOKE_BASELINE_STEPS,  # the A + CQL row's critic (inert without eval.critic)
}
SMOKE_BASELINE_OVERRIDES: dict[str, Any] = {"baseline.batch_size": 64}
BASELINE_PREFIX = "baseline."  # --set keys of the baselines' typed configs (not ExperimentConfig keys)


class SweepParser(argparse.ArgumentParser):
    """A sweep's parser: records the flags the user gave (``args.explicit``) and what the sweep is
    (``args.settings``: the flags that define its trials, saved in its state file); with ``--resume`` it restores
    the saved settings, or refuses naming those given with other values (``sweeps.driver.state``)."""

    sweep_name = ""  # prefix of the sweep's Tune dirs (--resume without --name: the latest one)

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        ns = super().parse_args(args, namespace)
        defaults = [(a, a.default) for a in self._actions]
        for a, _ in defaults:  # parse again with every default suppressed: only the flags given remain
            a.default = argparse.SUPPRESS
        try:
            ns.explicit = sorted(vars(super().parse_args(args)))
        finally:
            for a, d in defaults:
                a.default = d
        ns.settings = settings_of(ns)
        if ns.resume:
            storage = resolve_storage(ns.storage)
            try:  # the prefix <sweep> also matches <sweep>-smoke-* dirs
                restore_settings(ns, find_sweep(storage, ns.name, self.sweep_name))
            except ResumeError as e:
                raise SystemExit(f"error: {e}") from None
        return ns


def resolve_storage(storage: str | None) -> str:
    """Tune storage: an absolute local path or a URI (s3://, gs://) that every node can reach."""
    storage = storage or str(project_root() / "ray_results")
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def at_least(lo: float, *, open_: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: an int (a float when ``lo`` is one) that is >= ``lo`` (> with ``open_``); a bad
    value is argparse's one usage line naming the flag, before any data, store or Ray work."""
    cast = float if isinstance(lo, float) else int

    def parse(text: str) -> float:
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'number' if cast is float else 'whole number'}"
            ) from None
        if v < lo or (open_ and v == lo):
            raise argparse.ArgumentTypeError(f"{v} must be {'>' if open_ else '>='} {lo}")
        return v

    return parse


def build_parser(description: str, *, default_experiment: str, sweep: str | None = None) -> SweepParser:
    """The shared flags; ``sweep``: the sweep's name (default: ``default_experiment`` without ``mage-``)."""
    p = SweepParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.sweep_name = sweep or default_experiment.removeprefix("mage-")
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
    p.add_argument(
        "--num-samples", type=at_least(1), default=None, help="Tune num_samples (searchers: trials)"
    )
    p.add_argument(
        "--gpus-per-trial",
        type=at_least(0.0),
        default=None,
        help="GPUs per trial, shared by its Ray Train workers (default: auto = GPUs / max-concurrent, "
        "at most 1; 0 without GPUs)",
    )
    p.add_argument(
        "--cpus-per-trial",
        type=at_least(0.0, open_=True),
        default=0.5,
        help="CPUs of the trial driver itself; its Ray Train workers and rollout actors take their own",
    )
    p.add_argument("--num-workers", type=at_least(1), default=1, help="Ray Train workers per trial")
    p.add_argument("--num-actors", type=at_least(0), default=1, help="rollout actors per trial's evaluation")
    p.add_argument(
        "--max-concurrent",
        type=at_least(1),
        default=None,
        help="max concurrent trials (default: GPUs, else CPUs // the CPUs a trial holds at its peak: "
        "its driver plus its Ray Train workers or rollout actors; at least 1)",
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
    p.add_argument(
        "--preset", default=None, help="config preset: cpu, full or smoke (default: cpu; --smoke: smoke)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for all trials, repeatable (e.g. --set data.rtg_horizon=none "
        "--set tokenizer.scale_schedule=[1,2,4,8]); the protocol: --set eval.goal=given, eval.hold=true; "
        "baseline trials: --set baseline.KEY=VALUE (every baseline) or baseline.METHOD.KEY=VALUE",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted sweep (--name or the latest) with the preset, --set overrides and flags it "
        "was started with (passing others is an error naming them)",
    )
    p.add_argument(
        "--no-tokenizer-reuse",
        dest="reuse_tokenizers",
        action="store_false",
        help="train stage 1 in every MAGE trial (default: a trial whose data, tokenizer and stage-1 settings "
        "match an earlier trial of the sweep reuses that trial's tokenizer)",
    )
    p.add_argument(
        "--tokenizers-from",
        default=None,
        metavar="PARENT_RUN_ID",
        help="also reuse the tokenizers of another sweep (a tokenizer sweep's parent run id, sweeps/tokenizer.py) "
        "when a trial's stage-1 settings match one of them",
    )
    p.add_argument(
        "--also-hold",
        action="store_true",
        help="also evaluate every trained model with eval.hold=true (a child eval run of its trial run, "
        "same env seeds): the '+ hold' rows of the tables",
    )
    p.add_argument(
        "--max-failures", type=at_least(0), default=0, help="retries of a failed trial (FailureConfig)"
    )
    p.add_argument("--address", default=None, help="Ray address (default $RAY_ADDRESS, else an embedded Ray)")
    # Test hook: behave as if Ctrl-C was pressed once N trials finished (resume tests).
    p.add_argument("--interrupt-after-trials", type=int, default=None, help=argparse.SUPPRESS)
    return p


def add_baseline_args(p: argparse.ArgumentParser, *, methods: str, smoke_methods: str) -> None:
    """The flags of sweeps that train baselines (``sweeps/baselines.py``, ``sweeps/main_results.py``)."""
    p.add_argument(
        "--methods", nargs="+", default=None, help=f"methods (default: {methods}; --smoke: {smoke_methods})"
    )
    p.add_argument(
        "--steps",
        type=at_least(1),
        default=None,
        help="gradient steps of every baseline trial (default: its config's steps; "
        f"--smoke: {SMOKE_BASELINE_STEPS}); a multiple of baseline.steps_per_epoch",
    )


def resolve_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the --smoke dependent defaults and ``args.overrides`` (smoke overrides, then every ``--set``)."""
    if args.datasets is None:
        args.datasets = ["maze2d-umaze-v1"] if args.smoke else list(DEFAULT_DATASETS)
    if args.seeds is None:
        args.seeds = [0] if args.smoke else [0, 1, 2]
    if args.preset is None:
        args.preset = "smoke" if args.smoke else "cpu"
    args.tracking_uri = args.tracking_uri or default_tracking_uri()
    args.storage = resolve_storage(args.storage)
    try:
        sets = parse_overrides(args.set or [])
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    base = {**(SMOKE_OVERRIDES if args.smoke else {}), **(SMOKE_BASELINE_OVERRIDES if args.smoke else {})}
    merged = {**base, **sets}
    # baseline.* keys belong to the baselines' typed configs, checked per method (sweeps.driver.trial).
    args.baseline_overrides = {k: v for k, v in merged.items() if k.startswith(BASELINE_PREFIX)}
    args.overrides = {k: v for k, v in merged.items() if not k.startswith(BASELINE_PREFIX)}
    if hasattr(args, "steps") and args.steps is None and args.smoke:
        args.steps = SMOKE_BASELINE_STEPS
    return args
