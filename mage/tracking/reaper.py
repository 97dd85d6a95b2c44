"""The reaper: RUNNING runs whose owning process is gone (SIGKILL, OOM, a closed laptop) become KILLED.

Every run records its creator in the ``mage.owner`` tag (host, pid, process start time). ``reap_stale_runs``
runs at the start of every entry point (``mage train``/``evaluate``, every sweep) and as ``mage runs clean``;
it only judges runs owned by processes of this host, and leaves the others alone.
"""

from __future__ import annotations

from mage.tracking.mlflow_logger import RunLogger, _client
from mage.tracking.owner import OWNER_TAG, owner_gone
from mage.tracking.store import TrackingUnreachableError, check_tracking_reachable, default_tracking_uri


def reap_stale_runs(tracking_uri: str | None = None, *, dry_run: bool = False) -> list[str]:
    """Mark RUNNING runs of dead local processes KILLED (reason in ``mage.error``); returns their ids."""
    uri = tracking_uri or default_tracking_uri()
    check_tracking_reachable(uri)  # seconds, not MLflow's minutes of retries, for a server that is not there
    client = _client(uri)
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    if not exp_ids:
        return []
    runs = client.search_runs(exp_ids, filter_string="attributes.status = 'RUNNING'", max_results=5000)
    stale = []
    for run in runs:
        who = run.data.tags.get(OWNER_TAG)
        if who and owner_gone(who):
            stale.append(run.info.run_id)
            if not dry_run:
                logger = RunLogger.attach(run.info.run_id, tracking_uri=uri)
                logger.set_tags(
                    {"mage.error": f"its process ({who}) is gone: killed or crashed; marked by the reaper"}
                )
                logger.end("KILLED")
    return stale


def reap_at_start(tracking_uri: str | None = None) -> None:
    """The reaper as entry points run it: quiet when there is nothing to do, never fatal except for a tracking
    server that does not answer (:class:`TrackingUnreachableError`: the command could log nothing, so it
    stops before any work instead of hanging in MLflow's retries)."""
    from mage.tracking.fallback import mlflow_available

    if not mlflow_available():
        return
    try:
        stale = reap_stale_runs(tracking_uri)
    except TrackingUnreachableError:
        raise
    except Exception as e:  # a store problem surfaces in the command itself, with its own message
        print(f"warning: could not check for stale runs: {e}")
        return
    if stale:
        print(f"marked {len(stale)} run(s) KILLED whose process was gone: {', '.join(s[:8] for s in stale)}")
