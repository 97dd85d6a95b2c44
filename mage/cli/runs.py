"""`mage runs clean`: mark RUNNING runs whose process is gone as KILLED (the reaper every entry point runs) and
remove the temporaries that killed writers left (``<name>.<pid>.<random>.tmp``, see ``mage.fsutil``) and the
session dirs of embedded Rays killed with SIGKILL (``mage.distributed.ray_init.stale_ray_temp_dirs``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("runs", help="maintain the MLflow store (runs clean)")
    sub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    c = sub.add_parser(
        "clean",
        help="mark RUNNING runs of processes that are gone as KILLED; remove stale temporaries",
        description="Every run records the process that created it (tag mage.owner). Runs still RUNNING whose "
        "process on this host is gone (killed, crashed) are marked KILLED with the reason in mage.error. "
        "Runs owned by other hosts are left alone. mage train, mage evaluate and every sweep do this at start. "
        "It also removes the temporaries (<name>.<pid>.<random>.tmp / .old) that writers killed mid-write left "
        "in the data directory, the project's runs/ and ray_results/ (and every --path): only those whose pid "
        "is not a live process here and that are older than --min-age seconds, and the session dirs "
        "(/tmp/mr-*) that embedded Rays killed with SIGKILL left: those no live process names.",
    )
    c.add_argument(
        "--tracking-uri", default=None, help="MLflow store (default $MLFLOW_TRACKING_URI or mlruns.db)"
    )
    c.add_argument("--dry-run", action="store_true", help="list what is stale, change nothing")
    c.add_argument(
        "--path", action="append", default=[], type=Path, help="another directory to sweep (repeatable)"
    )
    c.add_argument(
        "--min-age", type=float, default=600.0, help="seconds a temporary must be old to count (default 600)"
    )
    c.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    from mage.data.d4rl_io import data_dir
    from mage.distributed.ray_init import stale_ray_temp_dirs
    from mage.fsutil import project_root, remove_path, stale_temporaries
    from mage.tracking.reaper import reap_stale_runs

    stale = reap_stale_runs(args.tracking_uri, dry_run=args.dry_run)
    verb = "would mark" if args.dry_run else "marked"
    print(f"{verb} {len(stale)} run(s) KILLED" + (f": {' '.join(stale)}" if stale else ""))
    roots = [data_dir(), project_root() / "runs", project_root() / "ray_results", *args.path]
    temps = stale_temporaries(roots, min_age_s=args.min_age) + stale_ray_temp_dirs(min_age_s=args.min_age)
    for t in temps:
        if not args.dry_run:
            remove_path(t)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {len(temps)} stale temporar{'y' if len(temps) == 1 else 'ies'}"
        + "".join(f"\n  {t}" for t in temps)
    )
    return 0
