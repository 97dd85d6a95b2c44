"""`mage runs clean`: mark RUNNING runs whose process is gone as KILLED (the reaper every entry point runs)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("runs", help="maintain the MLflow store (runs clean)")
    sub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    c = sub.add_parser(
        "clean",
        help="mark RUNNING runs of processes that are gone as KILLED",
        description="Every run records the process that created it (tag mage.owner). Runs still RUNNING whose "
        "process on this host is gone (killed, crashed) are marked KILLED with the reason in mage.error. "
        "Runs owned by other hosts are left alone. mage train, mage evaluate and every sweep do this at start.",
    )
    c.add_argument(
        "--tracking-uri", default=None, help="MLflow store (default $MLFLOW_TRACKING_URI or mlruns.db)"
    )
    c.add_argument("--dry-run", action="store_true", help="list the stale runs, change nothing")
    c.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    from mage.tracking.reaper import reap_stale_runs

    stale = reap_stale_runs(args.tracking_uri, dry_run=args.dry_run)
    verb = "would mark" if args.dry_run else "marked"
    print(f"{verb} {len(stale)} run(s) KILLED" + (f": {' '.join(stale)}" if stale else ""))
    return 0
