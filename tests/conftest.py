"""Shared fixtures: a tiny generated maze2d-umaze-v1 dataset and an isolated data dir, one-thread torch for
the tiny-model tests, a local Ray head (ray-up.sh / ray-down.sh) and the memoised smoke-sweep MLflow store."""

from __future__ import annotations

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

TINY_STEPS = 5000
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide data dir holding ``maze2d-umaze-v1.hdf5`` (5,000 steps, seed 0)."""
    from mage.data.generate import generate_dataset

    d = tmp_path_factory.mktemp("mage_data")
    generate_dataset(
        "maze2d-umaze-v1", steps=TINY_STEPS, seed=0, out=d / "maze2d-umaze-v1.hdf5", progress=False
    )
    return d


@pytest.fixture(scope="session")
def tiny_maze2d_path(tiny_data_dir: Path) -> Path:
    """Path of the tiny generated maze2d-umaze-v1 file."""
    return tiny_data_dir / "maze2d-umaze-v1.hdf5"


@pytest.fixture
def mage_data_dir(tiny_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``$MAGE_DATA_DIR`` at the tiny data dir (and ``$D4RL_DATASET_DIR`` at an empty one), so
    ``load_dataset("maze2d-umaze-v1")`` finds the tiny file and nothing outside the test."""
    monkeypatch.setenv("MAGE_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tiny_data_dir / "no-d4rl"))
    return tiny_data_dir


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models: one thread is fastest, and the CI machine is shared. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------------------------------------
# A local Ray head on free ports (tests/test_ray_job.py, tests/test_rtg_sweep.py)


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
        timeout=420,  # ray-up.sh's own waits (180 s for the dashboard) end first; a loaded CI box needs them
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


# ----------------------------------------------------------------------------------------------------------
# A store filled by REAL smoke sweeps (hierarchy depth, then the RTG study on its best run); tests/test_analysis.py
# and tests/test_dashboard.py share it


def sweep_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlruns.db'}",
        MAGE_DATA_DIR=str(root / "data"),
        D4RL_DATASET_DIR=str(root / "no-d4rl"),
        MLFLOW_DISABLE_TELEMETRY="true",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    )
    return env


def run_sweep(
    root: Path, script: str, *args: str, expect_rc: int = 0, log: str | None = None
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(REPO / "sweeps" / script),
        "--smoke",
        "--tracking-uri",
        f"sqlite:///{root / 'mlruns.db'}",
        "--storage",
        str(root / "ray_results"),
        *args,
    ]
    r = subprocess.run(cmd, cwd=root, env=sweep_env(root), capture_output=True, text=True, timeout=1200)
    text = r.stdout + r.stderr
    (root / f"{log or script}.log").write_text(text)
    assert r.returncode == expect_rc, (
        f"{script} {' '.join(args)}: rc {r.returncode}, not {expect_rc}:\n{text[-4000:]}"
    )
    return r


def smoke_sweep_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "smoke-sweep-store"


def build_smoke_sweep_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run once per pytest session (memoised on disk) so several test modules can share the store: the
    hierarchy-depth smoke sweep (K 1, 2) interrupted after its first trial (``hd-first.log``, the runs then in
    ``hd-after-first.pkl``), resumed (``hd-resume.log``), then the RTG study on its best run. The resume test
    (tests/test_sweeps.py) and the reports on it (tests/test_analysis.py, tests/test_dashboard.py) share it."""
    root = smoke_sweep_root(tmp_path_factory)
    done = root / "DONE"
    if not done.exists():
        from mage.tracking.query import search_runs

        root.mkdir(exist_ok=True)
        hd = ("hierarchy_depth.py", "--name", "hd")
        run_sweep(root, *hd, "--interrupt-after-trials", "1", expect_rc=130, log="hd-first")
        runs = search_runs("mage-hierarchy-depth", tracking_uri=f"sqlite:///{root / 'mlruns.db'}")
        runs.to_pickle(root / "hd-after-first.pkl")
        run_sweep(root, *hd, "--resume", log="hd-resume")
        run_sweep(root, "rtg_generalization.py", "--best-of-experiment", "mage-hierarchy-depth", "--quiet")
        done.write_text("ok")
    return f"sqlite:///{root / 'mlruns.db'}"


@pytest.fixture(scope="module")
def smoke_sweep_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_smoke_sweep_store(tmp_path_factory)
