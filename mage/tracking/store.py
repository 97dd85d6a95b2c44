"""Where runs go. Default: a sqlite store and an artifact folder under the project, never the cwd's ./mlruns.

`MLFLOW_TRACKING_URI` overrides the store (a server URI on a cluster: http://host:5000);
`MAGE_ARTIFACT_ROOT` overrides where new experiments put artifacts (a shared path or s3:// URI).
This module imports no MLflow so `analysis/` and the CLI can read the defaults cheaply.
"""

from __future__ import annotations

import os
from pathlib import Path

from mage.fsutil import project_root


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


# ----------------------------------------------------------------------------------------------------------
# Fail fast on a store that does not answer (MLflow's own client retries for minutes)

PROBE_TIMEOUT_ENV = "MAGE_TRACKING_TIMEOUT"  # seconds the probe waits for a tracking server (default 5)


class TrackingUnreachableError(ConnectionError):
    """``MLFLOW_TRACKING_URI`` (or ``--tracking-uri``) names a server that does not answer."""


def check_tracking_reachable(tracking_uri: str | None = None, *, timeout: float | None = None) -> None:
    """Raise :class:`TrackingUnreachableError` within ``timeout`` seconds when ``tracking_uri`` is an HTTP(S)
    server that does not answer (refused, unresolvable, no route, silent). Any HTTP answer, even 401 or 404,
    counts as reachable; file and database stores are not probed here."""
    import re
    import urllib.error
    import urllib.request

    from mage.tracking.redact import redact_uri

    uri = tracking_uri or default_tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    if timeout is None:
        timeout = float(os.environ.get(PROBE_TIMEOUT_ENV) or 5.0)
    try:
        probe = re.sub(r"^(https?://)[^/@]*@", r"\1", uri.rstrip("/")) + "/health"  # no credentials needed
        with urllib.request.urlopen(probe, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # the server answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        reason = getattr(reason, "strerror", None) or reason  # "Connection refused", not "[Errno 111] ..."
        raise TrackingUnreachableError(
            f"the MLflow tracking server {redact_uri(uri)} does not answer ({reason}; waited at most "
            f"{timeout:g} s, {PROBE_TIMEOUT_ENV} changes it): start it (`mage ui` serves the local store), fix "
            "MLFLOW_TRACKING_URI, or unset it to log to the local store <project>/mlruns.db"
        ) from None
