"""Start or join Ray the same way everywhere: CLI, sweeps, tests, benchmarks.

``init_ray()`` connects to ``address`` or ``$RAY_ADDRESS`` when given (a cluster started with ``ray start``
or ``make ray-up``); otherwise it starts an embedded single-node Ray bound to 127.0.0.1 with a short
temp dir (unix socket paths are limited to ~107 bytes) and no dashboard unless asked for. Either way the
driver's tracking/data environment (``MLFLOW_TRACKING_URI`` resolved to the default store, ``MAGE_*``,
``D4RL_DATASET_DIR``) is passed to every worker through ``runtime_env.env_vars`` so workers and trials
log to the same store as the driver (ray#36257).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ray

from mage.distributed.resources import Resources
from mage.provenance import code_root
from mage.tracking.store import default_tracking_uri

# Env vars forwarded to every Ray worker when set on the driver.
FORWARDED_ENV = (
    "MAGE_HOME",
    "MAGE_DATA_DIR",
    "MAGE_ARTIFACT_ROOT",
    "D4RL_DATASET_DIR",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_DISABLE_TELEMETRY",
    "RAY_USAGE_STATS_ENABLED",
    "PYTHONDONTWRITEBYTECODE",
    "CUBLAS_WORKSPACE_CONFIG",
    "MAGE_LEAN_TRAIN",  # mage.distributed.trainer: read where a stage's fit() runs (a Tune trial's process)
)

# Loopback-only, no telemetry (spec platform.md §4); set before Ray starts any process.
_LOCAL_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}

_owned_temp_dir: str | None = None
RAY_TEMP_ROOT, RAY_TEMP_PREFIX = Path("/tmp"), "mr-"  # the embedded Ray's session dirs: /tmp/mr-XXXX
GPU_WAIT_ENV = "MAGE_GPU_WAIT_S"  # seconds a joined cluster may take to add the GPUs asked for (default 600)


def ensure_auth_token(*, create: bool) -> None:
    """Make token auth (``RAY_AUTH_MODE=token``) usable before ``ray.init``.

    Ray refuses to start when ``RAY_AUTH_TOKEN_PATH`` names a missing or empty file. For an embedded Ray we own
    the cluster, so a fresh random token is written there (mode 0600); to join a running cluster the token
    must be the head's, so a missing one is an error that says where to get it.
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token" or os.environ.get("RAY_AUTH_TOKEN"):
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if not path:
        return  # Ray falls back to ~/.ray/auth_token and creates it if missing
    token = Path(path).expanduser()
    if token.is_file() and token.stat().st_size > 0:
        return
    if not create:
        raise RuntimeError(
            f"RAY_AUTH_TOKEN_PATH={path} is missing or empty, and joining a running cluster needs its head's token: "
            "copy the head's token file there (make ray-up writes .ray/auth_token) or set RAY_AUTH_TOKEN"
        )
    token.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))


def worker_env_vars(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The env vars ``init_ray`` forwards: the forwarded names set here, the resolved tracking URI, the
    driver's checkout first on ``PYTHONPATH`` (``code_path``), extras."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env["MLFLOW_TRACKING_URI"] = default_tracking_uri()
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.update(code_path())
    env.update(extra or {})
    return env


def code_path() -> dict[str, str]:
    """``{"PYTHONPATH": <the checkout the driver imported mage from>, then the driver's PYTHONPATH}``, or {}
    for an installed package. Ray workers import ``mage`` before the driver's sys.path reaches them (the worker
    setup hook is ours), so without it they take the editable install's checkout: a sweep started from a git
    worktree trained the main checkout's code (seen 2026-11-30: its trials were tagged mage.code_changed)."""
    root = code_root()
    if not (root / "pyproject.toml").is_file():
        return {}
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(root)]
    return {"PYTHONPATH": os.pathsep.join([str(root), *rest])}


