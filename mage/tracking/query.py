"""The one reader of the MLflow store: runs, metric histories, artifacts and episodes as tidy pandas tables.

Every call takes an explicit ``tracking_uri`` (default: ``mage.tracking.store.default_tracking_uri()``).
Schema: docs/architecture.md, "MLflow layout".

- ``search_runs``: one row per run, uncached (sweeps read the runs they are writing).
- ``load_runs`` / ``load_experiment_episodes``: the same run rows, and one row per evaluation episode, cached as
  parquet by store version (``mage.tracking.cache``); NoRunsError naming the experiments that do exist when
  nothing matches. What ``analysis/`` reads.
- ``metric_history``, ``list_artifacts``, ``download_artifacts``, ``load_episodes`` (one run), ``get_run``.

Run rows: ``RUN_COLUMNS``, the short typed ``COLUMNS`` (``method``, ``dataset``, ``K``, ``seed``, ``V``, ...;
missing values are None/NA/NaN), then ``params.<key>``, ``metrics.<key>`` (latest value), ``tags.<key>``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mage.tracking import cache as _cache
from mage.tracking.store import default_tracking_uri

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

EPISODES_ARTIFACT = "eval/episodes.parquet"
RUN_COLUMNS = ["run_id", "run_name", "experiment", "experiment_id", "status", "start_time", "end_time",
               "duration_s", "parent_run_id", "artifact_uri"]  # fmt: skip

# The one map from short, typed column names to MLflow columns (tags are strings in MLflow, params too).
# Every table of the platform (sweep results, analysis) names these columns the same way.
COLUMNS: dict[str, tuple[str, type]] = {
    "run_type": ("tags.mage.run_type", str),
    "sweep": ("tags.mage.sweep", str),
    "method": ("tags.mage.method", str),
    "dataset": ("tags.mage.dataset", str),
    "K": ("tags.mage.K", int),
    "seed": ("tags.mage.seed", int),
    "ablation": ("tags.mage.ablation", str),
    "rtg_kind": ("tags.mage.rtg_kind", str),
    "rtg_value": ("tags.mage.rtg_value", float),
    "source_run_id": ("tags.mage.source_run_id", str),
    # The evaluation protocol (mage.eval.protocol.EvalProtocol.tags; docs/protocol.md), as tagged: track "R"|"G",
    # acting "own"|"track", hold "true"|"false" (a string: bool("false") would be True). None on runs from
    # before the tags; analysis.tables.with_protocol reads those as R / own / no hold.
    "track": ("tags.mage.track", str),
    "acting": ("tags.mage.acting", str),
    "hold": ("tags.mage.hold", str),
    "budget": ("tags.mage.budget", str),  # a MAGE checkpoint's training steps and batch
    "row": ("tags.mage.row", str),  # `mage evaluate --row-name`: a table row of its own
    "trained_on": ("tags.mage.trained_on", str),  # the dataset a MAGE checkpoint was trained on
    "transfer": ("tags.mage.transfer", str),  # "true": evaluated on other data (`--allow-other-data`)
    "variant": ("tags.mage.variant", str),  # "goal": a goal-conditioned MAGE checkpoint's evaluation
    "use_goal": ("params.transformer.use_goal", str),  # the same on a training run ("True" / "False")
    "V": ("params.tokenizer.codebook_size", int),
    "codebook_init": ("params.tokenizer.codebook_init", str),  # None on runs from before the switch: uniform
    "depth": ("params.transformer.depth", int),
    "H": ("params.data.horizon", int),
    "lam_tok": ("params.tokenizer.lambda_cond", float),
    "lam_pol": ("params.policy.lambda_cond", float),
    "lr": ("params.train.policy_lr", float),
}
# Run columns carried onto every episode row: the run's identity and its short mage.* tag columns.
EPISODE_RUN_COLUMNS = (
    "run_id",
    "run_name",
    "experiment",
    "parent_run_id",
    *(short for short, (col, _) in COLUMNS.items() if col.startswith("tags.")),
)


class NoRunsError(LookupError):
    """The store has no runs matching the request; the message lists the experiments that do exist."""


def _client(tracking_uri: str | None, *, must_exist: bool = False) -> Any:
    uri = tracking_uri or default_tracking_uri()
    path = _cache.sqlite_path(uri)
    if must_exist and path is not None and not path.exists():
        # MlflowClient would silently create an empty store; a typo in the URI should fail instead.
        raise NoRunsError(f"no MLflow store at {uri} (file {path} does not exist)")
    from mlflow.tracking import MlflowClient  # deferred: mlflow import costs ~2 s

    return MlflowClient(tracking_uri=uri)


# ----------------------------------------------------------------------------------------------------------
# Run rows


def _numeric_if_possible(col: pd.Series) -> pd.Series:
    """Params are strings in MLflow; give numeric columns a numeric dtype when every value parses."""
    converted = pd.to_numeric(col, errors="coerce")
    if converted.notna().sum() == col.notna().sum():
        return converted
    return col


def _convert(value: Any, typ: type) -> Any:
    """A tag/param string as `typ`; None when missing or unparsable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return typ(float(value)) if typ is int else typ(value)
    except (TypeError, ValueError):
        return None


