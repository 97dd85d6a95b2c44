"""`mage ui`: the MLflow UI (lean server, loopback only) over the store that mage logs to."""

from __future__ import annotations

import argparse
import os
import sys

from mage.cli.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    u = subparsers.add_parser(
        "ui",
        help="start the MLflow UI on 127.0.0.1 over the default store",
        description="Run `mlflow server` (lean: 1 worker, no job execution) on 127.0.0.1 over the store that "
        "mage logs to (MLFLOW_TRACKING_URI or <project>/mlruns.db).",
    )
    u.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    u.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    u.set_defaults(func=cmd_ui)


def ui_command(port: int, host: str = "127.0.0.1") -> tuple[list[str], dict[str, str], str]:
    """(argv, env, url) of the lean MLflow server over the default store (spec platform.md §8)."""
    from mage.tracking.store import default_artifact_root, default_tracking_uri, project_root

    uri = default_tracking_uri()
    artifacts = default_artifact_root(uri) or (project_root() / "mlartifacts").as_uri()
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        artifacts,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    return argv, env, f"http://{host}:{port}"


def cmd_ui(args: argparse.Namespace) -> int:
    import subprocess

    from mage.tracking.store import default_tracking_uri

    uri = default_tracking_uri()
    if uri.startswith(("http://", "https://")):
        print(f"MLFLOW_TRACKING_URI points at a server already: open {uri}")
        return 0
    check_port_free(args.host, args.port)
    argv, env, url = ui_command(args.port, args.host)
    print(f"MLflow UI for {uri}: {url}  (Ctrl-C stops it)", flush=True)
    proc = subprocess.Popen(argv, env=env)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0
    if rc != 0:
        raise CliError(f"the MLflow server exited with status {rc} (its output above)", rc if rc > 0 else 1)
    return 0


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`CliError` when ``host:port`` cannot be bound (busy, or not an address of this machine)."""
    import errno
    import socket

    if not 0 < port < 65536:
        raise CliError(f"--port {port} must be in 1..65535", 2)
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the server: TIME_WAIT is not busy
            s.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} on {host} is in use (another `mage ui` or MLflow server?): open "
                f"http://{host}:{port} if it is yours, stop that process, or pass --port N"
            ) from None
        raise CliError(
            f"cannot listen on {host}:{port} ({e.strerror}): pass another --host / --port"
        ) from None
