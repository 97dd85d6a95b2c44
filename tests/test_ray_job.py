"""`ray job submit` of a sweep against a head started by cluster/local/ray-up.sh, then ray-down.sh.

The head gets free ports, its own short temp dir, state dir and token file, so it never meets another Ray on
the machine; ray-down.sh must leave none of its processes behind.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def group_alive(pgid: int) -> bool:
    out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
    return any(
        line.split()[0] == str(pgid) and not line.split()[1].startswith("Z") for line in out.splitlines()
    )


@pytest.fixture(scope="module")
def head() -> Iterator[dict[str, str]]:
    """A head from ray-up.sh on free loopback ports; torn down with ray-down.sh."""
    tmp = Path(tempfile.mkdtemp(prefix="rj-", dir="/tmp"))  # short: unix socket paths stay < 108 bytes
    gcs, dash, client, agent, agent_grpc, metrics, rt_agent = free_ports(7)
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(tmp / "token"),
        MAGE_RAY_PORT=str(gcs),
        MAGE_RAY_DASHBOARD_PORT=str(dash),
        MAGE_RAY_CLIENT_PORT=str(client),
        MAGE_RAY_NUM_CPUS="2",
        MAGE_RAY_STATE_DIR=str(tmp / "state"),
        MAGE_RAY_TEMP_DIR=str(tmp / "t"),
        MAGE_DATA_DIR=str(tmp / "data"),  # jobs inherit the head's env: smoke data goes here
    )
    t0 = time.time()
    up = subprocess.run(
        [
            "bash",
            str(REPO / "cluster/local/ray-up.sh"),
            "--dashboard-agent-listen-port",
            str(agent),
            "--dashboard-agent-grpc-port",
            str(agent_grpc),
            "--metrics-export-port",
            str(metrics),
            "--runtime-env-agent-port",
            str(rt_agent),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    state = dict(line.split("=", 1) for line in (tmp / "state/head.env").read_text().split())
    info = {
        "tmp": str(tmp),
        "dashboard": f"http://127.0.0.1:{dash}",
        "pgid": state["HEAD_PGID"],
        "up_stdout": up.stdout,
        "up_s": f"{time.time() - t0:.1f}",
        **{k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "MAGE_RAY_STATE_DIR")},
    }
    try:
        yield info
    finally:
        down = subprocess.run(
            ["bash", str(REPO / "cluster/local/ray-down.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        alive = group_alive(int(state["HEAD_PGID"]))
        if not alive:
            shutil.rmtree(tmp, ignore_errors=True)
        assert down.returncode == 0 and not alive, down.stdout + down.stderr


@pytest.mark.slow
def test_ray_up_prints_dashboard_and_submit_command(head: dict[str, str]) -> None:
    out = head["up_stdout"]
    assert head["dashboard"] in out and "ray job submit --address " + head["dashboard"] in out
    assert f"RAY_AUTH_TOKEN_PATH={head['RAY_AUTH_TOKEN_PATH']}" in out
    token = Path(head["RAY_AUTH_TOKEN_PATH"])
    assert token.stat().st_mode & 0o077 == 0 and len(token.read_text().strip()) >= 32
    # Auth is on: a client without the token is refused.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["RAY_AUTH_MODE"] = "disabled"
    r = subprocess.run(
        [RAY, "job", "list", "--address", head["dashboard"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0


@pytest.mark.slow
def test_job_submit_hierarchy_depth_smoke(head: dict[str, str]) -> None:
    from mage.tracking.query import search_runs

    tmp = Path(head["tmp"])
    uri = f"sqlite:///{tmp}/mlruns.db"
    env = dict(
        os.environ, RAY_AUTH_MODE=head["RAY_AUTH_MODE"], RAY_AUTH_TOKEN_PATH=head["RAY_AUTH_TOKEN_PATH"]
    )
    env.pop("RAY_ADDRESS", None)
    cmd = [
        RAY,
        "job",
        "submit",
        "--address",
        head["dashboard"],
        "--working-dir",
        str(REPO),
        "--",
        "python",
        "sweeps/hierarchy_depth.py",
        "--smoke",
        "--K",
        "1",
        "--tracking-uri",
        uri,
        "--storage",
        str(tmp / "ray"),
    ]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    wall = time.time() - t0
    (tmp / "job.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0 and "succeeded" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]
    print(f"ray-up {head['up_s']} s, job submit {wall:.1f} s")

    runs = search_runs("mage-hierarchy-depth", tracking_uri=uri)
    parents = runs[runs["tags.mage.run_type"] == "sweep"]
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    assert parents.iloc[0]["tags.mage.ray_address"].startswith("127.0.0.1:")  # joined the head, not embedded
    children = runs[runs["parent_run_id"] == parents.iloc[0]["run_id"]]
    assert len(children) == 1 and children.iloc[0]["status"] == "FINISHED"
    assert math.isfinite(children.iloc[0]["metrics.eval/norm_score"])
    assert "eval/norm_score" in proc.stdout  # the results table, streamed back from the job