def init_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    include_dashboard: bool = False,
    temp_dir: str | None = None,
    env_vars: Mapping[str, str] | None = None,
    log_to_driver: bool = True,
) -> dict[str, float]:
    """Connect to / start Ray once per process and return the cluster resources.

    address: ``"auto"``, ``"ray://host:10001"`` or ``"host:6379"``; default ``$RAY_ADDRESS``; neither means an
        embedded local Ray (``address="local"``) on 127.0.0.1.
    num_cpus / num_gpus: only for the embedded Ray (None = what the machine has).
    include_dashboard: the embedded Ray's dashboard on 127.0.0.1:8265 (costs ~200 MiB).
    temp_dir: the embedded Ray's session dir; default a fresh short ``/tmp/mr-XXXX`` removed at exit.
    env_vars: extra env vars for every worker on top of :func:`worker_env_vars`.
    A Ray already initialised in this process (e.g. inside a Tune trial) is reused as is.
    """
    global _owned_temp_dir
    for k, v in _LOCAL_ENV.items():
        os.environ.setdefault(k, v)
    if os.environ.get(RAY_LOG_ENV):
        log_to_driver = False
        send_ray_logs_to(os.environ[RAY_LOG_ENV])
    if ray.is_initialized():
        return dict(ray.cluster_resources())

    runtime_env = {"env_vars": worker_env_vars(env_vars)}
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "local":
        if num_cpus is not None or num_gpus is not None:
            raise ValueError(
                f"num_cpus/num_gpus apply only to an embedded Ray, not to address={address!r}; "
                "drop them or unset RAY_ADDRESS"
            )
        ensure_auth_token(create=False)
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=log_to_driver)
        return dict(ray.cluster_resources())

    if not include_dashboard:  # no dashboard, no state API: see quiet_placement_group_cleaner
        runtime_env["worker_process_setup_hook"] = f"{__name__}.quiet_placement_group_cleaner"
    if temp_dir is None:
        # Short and unique: several engineers/tests may run their own Ray on the same machine.
        temp_dir = tempfile.mkdtemp(prefix=RAY_TEMP_PREFIX, dir=RAY_TEMP_ROOT)
        _owned_temp_dir = temp_dir
    ensure_auth_token(create=True)
    ray.init(
        address="local",
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=include_dashboard,
        dashboard_host="127.0.0.1",
        _node_ip_address="127.0.0.1",
        _temp_dir=temp_dir,
        runtime_env=runtime_env,
        log_to_driver=log_to_driver,
        configure_logging=True,
        logging_level="WARNING",
    )
    return dict(ray.cluster_resources())


RAY_LOG_ENV = (
    "MAGE_RAY_LOG"  # a file: Ray's own log lines and its workers' output go there, not to the terminal
)


PG_CLEANER_LOGGER = "ray.train.v2._internal.execution.controller.placement_group_cleaner"


def quiet_placement_group_cleaner() -> None:
    """Worker setup hook of the embedded Ray without a dashboard. Every Ray Train fit starts a
    PlacementGroupCleaner that asks the state API (served by the dashboard) every few seconds whether its
    controller lives, and warns "Failed to query Ray Train Controller actor state" each time it cannot:
    hundreds of lines per sweep, none actionable. Without a dashboard it never can, so its warnings are
    dropped; stopped trials' placement groups are released by the platform (docs/reliability.md)."""
    import logging

    logging.getLogger(PG_CLEANER_LOGGER).setLevel(logging.ERROR)


def send_ray_logs_to(path: str) -> None:
    """Move Ray's Python loggers (Train/Tune controller chatter such as "Failed to query Ray Train Controller
    actor state") from the terminal into ``path``; what the platform itself prints stays on the terminal."""
    import logging

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("ray", "ray.train", "ray.tune", "ray.data"):
        log = logging.getLogger(name)
        for h in list(log.handlers):
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                log.removeHandler(h)
        if not any(
            isinstance(h, logging.FileHandler) and h.baseFilename == handler.baseFilename
            for h in log.handlers
        ):
            log.addHandler(handler)
        log.propagate = False


def shutdown_ray() -> None:
    """``ray.shutdown()`` and remove the temp dir that ``init_ray`` created (never a user-given one)."""
    global _owned_temp_dir
    if ray.is_initialized():
        ray.shutdown()
    if _owned_temp_dir:
        shutil.rmtree(_owned_temp_dir, ignore_errors=True)
        _owned_temp_dir = None


atexit.register(shutdown_ray)


