"""`mage validate`: a checkpoint's validation numbers on its own held-out windows, with today's metrics
(``mage.policy.validate``); ``--run-id`` adds the ones its MLflow run lacks, so the analyses read them."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="re-measure a checkpoint's validation losses and plan error on its held-out windows",
        description="Rebuilds the checkpoint's train/validation split from its config and prints tok/val_* "
        "and pol/val_* (incl. pol/val_plan_mse, the greedy plan's state error, comparable across K) over the "
        "same validation batches its training averaged. With --run-id, logs the metrics that run does not "
        "have yet (its own values are kept; tok/* only for a tokenizer-only checkpoint, since stage 2 moves the decoder's "
        "adapters) and tags it mage.revalidated.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint directory (mage train --out)")
    p.add_argument(
        "--batches", type=int, default=None, help="validation batches (default: train.val_batches)"
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument(
        "--run-id", default=None, help="MLflow run of this checkpoint's training: log what it lacks"
    )
    p.add_argument(
        "--tracking-uri", default=None, help="MLflow store (default $MLFLOW_TRACKING_URI or mlruns.db)"
    )
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from mage.policy.validate import validate_checkpoint

    if not (args.checkpoint / "config.json").is_file():
        raise FileNotFoundError(
            f"--checkpoint {args.checkpoint}: no config.json there; pass a checkpoint directory "
            "(the --out of mage train, or a checkpoint_* folder of a Ray Train fit)"
        )
    metrics = validate_checkpoint(args.checkpoint, batches=args.batches, device=args.device)
    for k in sorted(metrics):
        print(f"{k} {metrics[k]:.6g}")
    if args.run_id:
        from mage.tracking.mlflow_logger import RunLogger

        run = RunLogger.attach(args.run_id, tracking_uri=args.tracking_uri)
        have = run.client.get_run(args.run_id).data.metrics
        # with a policy, tok/* describe the tokenizer after stage 2 moved its decoder's adapters, not stage 1's
        staged = any(k.startswith("pol/") for k in metrics)
        new = {k: v for k, v in metrics.items() if k not in have and not (staged and k.startswith("tok/"))}
        run.log_metrics(new)
        run.set_tags({"mage.revalidated": str(args.checkpoint)})
        print(f"logged {len(new)} new metric(s) to run {args.run_id}; kept its own {len(metrics) - len(new)}")
    return 0