def _run_row(r: Any, exp_names: dict[str, str]) -> dict[str, Any]:
    info, data = r.info, r.data
    tags = data.tags
    row: dict[str, Any] = {
        "run_id": info.run_id,
        "run_name": info.run_name or tags.get("mlflow.runName"),
        "experiment": exp_names.get(info.experiment_id),
        "experiment_id": info.experiment_id,
        "status": info.status,
        "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
        "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True) if info.end_time else pd.NaT,
        "duration_s": (info.end_time - info.start_time) / 1000 if info.end_time else float("nan"),
        "parent_run_id": tags.get("mlflow.parentRunId"),
        "artifact_uri": info.artifact_uri,
    }
    flat: dict[str, Any] = {f"params.{k}": v for k, v in data.params.items()}
    flat.update({f"metrics.{k}": float(v) for k, v in data.metrics.items()})
    flat.update({f"tags.{k}": v for k, v in tags.items()})
    row.update({short: _convert(flat.get(col), typ) for short, (col, typ) in COLUMNS.items()})
    row.update(flat)
    return row


def _runs_frame(
    client: Any,
    exp_names: dict[str, str],
    filter_string: str,
    *,
    max_results: int | None = None,
    order_by: list[str] | None = None,
    numeric_params: bool = True,
) -> pd.DataFrame:
    """Every run of the experiments ``exp_names`` (id -> name) matching the filter, oldest first."""
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.search_runs(
            list(exp_names),
            filter_string=filter_string,
            max_results=1000 if max_results is None else min(max_results - len(rows), 1000),
            page_token=token,
            order_by=order_by,
        )
        rows.extend(_run_row(r, exp_names) for r in page)
        token = page.token
        if not token or (max_results is not None and len(rows) >= max_results):
            break
    if not rows:
        return pd.DataFrame(columns=[*RUN_COLUMNS, *COLUMNS])
    df = pd.DataFrame(rows)
    for short, (_, typ) in COLUMNS.items():
        if typ is int:
            df[short] = df[short].astype("Int64")
        elif typ is float:
            df[short] = df[short].astype("float64")
    if numeric_params:
        for c in df.columns:
            if c.startswith("params."):
                df[c] = _numeric_if_possible(df[c])
    fixed = [*RUN_COLUMNS, *COLUMNS]
    rest = sorted(c for c in df.columns if c not in fixed)
    return df[fixed + rest].sort_values("start_time", ignore_index=True, kind="stable")


