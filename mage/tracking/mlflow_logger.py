"""Run logging: one MLflow run per object, always through an ``MlflowClient`` bound to an explicit URI.

Never the global ``mlflow.*`` fluent API: inside Ray workers and Tune trials the global default points at
``./mlruns`` of the worker's cwd (ray#36257), so every call here names its tracking URI and run id.

    with RunLogger.start(experiment="mage-train", tags=standard_tags(cfg, run_type="train")) as run:
        run.log_config(cfg)
        run.log_metrics({"tok/loss": 0.3}, step=1)
        run.log_artifacts(ckpt_dir, "checkpoint")
        run.log_table(df, "eval/episodes.parquet")
    # FINISHED on normal exit, FAILED (with the error in the tag mage.error) on an exception.

``RunLogger.attach(run_id)`` logs into an existing run (Ray Train rank 0 logs epochs into the driver's run).
``mage.tracking.fallback`` has the loggers with the same interface for where MLflow is absent. This module
imports MLflow only inside ``RunLogger``.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mage.config_base import describe_differences
from mage.tracking.context import DEFAULT_EXPERIMENT, Tracking
from mage.tracking.owner import OWNER_TAG, owner
from mage.tracking.store import default_artifact_root, default_tracking_uri, project_root

if TYPE_CHECKING:
    import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# MLflow 3 limits (mlflow.utils.validation); kept here so the no-MLflow path needs no import.
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
RUN_TYPES = ("sweep", "trial", "train", "eval")


# ----------------------------------------------------------------------------------------------------------
# Helpers shared by all loggers


class ResumeError(ValueError):
    """A run that cannot be resumed as asked (not interrupted, other settings, no fit to continue)."""


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> dotted keys with string values cut to MLflow's param length limit."""
    out: dict[str, str] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_params(v, prefix=key + "."))
            continue
        if isinstance(v, (list, tuple)):
            s = ",".join(str(x) for x in v)
        else:
            s = str(v)
        if len(s) > MAX_PARAM_VAL_LENGTH:
            s = s[: MAX_PARAM_VAL_LENGTH - 3] + "..."
        out[key] = s
    return out


def clean_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Numeric metrics only (bools and ints become floats); strings and None are dropped."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            out[k] = float(v)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[k] = f
    return out


@functools.cache
def git_sha() -> str:
    """HEAD of the checkout holding the project, or "unknown" outside a git checkout."""
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_root(),
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = r.stdout.strip()
    return sha if r.returncode == 0 and sha else "unknown"


def hardware() -> str:
    """GPU name when torch sees CUDA, else "cpu:<model> x<cores>"."""
    try:
        import torch

        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            return f"gpu:{torch.cuda.get_device_name(0)} x{n}"
    except ImportError:
        pass
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu:{model} x{os.cpu_count()}"