def stale_ray_temp_dirs(*, min_age_s: float = 600.0, root: Path | None = None) -> list[Path]:
    """Session dirs of embedded Rays (``/tmp/mr-*``) whose driver died without ``shutdown_ray`` (SIGKILL):
    older than ``min_age_s``, empty or holding Ray's ``session_*``, and named on no live process's command line
    (a running raylet and GCS name theirs). Reads ``/proc``: on a system without it, none are reported."""
    proc, now = Path("/proc"), time.time()
    if not proc.is_dir():
        return []
    found = []
    for d in sorted((root or RAY_TEMP_ROOT).glob(RAY_TEMP_PREFIX + "*")):
        with contextlib.suppress(OSError):
            entries = [e.name for e in d.iterdir()]
            if now - d.stat().st_mtime >= min_age_s and all(e.startswith("session") for e in entries):
                found.append(d)
    if not found:
        return []
    cmdlines = []
    for p in proc.iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            with contextlib.suppress(OSError):
                cmdlines.append((p / "cmdline").read_bytes().decode(errors="replace"))
    return [d for d in found if not any(str(d) in c for c in cmdlines)]


def require_gpus(res: Resources, *, flag: str = "--gpus", poll_s: float = 5.0) -> None:
    """Return once the cluster has the GPUs ``res`` asks for (nothing when it asks for none). The embedded Ray
    of this machine cannot grow: a :class:`ResourceError` at once. A joined cluster may (an autoscaler adds
    GPU nodes): a notice, then polling for up to ``$MAGE_GPU_WAIT_S`` seconds, then the same error; never the
    silent, endless wait of a Ray Train job whose resources will not come."""
    if not res.use_gpu:
        return
    gpus = float(ray.cluster_resources().get("GPU", 0.0))
    if _owned_temp_dir is not None:  # the embedded Ray that init_ray started on this machine
        res.check_gpus(gpus, where="this machine (embedded Ray)", flag=flag)
        return
    wait = float(os.environ.get(GPU_WAIT_ENV, "600"))
    deadline = time.monotonic() + wait
    if gpus < res.gpus_needed():
        print(
            f"[ray] waiting up to {wait:g} s ({GPU_WAIT_ENV}) for {res.gpus_needed():g} GPU(s); the cluster has "
            f"{gpus:g} now (an autoscaler may add GPU nodes; Ctrl-C stops, dropping {flag} trains on CPUs)",
            flush=True,
        )
    while gpus < res.gpus_needed():
        left = deadline - time.monotonic()
        if left <= 0:
            res.check_gpus(
                gpus, where=f"the Ray cluster after {wait:g} s of waiting ({GPU_WAIT_ENV})", flag=flag
            )
        time.sleep(max(0.0, min(poll_s, left)))
        gpus = float(ray.cluster_resources().get("GPU", 0.0))


@contextlib.contextmanager
def ray_train_sigint() -> Iterator[None]:
    """Around ``TorchTrainer.fit()``. Ray Train installs its own SIGINT handler there (abort the run, then
    ``sys.exit``) and never puts the previous one back. Inside, its ``SystemExit`` becomes a
    ``KeyboardInterrupt``, so the MLflow run ends KILLED ("interrupted") and the command exits 130 instead of
    a FAILED ``SystemExit: 1``; after, the previous handler is back, so a later Ctrl-C (stage 2's set-up, the
    evaluation) is a plain ``KeyboardInterrupt`` again, not an abort of a finished run's dead controller."""
    main = threading.current_thread() is threading.main_thread()  # Ray registers only there (not in Tune)
    prev = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    except SystemExit as e:
        if not main:
            raise
        raise KeyboardInterrupt("Ray Train run aborted by Ctrl-C") from e
    finally:
        if main and prev is not None:
            signal.signal(signal.SIGINT, prev)


def cluster_has_gpus() -> bool:
    return ray.cluster_resources().get("GPU", 0) > 0


def available(resource: str = "CPU") -> float:
    return float(ray.available_resources().get(resource, 0.0))


def describe() -> dict[str, Any]:
    """Resources and node count of the connected cluster, for logs and tags."""
    return {"resources": dict(ray.cluster_resources()), "nodes": len([n for n in ray.nodes() if n["Alive"]])}
