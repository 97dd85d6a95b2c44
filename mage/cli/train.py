"""`mage train`, `mage evaluate`, `mage ui`.

    mage train --dataset maze2d-umaze-v1 --preset smoke --local     # one process, no Ray
    mage train --preset smoke --workers 2                           # Ray Train (embedded Ray or $RAY_ADDRESS)
    mage evaluate --run-id <id> --episodes 100 --rtg-percentile 90  # a child eval run of <id>
    mage ui                                                         # MLflow UI on 127.0.0.1:5000

Ray and MLflow are imported inside the handlers: `--local` runs where neither is installed (it then logs to
`<out>/run.jsonl` instead of MLflow).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train MAGE (both stages) on Ray Train or locally, then evaluate; logs to MLflow",
        description="Train the tokenizer (stage 1) and the transformer + inverse dynamics (stage 2), "
        "evaluate the result and log params, per-epoch metrics, checkpoint and scores to MLflow.",
    )
    p.add_argument("--dataset", default="maze2d-umaze-v1", help="dataset/task name (mage.envs.registry)")
    p.add_argument("--data-path", default=None, help="explicit D4RL-format HDF5 file (default: data dirs)")
    p.add_argument("--preset", default="paper", help="config preset: paper (default) or smoke")
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
    p.set_defaults(func=cmd_train)

    e = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained run or checkpoint on Ray rollout actors; logs a child eval run",
        description="Roll out a checkpoint (from --run-id's checkpoint/ artifact or --checkpoint) and log "
        "eval/episodes.parquet and eval/* metrics to a child run of the training run.",
    )
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--run-id", default=None, help="MLflow run id of a training run")
    src.add_argument("--checkpoint", default=None, help="checkpoint directory")
    e.add_argument("--episodes", type=int, default=100, help="episodes (default 100)")
    tgt = e.add_mutually_exclusive_group()
    tgt.add_argument("--rtg-percentile", type=float, default=None, help="R̂_0 percentile of dataset returns")
    tgt.add_argument("--target-return", type=float, default=None, help="absolute R̂_0")
    e.add_argument("--task", default=None, help="task to evaluate on (default: the checkpoint's dataset)")
    e.add_argument("--seed", type=int, default=0, help="env seed of episode 0 (episode i: seed + i)")
    e.add_argument("--num-envs", type=int, default=50, help="lockstep envs per batch (default 50)")
    e.add_argument("--actors", type=int, default=2, help="rollout actors (default 2)")
    e.add_argument("--local", action="store_true", help="roll out in this process, no Ray")
    e.add_argument("--device", default="cpu", help="agent device (cpu or cuda)")
    e.add_argument(
        "--rtg-update",
        choices=("decrement", "hold"),
        default=None,
        help="R̂ update after each step: decrement (DT) or hold R̂_0 (default: the checkpoint's eval.rtg_update)",
    )
    e.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: the run's, else mage-train)"
    )
    e.add_argument("--no-log", action="store_true", help="print the scores only")
    e.set_defaults(func=cmd_evaluate)

    u = subparsers.add_parser(
        "ui",
        help="start the MLflow UI on 127.0.0.1 over the default store",
        description="Run `mlflow server` (lean: 1 worker, no job execution) on 127.0.0.1 over the store that "
        "mage logs to (MLFLOW_TRACKING_URI or <project>/mlruns.db).",
    )
    u.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    u.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    u.set_defaults(func=cmd_ui)


# ----------------------------------------------------------------------------------------------------------
# helpers


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", ...]`` -> ``{"a.b": "1"}``; values are coerced by the config's types."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"error: --set {item!r} must look like KEY=VALUE (e.g. --set train.seed=1)")
        value = value.strip()
        out[key.strip()] = None if value.lower() in ("none", "null") else value
    return out


def build_config(args: argparse.Namespace):
    from mage.config import ConfigError, make_config

    overrides = {"data.dataset": args.dataset, **parse_overrides(args.overrides)}
    if args.data_path:
        overrides["data.path"] = args.data_path
    try:
        return make_config(args.preset, overrides)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None


def _ui_hint() -> str:
    from mage.tracking.store import default_tracking_uri

    uri = default_tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return "open the MLflow UI with `mage ui` (then http://127.0.0.1:5000)"


def _print_scores(metrics: dict[str, float]) -> None:
    ns, ci = metrics.get("eval/norm_score"), metrics.get("eval/norm_score_ci95")
    if ns is not None:
        print(
            f"normalised score {ns:.1f} ± {ci:.1f} (95% CI) over {int(metrics['eval/episodes'])} episodes, "
            f"return {metrics['eval/return_mean']:.1f}, success {metrics['eval/success_rate']:.2f}"
        )


# ----------------------------------------------------------------------------------------------------------
# mage train


def cmd_train(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    if args.local:
        if args.workers != 1 or args.gpus:
            raise SystemExit("error: --workers/--gpus need Ray; drop them or drop --local")
        return _train_local(cfg, args)
    from mage.distributed.ray_init import init_ray
    from mage.distributed.train import run_experiment

    t0 = time.perf_counter()
    init_ray()
    res = run_experiment(
        cfg,
        num_workers=args.workers,
        use_gpu=True if args.gpus else None,
        storage_path=args.out,
        experiment=args.experiment,
        run_name=args.run_name,
        tokenizer_from=args.tokenizer_from,
        evaluate=not args.no_eval,
        num_actors=args.actors,
    )
    _print_scores(res.metrics)
    print(f"checkpoint: {res.checkpoint_dir}")
    print(f"train wall time: {time.perf_counter() - t0:.1f} s")
    print(f"MLflow run id: {res.run_id}")
    print(_ui_hint())
    return 0


def _train_local(cfg, args: argparse.Namespace) -> int:
    """run_local + an in-process evaluation; MLflow if importable, else <out>/run.jsonl."""
    from mage.tracking.mlflow_logger import JsonlLogger, mlflow_available, standard_tags, start_run
    from mage.tracking.store import project_root

    if args.tokenizer_from:
        raise SystemExit("error: --tokenizer-from needs the Ray path; drop --local")
    t0 = time.perf_counter()
    out = Path(args.out or project_root() / "runs" / time.strftime("local-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    logger = start_run(
        experiment=args.experiment,
        run_name=args.run_name,
        tags=standard_tags(cfg, run_type="train", extra={"mage.local": "true"}),
        fallback_dir=out,
    )
    with logger:
        logger.log_config(cfg)
        from mage.training import run_local

        ckpt = run_local(
            cfg, out / "checkpoint", log_fn=lambda m: logger.log_metrics(m, step=int(m["epoch"]))
        )
        train_s = time.perf_counter() - t0
        metrics: dict[str, float] = {"time/train_s": train_s}
        if isinstance(logger, JsonlLogger):
            logger.log_artifacts(ckpt, "checkpoint")
        else:
            from mage.distributed.train import log_checkpoint

            log_checkpoint(logger, ckpt, "checkpoint")
        if not args.no_eval:
            from mage.distributed.rollouts import (
                EPISODE_COLUMNS,
                RolloutJob,
                resolve_target_return,
                run_jobs,
                summarize,
            )
            from mage.distributed.train import agent_kwargs_from_config

            device = cfg.train.device
            if device == "auto":
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            target = resolve_target_return(
                str(ckpt), target_return=cfg.eval.target_return, rtg_percentile=cfg.eval.rtg_percentile
            )
            job = RolloutJob(
                "mage", str(ckpt), cfg.data.dataset, cfg.eval.seed, target, cfg.eval.episodes,
                agent_kwargs_from_config(cfg),
            )  # fmt: skip
            df = run_jobs([job], num_actors=0, num_envs=cfg.eval.num_envs, device=device)
            metrics.update(summarize(df))
            logger.log_table(df[EPISODE_COLUMNS], "eval/episodes.parquet")
            _print_scores(metrics)
        metrics["time/total_s"] = time.perf_counter() - t0
        logger.log_metrics(metrics)
    print(f"checkpoint: {ckpt}")
    print(f"train wall time: {train_s:.1f} s (total {metrics['time/total_s']:.1f} s)")
    if mlflow_available():
        print(f"MLflow run id: {logger.run_id}")
        print(_ui_hint())
    else:
        print(f"run id: {logger.run_id} (mlflow not installed; log written to {out / 'run.jsonl'})")
    return 0


# ----------------------------------------------------------------------------------------------------------
# mage evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise SystemExit(f"error: --episodes {args.episodes} must be >= 1")
    if not args.local:
        from mage.distributed.ray_init import init_ray

        init_ray()
    pct = args.rtg_percentile
    if pct is None and args.target_return is None:
        pct = 100.0  # the paper's R̂_0: the best dataset return
    tags: dict[str, Any] = {}
    if args.rtg_percentile is not None:
        tags = {"mage.rtg_kind": "percentile", "mage.rtg_value": args.rtg_percentile}
    if args.rtg_update:
        tags["mage.rtg_update"] = args.rtg_update
    try:
        res = _evaluate(args, pct, tags)
    except (ValueError, FileNotFoundError) as e:  # wrong run id / checkpoint / task: one clear line
        raise SystemExit(f"error: {e}") from None
    _print_scores(res.metrics)
    print(f"target return: {res.metrics['eval/target_return']:.1f}")
    if res.run_id:
        print(f"MLflow run id: {res.run_id}" + (f" (child of {args.run_id})" if args.run_id else ""))
        print(_ui_hint())
    return 0


def _evaluate(args: argparse.Namespace, pct: float | None, tags: dict[str, Any]):
    from mage.distributed.rollouts import evaluate_checkpoint

    return evaluate_checkpoint(
        args.checkpoint,
        run_id=args.run_id,
        task=args.task,
        episodes=args.episodes,
        seed=args.seed,
        num_envs=min(args.num_envs, args.episodes),
        target_return=args.target_return,
        rtg_percentile=pct,
        num_actors=0 if args.local else args.actors,
        device=args.device,
        log=not args.no_log,
        child_run=args.run_id is not None,
        experiment=args.experiment,
        run_name=f"eval-{args.run_id[:8]}" if args.run_id else "eval",
        tags=tags,
        agent_kwargs={"rtg_update": args.rtg_update} if args.rtg_update else None,
    )


# ----------------------------------------------------------------------------------------------------------
# mage ui


def ui_command(port: int, host: str = "127.0.0.1") -> tuple[list[str], dict[str, str], str]:
    """(argv, env, url) of the lean MLflow server over the default store (spec platform.md §8)."""
    from mage.tracking.store import default_artifact_root, default_tracking_uri, project_root

    uri = default_tracking_uri()
    artifacts = default_artifact_root(uri) or (project_root() / "mlartifacts").as_uri()
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        artifacts,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    return argv, env, f"http://{host}:{port}"


def cmd_ui(args: argparse.Namespace) -> int:
    import subprocess

    from mage.tracking.store import default_tracking_uri

    uri = default_tracking_uri()
    if uri.startswith(("http://", "https://")):
        print(f"MLFLOW_TRACKING_URI points at a server already: open {uri}")
        return 0
    argv, env, url = ui_command(args.port, args.host)
    print(f"MLflow UI for {uri}: {url}  (Ctrl-C stops it)", flush=True)
    proc = subprocess.Popen(argv, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0