def _names(experiments: str | Iterable[str]) -> list[str]:
    return [experiments] if isinstance(experiments, str) else list(experiments)


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
    """Runs as a DataFrame (module docstring); numeric params get a numeric dtype.

    ``experiments``: names (None = all); ``run_type`` filters on the tag ``mage.run_type``;
    ``parent_run_id`` keeps the children of one run. Unknown experiment names are skipped.
    """
    client = _client(tracking_uri)
    if experiments is None:
        exps = client.search_experiments()
    else:
        exps = [e for e in (client.get_experiment_by_name(n) for n in _names(experiments)) if e is not None]
    if not exps:
        return pd.DataFrame(columns=[*RUN_COLUMNS, *COLUMNS])

    clauses = [filter_string] if filter_string else []
    if run_type:
        clauses.append(f"tags.`mage.run_type` = '{run_type}'")
    if parent_run_id:
        clauses.append(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    if not include_failed:
        clauses.append("attributes.status != 'FAILED'")
    names = {e.experiment_id: e.name for e in exps}
    return _runs_frame(client, names, " and ".join(clauses), max_results=max_results)


# ----------------------------------------------------------------------------------------------------------
# Cached tables for analysis: load_runs, load_experiment_episodes


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


def load_runs(
    experiments: str | Sequence[str],
    tracking_uri: str | None = None,
    *,
    filter_string: str = "",
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Every run of `experiments` (names), cached; params stay strings as MLflow stores them (read knobs
    through the typed ``COLUMNS``). Raises NoRunsError when nothing matches or the sqlite file is missing."""
    names = _names(experiments)
    uri = tracking_uri or default_tracking_uri()
    client = _client(uri, must_exist=True)
    exps = _experiments(client, uri, names)
    version = _cache.store_version(client, uri, exps) if cache else None

    def build() -> pd.DataFrame:
        exp_names = {e.experiment_id: e.name for e in exps}
        df = _runs_frame(
            client, exp_names, filter_string, order_by=["attributes.start_time ASC"], numeric_params=False
        )
        if df.empty:
            raise NoRunsError(_no_runs_message(client, uri, names, filter_string))
        return df

    return _cache.cached("runs", [uri, names, filter_string], version, cache_dir, build)


def load_experiment_episodes(
    experiments: str | Sequence[str],
    tracking_uri: str | None = None,
    *,
    filter_string: str = "",
    runs: pd.DataFrame | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """One row per evaluation episode of the runs that have ``eval/episodes.parquet``, cached.

    Columns: the artifact's (``episode, env_seed, return, length, success, norm_score, ...``) plus
    EPISODE_RUN_COLUMNS from the run (where the artifact lacks them). `runs` restricts to those runs
    (default: ``load_runs`` of the same query).
    """
    names = _names(experiments)
    uri = tracking_uri or default_tracking_uri()
    client = _client(uri, must_exist=True)
    exps = _experiments(client, uri, names)
    if runs is None:
        runs = load_runs(names, uri, filter_string=filter_string, cache=cache, cache_dir=cache_dir)
    version = _cache.store_version(client, uri, exps) if cache else None
    ident = [uri, names, filter_string, sorted(runs["run_id"])]
    return _cache.cached("episodes", ident, version, cache_dir, lambda: _episodes_frame(client, uri, runs))


def _has_artifact(client: Any, run_id: str, path: str) -> bool:
    folder, _, _ = path.rpartition("/")
    return any(f.path == path for f in client.list_artifacts(run_id, folder or None))


def _episodes_frame(client: Any, uri: str, runs: pd.DataFrame) -> pd.DataFrame:
    frames = []
    keep = [c for c in EPISODE_RUN_COLUMNS if c in runs.columns]
    for i, run_id in enumerate(runs["run_id"]):
        if not _has_artifact(client, run_id, EPISODES_ARTIFACT):
            continue
        ep = load_episodes(run_id, tracking_uri=uri)
        info = runs.iloc[i]
        for col in keep:
            if col not in ep.columns:  # an artifact column of the same name wins over the run's tag
                ep[col] = info[col]
        frames.append(ep)
    if not frames:
        return pd.DataFrame(columns=["episode", "return", "norm_score", *keep])
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------------------
# One run: metrics, artifacts


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
        path = download_artifacts(run_id, EPISODES_ARTIFACT, tmp, tracking_uri=tracking_uri)
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
