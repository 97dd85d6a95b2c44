"""What every report script shares: command line, markdown file, printed summary, files attached to a run.

Attaching goes through ``mage.tracking.mlflow_logger.RunLogger``; reading through ``mage.tracking.query``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import plotting
from mage.errors import guarded
from mage.tracking.store import check_tracking_reachable

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per run's episodes is noise


def write_markdown(path: Path, title: str, experiments: Sequence[str], md: str, note: str = "") -> Path:
    """``# <title> (<experiments>)``, an optional note paragraph, then the table."""
    head = f"# {title} ({', '.join(experiments)})\n\n" + (f"{note}\n\n" if note else "")
    path.write_text(f"{head}{md}\n")
    return path


def announce(md: str, files: Sequence[Path]) -> None:
    """Print the table and the files written."""
    print(md)
    print(f"\nwrote {', '.join(str(f) for f in files)}")


def log_to_parent(
    tracking_uri: str, parents: pd.Series, files: Sequence[Path], *, missing: str, run_id: str | None = None
) -> None:
    """Attach ``files`` under ``plots/`` to ``run_id``, else to the last of ``parents`` (run ids, oldest
    first); with no parents, say so (``--log-to-mlflow: <missing>; nothing logged``) and log nothing."""
    from mage.tracking.mlflow_logger import RunLogger

    if parents.empty:
        print(f"--log-to-mlflow: {missing}; nothing logged", file=sys.stderr)
        return
    target = run_id or parents.iloc[-1]
    run = RunLogger.attach(target, tracking_uri=tracking_uri)  # attached: the (finished) run stays as it is
    for f in files:
        run.log_artifact(f, "plots")
    print(f"logged {len(files)} files to run {target} under plots/")


def arg_parser(doc: str, *, experiment: str, name: str) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of ``doc``, with the flags every report shares."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument(
        "--experiment",
        action="append",
        default=None,
        help=f"MLflow experiment name (repeatable; default {experiment})",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite under the project)",
    )
    p.add_argument("--out", type=Path, default=None, help=f"output folder (default analysis/out/{name})")
    p.add_argument(
        "--filter", default="", help="extra MLflow search filter, e.g. \"tags.mage.method = 'mage'\""
    )
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write analysis/out/cache")
    return p


def run_cli(
    run: Callable[..., Any], args: argparse.Namespace, *, experiment: str, name: str, **kwargs: Any
) -> int:
    """Call a report's ``run`` with the shared flags (plus ``kwargs``) inside the platform's error boundary
    (``mage.errors.guarded``, as ``analysis/<name>.py``): a known error (no runs where it looked, an
    unreachable store, a missing file) is one line and exit status 1; anything else keeps its traceback."""

    def call() -> int:
        check_tracking_reachable(args.tracking_uri)  # seconds, not minutes of MLflow retries
        run(
            args.experiment or [experiment],
            args.tracking_uri,
            args.out or plotting.default_out(name),
            filter_string=args.filter,
            cache=not args.no_cache,
            **kwargs,
        )
        return 0

    return guarded(f"analysis/{name}.py", call)
