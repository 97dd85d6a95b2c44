"""`mage train`: both stages on Ray Train (or in one process with `--local`), then an evaluation.

    mage train --dataset maze2d-umaze-v1 --preset smoke --local     # one process, no Ray
    mage train --preset smoke --workers 2                           # Ray Train (embedded Ray or $RAY_ADDRESS)

Ray and MLflow are imported inside the handlers: `--local` runs where neither is installed (it then logs to
`<out>/run.jsonl` instead of MLflow).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from mage.cli.output import print_scores, ui_hint


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train MAGE (both stages) on Ray Train or locally, then evaluate; logs to MLflow",
        description="Train the tokenizer (stage 1) and the transformer + inverse dynamics (stage 2), "
        "evaluate the result and log params, per-epoch metrics, checkpoint and scores to MLflow.",
    )
    p.add_argument("--dataset", default="maze2d-umaze-v1", help="dataset/task name (mage.envs.registry)")
    p.add_argument(
        "--data-path",
        default=None,
        help="explicit D4RL-format HDF5 file, or minari:<id> (a local Minari dataset; default: data dirs)",
    )
    p.add_argument(
        "--preset",
        default="cpu",
        help="config preset: cpu (default; paper architecture, ~2k steps per stage, ~20 min on 2 cores), "
        "full (>= 50k steps per stage, for a GPU) or smoke (tests)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, repeatable (e.g. --set tokenizer.num_scales=4)",
    )
    p.add_argument("--workers", type=int, default=1, help="Ray Train workers per stage (default 1)")
    p.add_argument(
        "--gpus", action="store_true", help="train on GPU workers (default: iff the cluster has GPUs)"
    )
    p.add_argument("--local", action="store_true", help="single process, no Ray (run_local)")
    p.add_argument("--experiment", default="mage-train", help="MLflow experiment (default mage-train)")
    p.add_argument("--run-name", default=None, help="MLflow run name")
    p.add_argument(
        "--out",
        default=None,
        help="--local: checkpoint/log dir (default <project>/runs/<time>); Ray: Train storage path "
        "(default <project>/ray_results)",
    )
    p.add_argument("--tokenizer-from", default=None, help="reuse a stage-1 checkpoint dir or MLflow run id")
    p.add_argument("--actors", type=int, default=2, help="rollout actors for the evaluation (0 = in-process)")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    p.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="RUN_ID",
        help="continue an interrupted run from its last epoch, same settings, same MLflow run: --local: the run "
        "in --out (no RUN_ID); Ray: the MLflow run id it printed (its Ray Train checkpoints are found by the run's "
        "tags; pass the same --out if you gave one)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="--local: stop training between epochs before SECONDS from the start (no epoch starts that would "
        "end later), keep its state in --out and exit 75; --resume continues it (a GPU lease, a session)",
    )
    p.add_argument(
        "--finish-at-limit",
        action="store_true",
        help="with --time-limit: a limit that falls in stage 2 ends training there (after at least one whole "
        "stage-2 epoch) and that model is the checkpoint, evaluated as usual; the run records the steps it got "
        "(mage.budget, mage.time_limited). A limit in stage 1 still stops the run (exit 75)",
    )
    p.set_defaults(func=cmd_train)


def build_config(args: argparse.Namespace):
    from mage.config import ConfigError, make_config, parse_overrides
    from mage.envs.registry import get_spec

    try:
        overrides = {"data.dataset": args.dataset, **parse_overrides(args.overrides)}
        if args.data_path:
            overrides["data.path"] = args.data_path
        cfg = make_config(args.preset, overrides)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    get_spec(cfg.data.dataset)  # a misspelt dataset fails here: before an MLflow run is opened or Ray starts
    return cfg


def _record_time_limit(logger: Any, cfg: Any, ckpt: Path, metrics: dict[str, float]) -> None:
    """A checkpoint whose stage 2 the time limit ended (``--finish-at-limit``): say so on the terminal and in
    the run (``mage.budget`` with the steps it got, ``mage.time_limited``, ``train/policy_steps_done``)."""
    from mage.checkpoint import read_time_limit
    from mage.tracking.evaluation import training_budget

    cut = read_time_limit(ckpt)
    if cut is None:
        return
    said = f"stage {cut['stage']} after epoch {cut['epochs_done']}/{cut['epochs']} ({cut['steps']} steps)"
    logger.set_tags({"mage.time_limited": said, "mage.budget": training_budget(cfg, cut)})
    metrics["train/policy_steps_done"] = float(cut["steps"])
    print(f"the time limit ended {said}; the checkpoint is that epoch's model")


def cmd_train(args: argparse.Namespace) -> int:
    from mage.tracking.reaper import reap_at_start

    cfg = build_config(args)
    if args.local and cfg.train.device != "auto":  # before a run is opened (Ray: its workers' devices)
        from mage.loop import AUTO_FIX, check_device

        check_device(cfg.train.device, "train.device", AUTO_FIX)
    reap_at_start()
    if args.finish_at_limit and args.time_limit is None:
        raise SystemExit("error: --finish-at-limit ends training at --time-limit; pass --time-limit SECONDS")
    if args.local:
        if args.workers != 1 or args.gpus:
            raise SystemExit("error: --workers/--gpus need Ray; drop them or drop --local")
        if args.time_limit is not None and not args.time_limit > 0:
            raise SystemExit(f"error: --time-limit {args.time_limit} must be > 0 seconds")
        if args.resume is not None and not args.out:
            raise SystemExit(
                "error: --resume continues the run in --out; pass the --out of the interrupted run"
            )
        from mage.loop import NonFiniteLossError

        try:
            return _train_local(cfg, args)
        except NonFiniteLossError as e:  # the run is already marked FAILED with the reason
            raise SystemExit(f"error: {e}; lower the learning rate or check the data") from None
    if args.resume == "":
        raise SystemExit("error: --resume needs the MLflow run id of the interrupted run (without --local)")
    if args.time_limit is not None:  # Ray Train ranks could disagree on the clock
        raise SystemExit("error: --time-limit needs --local (one process); add --local or drop it")
    from mage.distributed.ray_init import init_ray
    from mage.distributed.resources import Resources
    from mage.distributed.train import run_experiment
    from mage.tracking.context import Tracking

    try:
        resources = Resources(
            num_workers=args.workers,
            use_gpu=True if args.gpus else None,
            num_actors=args.actors,
            storage_path=args.out,
        )
    except ValueError as e:
        raise SystemExit(f"error: --workers/--actors: {e}") from None
    if args.gpus and not os.environ.get("RAY_ADDRESS"):  # the embedded Ray gets this machine's GPUs only
        import torch

        resources.check_gpus(torch.cuda.device_count(), where="this machine")  # before Ray starts
    t0 = time.perf_counter()
    init_ray()
    from mage.loop import NonFiniteLossError

    try:
        res = run_experiment(
            cfg,
            resources=resources,
            tracking=Tracking(experiment=args.experiment, run_name=args.run_name),
            tokenizer_from=args.tokenizer_from,
            evaluate=not args.no_eval,
            progress=True,
            resume_run_id=args.resume,
        )
    except NonFiniteLossError as e:  # the run is already marked FAILED with the reason
        raise SystemExit(f"error: {e}; lower the learning rate or check the data") from None
    if not args.no_eval:
        from mage.eval.protocol import EvalProtocol

        print(f"protocol: {EvalProtocol.from_config(cfg.eval).label}")
    print_scores(res.metrics, cfg.data.dataset)
    print(f"checkpoint: {res.checkpoint_dir}")
    print(f"train wall time: {time.perf_counter() - t0:.1f} s")
    print(f"MLflow run id: {res.run_id}")
    print(ui_hint())
    return 0


LOCAL_STATE_DIR = "train_state"  # under --out: the last epoch's resumable checkpoint, removed at the end
RUN_ID_FILE = "run_id"  # under --out: the run a --resume continues


def _check_resume(args: argparse.Namespace, cfg, out: Path, state_dir: Path) -> dict | None:
    """The interrupted run's state for ``--resume``; an interrupted run is never overwritten without it."""
    from mage.checkpoint import TRAIN_STATE_FILE
    from mage.pipeline import local_resume_state

    left = (state_dir / TRAIN_STATE_FILE).is_file()
    if left and args.resume is None:
        raise SystemExit(
            f"error: {out} holds an interrupted run ({state_dir}); pass --resume to continue it, or another --out"
        )
    if args.resume is None:
        return None
    try:
        state = local_resume_state(state_dir, cfg)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    if not (out / RUN_ID_FILE).is_file():
        raise SystemExit(f"error: {out / RUN_ID_FILE} is missing: cannot tell which run to continue")
    return state