def standard_tags(
    cfg: Any = None,
    *,
    run_type: str = "train",
    method: str = "mage",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The ``mage.*`` tags of docs/architecture.md for an ``ExperimentConfig`` (or None)."""
    if run_type not in RUN_TYPES:
        raise ValueError(f"run_type={run_type!r} must be one of {', '.join(RUN_TYPES)}")
    tags: dict[str, str] = {
        "mage.run_type": run_type,
        "mage.method": method,
        "mage.git_sha": git_sha(),
        "mage.hardware": hardware(),
    }
    if cfg is not None:
        tags["mage.dataset"] = str(cfg.data.dataset)
        tags["mage.K"] = str(cfg.tokenizer.num_scales)
        tags["mage.seed"] = str(cfg.train.seed)
    for k, v in (extra or {}).items():
        tags[k] = str(v)
    return tags


def interruption(exc: BaseException) -> str | None:
    """The ``mage.error`` of a run that ends KILLED, to be continued (Ctrl-C, a time limit); None otherwise."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) if getattr(exc, "interrupts_run", False) else None


def _error_text(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:MAX_TAG_VAL_LENGTH]


# ----------------------------------------------------------------------------------------------------------
# MLflow


def _client(tracking_uri: str):
    """A client; for a sqlite store under an exclusive file lock, because two processes that open a fresh
    database at once both run MLflow's schema creation and one dies on a UNIQUE constraint (parallel trainings
    on a new machine)."""
    from mlflow.tracking import MlflowClient

    if not tracking_uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=tracking_uri)
    import fcntl

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".init-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            client.get_experiment_by_name("Default")  # the store (and its schema) is created on first use
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def get_or_create_experiment(
    name: str, *, tracking_uri: str | None = None, artifact_location: str | None = None
) -> str:
    """Experiment id for ``name``, created with an explicit artifact location (never the cwd's ./mlruns)."""
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or default_tracking_uri()
    client = _client(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    if artifact_location is None:
        root = default_artifact_root(uri)
        artifact_location = f"{root.rstrip('/')}/{name}" if root else None
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        # Another process (a parallel trial) created it between our get and create.
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


class RunLogger:
    """One MLflow run. Create with :meth:`start` (new run) or :meth:`attach` (existing run id)."""

    def __init__(self, run_id: str, tracking_uri: str, *, owns_run: bool) -> None:
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.client = _client(tracking_uri)
        self._owns_run = owns_run  # only the creator ends the run (workers that attach never do)

    # -- construction --------------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        *,
        experiment: str = DEFAULT_EXPERIMENT,
        tracking_uri: str | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        artifact_location: str | None = None,
    ) -> RunLogger:
        """Create a run in ``experiment`` (created if missing); ``parent_run_id`` makes it a child run."""
        uri = tracking_uri or default_tracking_uri()
        exp_id = get_or_create_experiment(experiment, tracking_uri=uri, artifact_location=artifact_location)
        all_tags = {k: str(v)[:MAX_TAG_VAL_LENGTH] for k, v in (tags or {}).items()}
        all_tags[OWNER_TAG] = owner()  # lets a later entry point mark the run KILLED if this process dies
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = _client(uri).create_run(exp_id, tags=all_tags, run_name=run_name)
        return cls(run.info.run_id, uri, owns_run=True)

    @classmethod
    def start_for(cls, tracking: Tracking, tags: Mapping[str, Any] | None = None) -> RunLogger:
        """``start`` where ``tracking`` says (store, experiment, parent, run name); ``tags`` default to
        ``tracking.tags``."""
        return cls.start(
            experiment=tracking.experiment,
            tracking_uri=tracking.tracking_uri,
            run_name=tracking.run_name,
            parent_run_id=tracking.parent_run_id,
            tags=tracking.tags if tags is None else tags,
        )

    @classmethod
    def attach(cls, run_id: str, *, tracking_uri: str | None = None, owns_run: bool = False) -> RunLogger:
        """Log into an existing run; with ``owns_run`` the context manager also ends it."""
        uri = tracking_uri or default_tracking_uri()
        logger = cls(run_id, uri, owns_run=owns_run)
        logger.client.get_run(run_id)  # fail early and clearly on a wrong id or store
        return logger

    @classmethod
    def reopen(cls, run_id: str, cfg: Any, *, tracking_uri: str | None = None) -> RunLogger:
        """An interrupted run (KILLED / FAILED) RUNNING again, to continue its training under the same id: its
        params must be ``cfg``'s (else ResumeError naming the differences); its ``mage.error`` moves to
        ``mage.error_before_resume``; this process becomes its owner (the reaper judges it by this process)."""
        logger = cls.attach(run_id, tracking_uri=tracking_uri, owns_run=True)
        run = logger.client.get_run(run_id)
        if run.info.status in ("RUNNING", "FINISHED"):
            raise ResumeError(
                f"run {run_id} is {run.info.status}: only an interrupted (KILLED/FAILED) run resumes"
            )
        saved, asked = run.data.params, flatten_params(cfg.flatten())
        shown = describe_differences(saved, asked, asked.keys() & saved.keys())
        if shown:
            raise ResumeError(f"run {run_id} was trained with {shown}: resume it with the same settings")
        logger.set_tags({OWNER_TAG: owner()})
        error = run.data.tags.get("mage.error")
        if error is not None:
            logger.set_tags({"mage.error_before_resume": error})
            logger.client.delete_tag(run_id, "mage.error")
        logger.client.update_run(run_id, status="RUNNING")
        return logger

    # -- logging -------------------------------------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten_params(params)
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + MAX_PARAMS_TAGS_PER_BATCH])

    def log_config(self, cfg: Any) -> None:
        """Log an ``ExperimentConfig`` (or any ``ConfigBase``) as flattened params."""
        self.log_params(cfg.flatten())

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        items = [Metric(k, v, ts, int(step or 0)) for k, v in clean_metrics(metrics).items()]
        for i in range(0, len(items), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + MAX_METRICS_PER_BATCH])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:MAX_TAG_VAL_LENGTH]) for k, v in tags.items()]
        for i in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(self.run_id, tags=items[i : i + MAX_PARAMS_TAGS_PER_BATCH])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_table(self, df: pd.DataFrame, artifact_file: str) -> None:
        """Write ``df`` as parquet under ``artifact_file`` (e.g. ``eval/episodes.parquet``)."""
        if not artifact_file.endswith(".parquet"):
            raise ValueError(f"artifact_file={artifact_file!r} must end in .parquet")
        folder, _, name = artifact_file.rpartition("/")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            df.to_parquet(path, index=False)
            self.log_artifact(path, folder or None)

    def download_artifacts(self, path: str, dst_dir: str | Path | None = None) -> Path:
        """Local copy of an artifact file or folder of this run."""
        from mlflow.artifacts import download_artifacts

        dst = str(dst_dir) if dst_dir is not None else tempfile.mkdtemp(prefix="mage-art-")
        return Path(
            download_artifacts(
                run_id=self.run_id, artifact_path=path, dst_path=dst, tracking_uri=self.tracking_uri
            )
        )

    # -- lifecycle -----------------------------------------------------------------------------------------
    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    def fail(self, error: BaseException | str) -> None:
        """Mark the run FAILED with the error message in the tag ``mage.error``."""
        self.set_tags({"mage.error": _error_text(error)})
        self.end("FAILED")

    @property
    def status(self) -> str:
        return self.client.get_run(self.run_id).info.status

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._owns_run:
            return
        if exc is None:
            self.end("FINISHED")
        elif (why := interruption(exc)) is not None:  # to be continued
            self.set_tags({"mage.error": why})
            self.end("KILLED")
        elif self._killed_meanwhile():  # ended by its sweep (ASHA stop, Ctrl-C): that is why this raised
            self.set_tags({"mage.error_on_interrupt": _error_text(exc)})
        else:
            self.fail(exc)

    def _killed_meanwhile(self) -> bool:
        try:
            return self.status == "KILLED"
        except Exception:  # an unreachable store: fail() reports that, with the original error
            return False


# ----------------------------------------------------------------------------------------------------------
# Stand-ins with the same interface


def log_checkpoint(logger: Any, ckpt_dir: Path, artifact_path: str) -> None:
    """Log a checkpoint dir without its optimizer state (train_state.pt): the artifact is for inference."""
    with tempfile.TemporaryDirectory(prefix="mage-art-") as tmp:
        dst = Path(tmp) / artifact_path
        shutil.copytree(ckpt_dir, dst, ignore=shutil.ignore_patterns("train_state.pt"))
        logger.log_artifacts(dst, artifact_path)
