"""The parquet cache of the reader's tables (``mage.tracking.query``), keyed by query and store version.

A cached table is ``<cache_dir>/<kind>-<query hash>-<version hash>.parquet``; writing a new version of a query
removes that query's older files. ``store_version`` asks the reader's client whether the runs may have changed
(None = do not cache). This module imports no MLflow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mage.tracking.store import project_root

# Part of every cache key: bump it when the reader's columns change, so older files are never served.
SCHEMA = 4


def default_cache_dir() -> Path:
    return project_root() / "analysis" / "out" / "cache"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store URI, else None."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])
    return None


def store_version(client: Any, uri: str, experiments: Sequence[Any]) -> str | None:
    """A string that changes whenever the runs of `experiments` may have changed; None means "do not cache".

    `client` is the reader's ``MlflowClient`` (``mage.tracking.query`` opens it). The parts: the experiments'
    last-update times, then the sqlite file's mtime and size for a sqlite store (any write invalidates), else
    the latest run start/end times. None while a run is still RUNNING.
    """
    ids = [e.experiment_id for e in experiments]
    if client.search_runs(ids, filter_string="attributes.status = 'RUNNING'", max_results=1):
        return None  # still being written
    parts: list[Any] = [sorted((e.experiment_id, e.last_update_time) for e in experiments)]
    path = sqlite_path(uri)
    if path is not None and path.exists():
        st = path.stat()
        parts += [st.st_mtime_ns, st.st_size]
    else:
        for order in ("attributes.start_time DESC", "attributes.end_time DESC"):
            last = client.search_runs(ids, max_results=1, order_by=[order])
            parts.append([(r.info.run_id, r.info.start_time, r.info.end_time) for r in last])
    return json.dumps(parts, default=str)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, default=str).encode()).hexdigest()[:16]


def cache_path(cache_dir: Path, kind: str, ident: Any, version: str) -> tuple[Path, str]:
    """(file of this query at this store version, the file-name prefix shared by all its versions)."""
    prefix = f"{kind}-{_digest([SCHEMA, ident])}"
    vh = hashlib.sha256(version.encode()).hexdigest()[:16]
    return cache_dir / f"{prefix}-{vh}.parquet", prefix


def write(df: pd.DataFrame, path: Path, prefix: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{prefix}-*.parquet"):  # older versions of the same query
        old.unlink(missing_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file


def cached(
    kind: str,
    ident: Any,
    version: str | None,
    cache_dir: str | Path | None,
    build: Callable[[], pd.DataFrame],
) -> pd.DataFrame:
    """The cached table of (kind, ident) at `version`, else ``build()`` (stored unless `version` is None)."""
    if version is None:
        return build()
    path, prefix = cache_path(Path(cache_dir or default_cache_dir()), kind, ident, version)
    if path.exists():
        return pd.read_parquet(path)
    df = build()
    write(df, path, prefix)
    return df
