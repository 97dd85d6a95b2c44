"""The process env of a sweep driver, set by its entry point before Ray starts (never at import time)."""

from __future__ import annotations

import os


def sweep_env() -> None:
    """Loopback-only, telemetry-free defaults (the embedded Ray's processes inherit them; ``init_ray`` sets the
    same for a joined cluster) and Tune's lenient metric check."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # run_experiment forwards stage-2 epoch results (pol/*) to Tune before the final eval/norm_score; Tune's
    # strict check would reject those for lacking the TuneConfig metric. ASHA/Optuna skip results without it.
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
