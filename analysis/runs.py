"""MLflow store -> tidy pandas tables, cached as parquet.

Two shapes (schema: docs/architecture.md, "MLflow layout"):

- ``load_runs``: one row per run; ``params.*``, ``metrics.*`` and ``tags.*`` flattened into columns, plus short
  typed columns for the ``mage.*`` tags (``method``, ``dataset``, ``K``, ``seed``, ``rtg_kind``, ...).
- ``load_episodes``: one row per evaluation episode, read from each run's ``eval/episodes.parquet`` and joined
  with the run's identifying columns.

Both are cached under ``analysis/out/cache`` keyed by (store URI, experiments, filter, store version). The
version is the sqlite file's mtime and size for a sqlite store (any write invalidates), otherwise the latest
run start/end time and the experiments' last-update times; nothing is cached while a run is still RUNNING.
This module reads MLflow only; it never imports model code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mage.tracking.store import default_tracking_uri, project_root

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per run is noise

EPISODES_ARTIFACT = "eval/episodes.parquet"
# mage.* tags copied to short columns, with their types (tags are strings in MLflow).
TAG_COLUMNS: dict[str, tuple[str, type]] = {
    "mage.run_type": ("run_type", str),
    "mage.sweep": ("sweep", str),
    "mage.method": ("method", str),
    "mage.dataset": ("dataset", str),
    "mage.K": ("K", int),
    "mage.seed": ("seed", int),
    "mage.ablation": ("ablation", str),
    "mage.rtg_kind": ("rtg_kind", str),
    "mage.rtg_value": ("rtg_value", float),
    "mage.source_run_id": ("source_run_id", str),
}
# Run columns carried onto every episode row.
EPISODE_RUN_COLUMNS = (
    "run_id",
    "run_name",
    "experiment",
    "parent_run_id",
    *(c for c, _ in TAG_COLUMNS.values()),
)


class NoRunsError(LookupError):
    """The store has no runs matching the request; the message lists the experiments that do exist."""


def resolve_uri(tracking_uri: str | None) -> str:
    return tracking_uri or default_tracking_uri()


def default_cache_dir() -> Path:
    return project_root() / "analysis" / "out" / "cache"


def _client(uri: str) -> Any:
    path = _sqlite_path(uri)
    if path is not None and not path.exists():
        # MlflowClient would silently create an empty store; a typo in the URI should fail instead.
        raise NoRunsError(f"no MLflow store at {uri} (file {path} does not exist)")
    from mlflow.tracking import MlflowClient  # deferred: mlflow import costs ~2 s

    return MlflowClient(tracking_uri=uri)


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])
    return None


def _experiments(client: Any, uri: str, names: Sequence[str]) -> list[Any]:
    """Experiments by name; raise NoRunsError naming the ones that exist when none of `names` does."""
    found = [e for e in (client.get_experiment_by_name(n) for n in names) if e is not None]
    if not found:
        raise NoRunsError(_no_runs_message(client, uri, names, ""))
    return found


def _no_runs_message(client: Any, uri: str, names: Sequence[str], filter_string: str) -> str:
    from mlflow.entities import ViewType

    existing = []
    for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
        n = len(client.search_runs([e.experiment_id], max_results=1000))
        existing.append(f"{e.name} ({n}{'+' if n == 1000 else ''} runs)")
    where = f" matching filter {filter_string!r}" if filter_string else ""
    return (
        f"no runs in experiment(s) {', '.join(repr(n) for n in names)}{where} in store {uri}; "
        f"experiments in this store: {', '.join(existing) if existing else 'none'}"
    )


def store_version(client: Any, uri: str, experiments: Sequence[Any]) -> str | None:
    """A string that changes whenever the runs of `experiments` may have changed; None means "do not cache"."""
    ids = [e.experiment_id for e in experiments]
    if client.search_runs(ids, filter_string="attributes.status = 'RUNNING'", max_results=1):
        return None  # still being written
    parts: list[Any] = [sorted((e.experiment_id, e.last_update_time) for e in experiments)]
    path = _sqlite_path(uri)
    if path is not None and path.exists():
        st = path.stat()
        parts += [st.st_mtime_ns, st.st_size]
    else:
        for order in ("attributes.start_time DESC", "attributes.end_time DESC"):
            last = client.search_runs(ids, max_results=1, order_by=[order])
            parts.append([(r.info.run_id, r.info.start_time, r.info.end_time) for r in last])
    return json.dumps(parts, default=str)


def _cache_paths(cache_dir: Path, kind: str, ident: Any, version: str) -> tuple[Path, str]:
    prefix = f"{kind}-{hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()[:16]}"
    vh = hashlib.sha256(version.encode()).hexdigest()[:16]
    return cache_dir / f"{prefix}-{vh}.parquet", prefix


def _write_cache(df: pd.DataFrame, path: Path, prefix: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{prefix}-*.parquet"):  # older versions of the same query
        old.unlink(missing_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file


def _convert(value: str | None, typ: type) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return typ(float(value)) if typ is int else typ(value)
    except (TypeError, ValueError):
        return None


def _runs_frame(client: Any, experiments: Sequence[Any], filter_string: str) -> pd.DataFrame:
    names = {e.experiment_id: e.name for e in experiments}
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.search_runs(
            list(names),
            filter_string=filter_string,
            max_results=1000,
            page_token=token,
            order_by=["attributes.start_time ASC"],
        )
        for r in page:
            tags = r.data.tags
            row: dict[str, Any] = {
                "run_id": r.info.run_id,
                "run_name": r.info.run_name or tags.get("mlflow.runName"),
                "experiment": names[r.info.experiment_id],
                "experiment_id": r.info.experiment_id,
                "status": r.info.status,
                "start_time": pd.to_datetime(r.info.start_time, unit="ms", utc=True),
                "end_time": pd.to_datetime(r.info.end_time, unit="ms", utc=True)
                if r.info.end_time
                else pd.NaT,
                "parent_run_id": tags.get("mlflow.parentRunId"),
                "artifact_uri": r.info.artifact_uri,
            }
            for tag, (col, typ) in TAG_COLUMNS.items():
                row[col] = _convert(tags.get(tag), typ)
            row.update({f"params.{k}": v for k, v in r.data.params.items()})
            row.update({f"metrics.{k}": float(v) for k, v in r.data.metrics.items()})
            row.update({f"tags.{k}": v for k, v in tags.items()})
            rows.append(row)
        token = page.token
        if not token:
            break
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for col, typ in TAG_COLUMNS.values():
        if typ is int:
            df[col] = df[col].astype("Int64")
        elif typ is float:
            df[col] = df[col].astype("float64")
    return df


def load_runs(
    experiments: str | Sequence[str],
    tracking_uri: str | None = None,
    *,
    filter_string: str = "",
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """One row per run of `experiments` (names). Raises NoRunsError when nothing matches."""
    names = [experiments] if isinstance(experiments, str) else list(experiments)
    uri = resolve_uri(tracking_uri)
    client = _client(uri)
    exps = _experiments(client, uri, names)
    version = store_version(client, uri, exps) if cache else None
    if version is not None:
        path, prefix = _cache_paths(
            Path(cache_dir or default_cache_dir()), "runs", [uri, names, filter_string], version
        )
        if path.exists():
            return pd.read_parquet(path)
    df = _runs_frame(client, exps, filter_string)
    if df.empty:
        raise NoRunsError(_no_runs_message(client, uri, names, filter_string))
    if version is not None:
        _write_cache(df, path, prefix)
    return df


def load_episodes(
    experiments: str | Sequence[str],
    tracking_uri: str | None = None,
    *,
    filter_string: str = "",
    runs: pd.DataFrame | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """One row per evaluation episode of the runs that have ``eval/episodes.parquet``.

    Columns: the artifact's (``episode, env_seed, return, length, success, norm_score, ...``) plus
    EPISODE_RUN_COLUMNS from the run. `runs` restricts to those runs (default: ``load_runs`` of the same query).
    """
    names = [experiments] if isinstance(experiments, str) else list(experiments)
    uri = resolve_uri(tracking_uri)
    client = _client(uri)
    exps = _experiments(client, uri, names)
    if runs is None:
        runs = load_runs(names, uri, filter_string=filter_string, cache=cache, cache_dir=cache_dir)
    version = store_version(client, uri, exps) if cache else None
    ident = [uri, names, filter_string, sorted(runs["run_id"])]
    if version is not None:
        path, prefix = _cache_paths(Path(cache_dir or default_cache_dir()), "episodes", ident, version)
        if path.exists():
            return pd.read_parquet(path)
    df = _episodes_frame(client, uri, runs)
    if version is not None:
        _write_cache(df, path, prefix)
    return df


def _has_artifact(client: Any, run_id: str, path: str) -> bool:
    folder, _, name = path.rpartition("/")
    return any(f.path == path for f in client.list_artifacts(run_id, folder or None))


def _episodes_frame(client: Any, uri: str, runs: pd.DataFrame) -> pd.DataFrame:
    import mlflow.artifacts

    frames = []
    keep = [c for c in EPISODE_RUN_COLUMNS if c in runs.columns]
    with tempfile.TemporaryDirectory(prefix="mage-episodes-") as tmp:
        for i, run in enumerate(runs.itertuples(index=False)):
            if not _has_artifact(client, run.run_id, EPISODES_ARTIFACT):
                continue
            local = mlflow.artifacts.download_artifacts(
                run_id=run.run_id,
                artifact_path=EPISODES_ARTIFACT,
                dst_path=os.path.join(tmp, str(i)),
                tracking_uri=uri,
            )
            ep = pd.read_parquet(local)
            info = runs.iloc[i]
            for col in keep:
                # the run's own tag wins over a same-named artifact column only when the artifact lacks it
                if col not in ep.columns:
                    ep[col] = info[col]
            frames.append(ep)
    if not frames:
        return pd.DataFrame(columns=["episode", "return", "norm_score", *keep])
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------------------
# Statistics shared by the reports.


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float, int]:
    """(mean, half-width of the Student-t confidence interval, n); the half-width is NaN for n < 2."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, n
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    return mean, float(stats.t.ppf(0.5 + level / 2, n - 1)) * sem, n


def fmt_pm(mean: float, ci: float, digits: int = 1) -> str:
    """'12.3 ± 4.5', or '12.3' when the CI is undefined, or '—' when there is no value."""
    if mean is None or math.isnan(mean):
        return "—"
    if ci is None or math.isnan(ci):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Fail with one message naming every missing column (a store written with another schema)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise NoRunsError(
            f"{what}: the runs lack {', '.join(missing)} (see docs/architecture.md, MLflow layout)"
        )


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub markdown table without the optional `tabulate` dependency."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")
