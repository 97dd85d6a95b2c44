"""Read the store back as tidy pandas tables (one row per run; one row per metric step).

Every call takes an explicit ``tracking_uri`` (default: ``mage.tracking.store.default_tracking_uri()``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mage.tracking.store import default_tracking_uri

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

RUN_COLUMNS = [
    "run_id",
    "run_name",
    "experiment",
    "experiment_id",
    "status",
    "start_time",
    "end_time",
    "duration_s",
    "parent_run_id",
    "artifact_uri",
]


def _client(tracking_uri: str | None):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri or default_tracking_uri())


def _numeric_if_possible(col: pd.Series) -> pd.Series:
    """Params are strings in MLflow; give numeric columns a numeric dtype when every value parses."""
    converted = pd.to_numeric(col, errors="coerce")
    if converted.notna().sum() == col.notna().sum():
        return converted
    return col


def search_runs(
    experiments: str | Iterable[str] | None = None,
    *,
    tracking_uri: str | None = None,
    filter_string: str = "",
    run_type: str | None = None,
    parent_run_id: str | None = None,
    include_failed: bool = True,
    max_results: int = 50_000,
) -> pd.DataFrame:
    """Runs as a DataFrame: ``RUN_COLUMNS`` then ``params.<key>``, ``metrics.<key>``, ``tags.<key>``.

    ``experiments``: names (None = all); ``run_type`` filters on the tag ``mage.run_type``;
    ``parent_run_id`` keeps the children of one run. Metrics are the latest value of each key.
    """
    client = _client(tracking_uri)
    if experiments is None:
        exps = client.search_experiments()
    else:
        names = [experiments] if isinstance(experiments, str) else list(experiments)
        exps = []
        for name in names:
            exp = client.get_experiment_by_name(name)
            if exp is not None:
                exps.append(exp)
    if not exps:
        return pd.DataFrame(columns=RUN_COLUMNS)
    exp_names = {e.experiment_id: e.name for e in exps}

    clauses = [filter_string] if filter_string else []
    if run_type:
        clauses.append(f"tags.`mage.run_type` = '{run_type}'")
    if parent_run_id:
        clauses.append(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    if not include_failed:
        clauses.append("attributes.status != 'FAILED'")
    query = " and ".join(clauses)

    rows = []
    token = None
    while True:
        page = client.search_runs(
            list(exp_names),
            filter_string=query,
            max_results=min(max_results - len(rows), 1000),
            page_token=token,
        )
        for r in page:
            info, data = r.info, r.data
            row = {
                "run_id": info.run_id,
                "run_name": info.run_name,
                "experiment": exp_names.get(info.experiment_id),
                "experiment_id": info.experiment_id,
                "status": info.status,
                "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
                "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True) if info.end_time else pd.NaT,
                "duration_s": (info.end_time - info.start_time) / 1000 if info.end_time else float("nan"),
                "parent_run_id": data.tags.get("mlflow.parentRunId"),
                "artifact_uri": info.artifact_uri,
            }
            row.update({f"params.{k}": v for k, v in data.params.items()})
            row.update({f"metrics.{k}": v for k, v in data.metrics.items()})
            row.update({f"tags.{k}": v for k, v in data.tags.items()})
            rows.append(row)
        token = page.token
        if not token or len(rows) >= max_results:
            break
    if not rows:
        return pd.DataFrame(columns=RUN_COLUMNS)
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c.startswith("params."):
            df[c] = _numeric_if_possible(df[c])
    fixed = [c for c in RUN_COLUMNS if c in df.columns]
    rest = sorted(c for c in df.columns if c not in fixed)
    return df[fixed + rest].sort_values("start_time", ignore_index=True)


def metric_history(
    run_ids: str | Iterable[str], keys: Iterable[str] | None = None, *, tracking_uri: str | None = None
) -> pd.DataFrame:
    """Long table ``run_id, key, step, value, timestamp`` of every logged value (all keys by default)."""
    client = _client(tracking_uri)
    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    rows = []
    for rid in ids:
        wanted = list(keys) if keys is not None else list(client.get_run(rid).data.metrics)
        for key in wanted:
            for m in client.get_metric_history(rid, key):
                rows.append(
                    {"run_id": rid, "key": key, "step": m.step, "value": m.value, "timestamp": m.timestamp}
                )
    cols = ["run_id", "key", "step", "value", "timestamp"]
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows, columns=cols).sort_values(["run_id", "key", "step"], ignore_index=True)


def list_artifacts(run_id: str, path: str | None = None, *, tracking_uri: str | None = None) -> list[str]:
    """Artifact file paths of a run, recursively (``checkpoint/config.json``, ``eval/episodes.parquet``)."""
    client = _client(tracking_uri)
    out: list[str] = []
    stack = [path]
    while stack:
        for f in client.list_artifacts(run_id, stack.pop()):
            if f.is_dir:
                stack.append(f.path)
            else:
                out.append(f.path)
    return sorted(out)


def download_artifacts(
    run_id: str, path: str, dst_dir: str | Path | None = None, *, tracking_uri: str | None = None
) -> Path:
    """Local copy of an artifact file or folder (``checkpoint``, ``eval/episodes.parquet``)."""
    from mlflow.artifacts import download_artifacts as _download

    dst = str(dst_dir) if dst_dir is not None else tempfile.mkdtemp(prefix="mage-art-")
    return Path(
        _download(
            run_id=run_id,
            artifact_path=path,
            dst_path=dst,
            tracking_uri=tracking_uri or default_tracking_uri(),
        )
    )


def load_episodes(run_id: str, *, tracking_uri: str | None = None) -> pd.DataFrame:
    """The per-episode evaluation table ``eval/episodes.parquet`` of a run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = download_artifacts(run_id, "eval/episodes.parquet", tmp, tracking_uri=tracking_uri)
        return pd.read_parquet(path)


def get_run(run_id: str, *, tracking_uri: str | None = None):
    """The MLflow ``Run`` (info, params, latest metrics, tags); a clear error for an unknown id."""
    from mlflow.exceptions import MlflowException

    try:
        return _client(tracking_uri).get_run(run_id)
    except MlflowException as e:
        uri = tracking_uri or default_tracking_uri()
        raise ValueError(
            f"run id {run_id!r} not found in the tracking store {uri}; check the id (mage ui lists runs) "
            "or set MLFLOW_TRACKING_URI to the store that holds it"
        ) from e
