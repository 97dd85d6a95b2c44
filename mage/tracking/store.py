"""Where runs go. Default: a sqlite store and an artifact folder under the project, never the cwd's ./mlruns.

`MLFLOW_TRACKING_URI` overrides the store (a server URI on a cluster: http://host:5000);
`MAGE_ARTIFACT_ROOT` overrides where new experiments put artifacts (a shared path or s3:// URI).
This module imports no MLflow so `analysis/` and the CLI can read the defaults cheaply.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """`$MAGE_HOME`, else the checkout that holds the `mage` package."""
    env = os.environ.get("MAGE_HOME")
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[2]


def default_tracking_uri() -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{project_root() / 'mlruns.db'}"


def default_artifact_root(tracking_uri: str | None = None) -> str | None:
    """Artifact location for new experiments. None lets a tracking server decide (its --default-artifact-root)."""
    env = os.environ.get("MAGE_ARTIFACT_ROOT")
    if env:
        return env
    uri = tracking_uri or default_tracking_uri()
    if uri.startswith(("http://", "https://", "databricks")):
        return None
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlartifacts").as_uri()
    if uri.startswith("file:"):
        return None  # a file store keeps artifacts beside its runs
    return (project_root() / "mlartifacts").as_uri()