def _reattach(out: Path, state: dict, cfg):
    """The interrupted run's logger, running again, tagged with where it continues."""
    from mage.tracking.fallback import JsonlLogger, mlflow_available
    from mage.tracking.mlflow_logger import RunLogger

    run_id = (out / RUN_ID_FILE).read_text().strip()
    if mlflow_available() and not run_id.startswith("local-"):
        logger = RunLogger.reopen(run_id, cfg)
    else:
        logger = JsonlLogger(out, run_id=run_id)
    logger.set_tags({f"mage.resumed_from_epoch.{state['stage']}": state["epoch"]})
    print(f"continuing run {run_id} from {state['stage']} epoch {state['epoch']}")
    return logger


def _train_local(cfg, args: argparse.Namespace) -> int:
    """run_local + an in-process evaluation; MLflow if importable, else <out>/run.jsonl."""
    from mage.tracking.fallback import JsonlLogger, mlflow_available, start_run
    from mage.tracking.mlflow_logger import standard_tags
    from mage.tracking.store import project_root

    if args.tokenizer_from:
        raise SystemExit("error: --tokenizer-from needs the Ray path; drop --local")
    t0, t_start = time.perf_counter(), time.monotonic()
    # pid in the default name: two runs started in the same second never share (and overwrite) a dir
    out = Path(args.out or project_root() / "runs" / f"{time.strftime('local-%Y%m%d-%H%M%S')}-{os.getpid()}")
    out.mkdir(parents=True, exist_ok=True)
    state_dir = out / LOCAL_STATE_DIR
    resume = _check_resume(args, cfg, out, state_dir)
    if resume is not None:
        logger = _reattach(out, resume, cfg)
    else:
        logger = start_run(
            experiment=args.experiment,
            run_name=args.run_name,
            tags=standard_tags(cfg, run_type="train", extra={"mage.local": "true"}),
            fallback_dir=out,
        )
        (out / RUN_ID_FILE).write_text(logger.run_id)
    with logger:
        if resume is None:
            logger.log_config(cfg)
        from mage.loop import TimeLimitReached
        from mage.pipeline import run_local

        try:
            ckpt = run_local(
                cfg,
                out / "checkpoint",
                log_fn=lambda m: logger.log_metrics(m, step=int(m["epoch"])),
                progress=True,
                state_dir=state_dir,
                resume_state=resume,
                deadline=None if args.time_limit is None else t_start + args.time_limit,
                finish_at_deadline=args.finish_at_limit,
            )
        except TimeLimitReached as e:  # the state of the last epoch is in state_dir: say how to go on
            if not state_dir.exists():
                raise TimeLimitReached(
                    f"{e}, before any epoch ended: nothing to resume; raise --time-limit"
                ) from None
            raise TimeLimitReached(
                f"{e}; its state is in {state_dir}: continue with the same command and --out {out} --resume"
            ) from None
        train_s = time.perf_counter() - t0
        metrics: dict[str, float] = {"time/train_s": train_s}
        _record_time_limit(logger, cfg, ckpt, metrics)
        if isinstance(logger, JsonlLogger):
            logger.log_artifacts(ckpt, "checkpoint")
        else:
            from mage.tracking.mlflow_logger import log_checkpoint

            log_checkpoint(logger, ckpt, "checkpoint")
        if not args.no_eval:
            from mage.eval.jobs import EPISODE_COLUMNS, in_process
            from mage.eval.protocol import EvalProtocol
            from mage.tracking.evaluation import evaluate_with_config

            device = cfg.train.device
            if device == "auto":
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            ev = evaluate_with_config(ckpt, cfg, runner=in_process(device), log=False)
            metrics.update(ev.metrics)
            logger.set_tags(EvalProtocol.from_config(cfg.eval).tags())
            logger.log_table(ev.episodes[EPISODE_COLUMNS], "eval/episodes.parquet")
            print_scores(metrics, cfg.data.dataset)
        metrics["time/total_s"] = time.perf_counter() - t0
        logger.log_metrics(metrics)
    print(f"checkpoint: {ckpt}")
    print(f"train wall time: {train_s:.1f} s (total {metrics['time/total_s']:.1f} s)")
    if mlflow_available():
        print(f"MLflow run id: {logger.run_id}")
        print(ui_hint())
    else:
        print(f"run id: {logger.run_id} (mlflow not installed; log written to {out / 'run.jsonl'})")
    return 0
