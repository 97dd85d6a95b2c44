"""The process env of a sweep driver, set by its entry point before Ray starts (never at import time)."""

from __future__ import annotations

import os


def sweep_env() -> None:
    """Loopback-only, telemetry-free defaults (the embedded Ray's processes inherit them; ``init_ray`` sets the
    same for a joined cluster). Tune's strict metric check stays on: every result carries the objective."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
