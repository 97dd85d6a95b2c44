"""Loggers with ``RunLogger``'s interface for where MLflow is absent or unwanted: ``NoopLogger`` (other
Ray Train ranks) and ``JsonlLogger`` (``mage train --local`` without MLflow), and ``start_run`` choosing."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mage.tracking.context import DEFAULT_EXPERIMENT
from mage.tracking.mlflow_logger import RunLogger, _error_text, clean_metrics, flatten_params, interruption

if TYPE_CHECKING:
    import pandas as pd


class NoopLogger:
    """Logs nothing; for code paths that must run without any tracking (non-zero Ray ranks, tests)."""

    tracking_uri: str | None = None

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_config(self, cfg: Any) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        pass

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_table(self, df: pd.DataFrame, artifact_file: str) -> None:
        pass

    def end(self, status: str = "FINISHED") -> None:
        pass

    def fail(self, error: BaseException | str) -> None:
        pass

    def __enter__(self) -> NoopLogger:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        pass


class JsonlLogger(NoopLogger):
    """One JSON object per line in ``<out_dir>/run.jsonl``; artifacts are referenced by local path.

    The fallback when MLflow is not importable (a bare GPU box): the same events, readable with pandas.
    """

    def __init__(self, out_dir: str | Path, run_id: str | None = None) -> None:
        super().__init__(run_id or f"local-{uuid.uuid4().hex[:12]}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "run.jsonl"

    def _write(self, kind: str, **payload: Any) -> None:
        rec = {"time": time.time(), "run_id": self.run_id, "kind": kind, **payload}
        with self.path.open("a") as f:
            f.write(json.dumps(rec, default=str) + "\n")

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._write("params", params=flatten_params(params))

    def log_config(self, cfg: Any) -> None:
        self.log_params(cfg.flatten())

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        clean = {k: (v if math.isfinite(v) else None) for k, v in clean_metrics(metrics).items()}
        self._write("metrics", step=step, metrics=clean)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._write("tags", tags={k: str(v) for k, v in tags.items()})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._write("artifact", path=str(Path(path).resolve()), artifact_path=artifact_path)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        self._write("artifact", path=str(Path(local_dir).resolve()), artifact_path=artifact_path)

    def log_table(self, df: pd.DataFrame, artifact_file: str) -> None:
        path = self.out_dir / artifact_file
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            df.to_parquet(path, index=False)
        except ImportError:  # no pyarrow: keep the rows anyway
            path = path.with_suffix(".csv")
            df.to_csv(path, index=False)
        self.log_artifact(path, str(Path(artifact_file).parent))

    def end(self, status: str = "FINISHED") -> None:
        self._write("end", status=status)

    def fail(self, error: BaseException | str) -> None:
        self._write("end", status="FAILED", error=_error_text(error))

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.end("FINISHED")
        elif (why := interruption(exc)) is not None:  # to be continued
            self._write("end", status="KILLED", error=why)
        else:
            self.fail(exc)


def mlflow_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlflow") is not None


def start_run(
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    fallback_dir: str | Path | None = None,
) -> RunLogger | JsonlLogger:
    """A ``RunLogger`` when MLflow is importable, else a ``JsonlLogger`` in ``fallback_dir``."""
    if mlflow_available():
        return RunLogger.start(
            experiment=experiment,
            tracking_uri=tracking_uri,
            run_name=run_name,
            parent_run_id=parent_run_id,
            tags=tags,
        )
    if fallback_dir is None:
        raise RuntimeError("mlflow is not installed; pass fallback_dir to log to a JSON-lines file instead")
    logger = JsonlLogger(fallback_dir)
    logger.set_tags({**(tags or {}), "mlflow.runName": run_name or "", "experiment": experiment})
    return logger
