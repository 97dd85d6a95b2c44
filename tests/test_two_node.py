"""Beyond one machine, on this one: a head and a worker raylet on loopback (``ray.cluster_utils.Cluster``, token auth)
and the MLflow server of ``cluster/local/mlflow-server.sh``. A smoke sweep joins the cluster with ``--address``; its
trial can only run on the worker node (the head offers 0 CPUs), records the node it ran on, logs to the server
(runs, metrics and the checkpoint artifact, uploaded through the server) and checkpoints into the sweep's storage.

Nothing may depend on the driver's local paths: the driver's ``MAGE_HOME`` and the worker node's ``MAGE_DATA_DIR``
differ, and the trial must find its data through the dataset name on its own node.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_ports

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "cluster" / "local" / "mlflow-server.sh"
EXPERIMENT = "mage-hierarchy-depth"

pytestmark = pytest.mark.slow


def _server(action: str, state: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = ["bash", str(SERVER), action, "--state-dir", str(state), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[dict]:
    """Head (0 CPUs) + worker node (2 CPUs, its own MAGE_DATA_DIR), and an MLflow server on a free port."""
    from ray.cluster_utils import Cluster

    tmp = Path(tempfile.mkdtemp(prefix="tn-", dir="/tmp"))  # short: unix socket paths stay < 108 bytes
    # Ray caches the auth token per process: when an earlier test of this session started Ray here, it read
    # $RAY_AUTH_TOKEN_PATH, and a cluster with another token would refuse this process. Reuse that file.
    given = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", "/nonexistent"))
    if given.is_file() and given.stat().st_size > 0:
        token = given
    else:
        token = tmp / "token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
    (tmp / "ray").mkdir()  # $RAY_TMPDIR/ray: where Cluster writes its ray_current_cluster file
    (port,) = free_ports(1)
    # The server starts while the raylets come up (both take seconds on a busy 2-core box).
    server = subprocess.Popen(
        ["bash", str(SERVER), "start", "--port", str(port), "--state-dir", str(tmp / "mlflow")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    mp = pytest.MonkeyPatch()
    cluster, started = None, False
    try:
        # The raylets (and every Ray worker they start) inherit this process's env.
        for k in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "MAGE_DATA_DIR", "MAGE_HOME", "MAGE_ARTIFACT_ROOT"):
            mp.delenv(k, raising=False)
        mp.setenv("RAY_AUTH_MODE", "token")
        mp.setenv("RAY_AUTH_TOKEN_PATH", str(token))
        mp.setenv("RAY_TMPDIR", str(tmp))  # not the shared /tmp/ray of other Ray instances
        mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        t0 = time.time()
        node = dict(node_ip_address="127.0.0.1", object_store_memory=100 * 2**20)
        cluster = Cluster(
            initialize_head=True,
            head_node_args=dict(num_cpus=0, include_dashboard=False, temp_dir=str(tmp / "t"), **node),
        )
        mp.setenv("MAGE_DATA_DIR", str(tmp / "node-data"))  # the worker node's own data dir
        worker = cluster.add_node(num_cpus=2, **node)
        mp.delenv("MAGE_DATA_DIR")
        cluster_s = time.time() - t0
        out, _ = server.communicate(timeout=180)
        started = server.returncode == 0
        assert started, out
        yield {
            "tmp": tmp,
            "address": cluster.address,
            "head_id": cluster.head_node.node_id,
            "worker_id": worker.node_id,
            "uri": f"http://127.0.0.1:{port}",
            "token": str(token),
            "cluster_s": cluster_s,
        }
    finally:
        if server.poll() is None:
            server.kill()
        stop = _server("stop", tmp / "mlflow")
        if cluster is not None:
            cluster.shutdown()
        mp.undo()
        shutil.rmtree(tmp, ignore_errors=True)
        if started:  # stopped by the script: no server process left behind
            assert stop.returncode == 0 and "Stopped MLflow server" in stop.stdout, stop.stdout + stop.stderr


@pytest.fixture(scope="module")
def sweep(two_nodes: dict) -> dict:
    """``hierarchy_depth.py --smoke --K 1`` joined to the two-node cluster, logging to the server."""
    tmp = two_nodes["tmp"]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "MAGE_DATA_DIR", "MAGE_ARTIFACT_ROOT")
    }
    env.update(
        MAGE_HOME=str(tmp / "driver"),  # the driver's checkout: none of its paths may be needed on the worker
        D4RL_DATASET_DIR=str(tmp / "no-d4rl"),
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=two_nodes["token"],
        MLFLOW_DISABLE_TELEMETRY="true",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    )
    cmd = [
        sys.executable,
        str(REPO / "sweeps" / "hierarchy_depth.py"),
        "--smoke",
        "--K",
        "1",
        "--address",
        two_nodes["address"],
        "--tracking-uri",
        two_nodes["uri"],
        "--storage",
        str(tmp / "shared" / "ray_results"),  # stands for the cluster's shared storage (NFS, s3://)
        "--name",
        "hd2",
    ]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    wall = time.time() - t0
    print(f"cluster up {two_nodes['cluster_s']:.1f} s, sweep {wall:.1f} s")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {**two_nodes, "proc": proc}


def _runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp is not None, f"no experiment {EXPERIMENT} on the server"
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("mage.run_type") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    return client, exp, parents, children


def test_trial_runs_on_the_worker_node_and_logs_to_the_server(sweep: dict) -> None:
    client, exp, parents, children = _runs(sweep["uri"])
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.data.tags["mage.ray_address"] == sweep["address"]  # joined the cluster, not an embedded Ray
    assert len(children) == 1
    child = children[0]
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id and child.info.status == "FINISHED"
    # Placed on the worker node: the head has no CPUs for the trial, and the trial says where it ran.
    assert child.data.tags["mage.node_id"] == sweep["worker_id"] != sweep["head_id"]
    m = child.data.metrics
    assert math.isfinite(m["eval/norm_score"]) and m["time/total_s"] > 0
    assert len(client.get_metric_history(child.info.run_id, "tok/loss")) == 2  # per epoch, from the worker
    assert len(client.get_metric_history(child.info.run_id, "pol/loss")) == 2
    assert "eval/norm_score" in sweep["proc"].stdout  # the driver's results table, read back from the server


def test_artifacts_go_through_the_server(sweep: dict) -> None:
    client, exp, _, children = _runs(sweep["uri"])
    run_id = children[0].info.run_id
    # Served artifacts: the experiment stores mlflow-artifacts: URIs, no node needs the server's folder.
    assert exp.artifact_location.startswith("mlflow-artifacts:")
    names = {Path(f.path).name for f in client.list_artifacts(run_id, "checkpoint")}
    assert "config.json" in names, names
    dst = Path(client.download_artifacts(run_id, "checkpoint", str(sweep["tmp"] / "dl")))
    assert (dst / "config.json").is_file()
    on_server = list(
        (sweep["tmp"] / "mlflow" / "artifacts").rglob(f"{run_id}/artifacts/checkpoint/config.json")
    )
    assert len(on_server) == 1  # uploaded through the server into its --artifacts-destination
    eval_files = [f.path for f in client.list_artifacts(run_id, "eval")]
    assert "eval/episodes.parquet" in eval_files


def test_checkpoints_in_the_sweep_storage_and_no_driver_paths(sweep: dict) -> None:
    tmp = sweep["tmp"]
    storage = tmp / "shared" / "ray_results"
    _, _, _, children = _runs(sweep["uri"])
    trial_id = children[0].data.tags["mage.trial_id"]
    # Ray Train checkpoints (both stages in one fit: mage.distributed.worker; named after the sweep and trial,
    # so a resumed trial continues them) and Tune's experiment state, under --storage.
    dirs = list((storage / "train").glob(f"hd2_{trial_id}-train/checkpoint_*"))
    assert dirs and any((d / "train_state.pt").is_file() for d in dirs), dirs
    assert (storage / "hd2").is_dir() and list((storage / "hd2").glob("experiment_state-*.json"))
    # The trial found its data by name on its node (the worker's MAGE_DATA_DIR), not at the driver's path.
    node_file = tmp / "node-data" / "smoke" / "maze2d-umaze-v1.hdf5"
    assert children[0].data.params["data.path"] == str(node_file) and node_file.is_file()
    assert (tmp / "driver" / "data" / "smoke" / "maze2d-umaze-v1.hdf5").is_file()  # the driver's own copy
    # Nothing fell back to a store or folder under the driver's checkout.
    assert not (tmp / "driver" / "mlruns.db").exists() and not (tmp / "driver" / "mlartifacts").exists()
    assert not (tmp / "driver" / "ray_results").exists()


def test_server_script_status_and_refusals(two_nodes: dict) -> None:
    tmp, port = two_nodes["tmp"], two_nodes["uri"].rsplit(":", 1)[1]
    status = _server("status", tmp / "mlflow")
    assert status.returncode == 0 and two_nodes["uri"] in status.stdout
    again = _server("start", tmp / "mlflow", "--port", port)  # one server per state dir
    assert again.returncode == 1 and "already running" in again.stderr
    busy = _server("start", tmp / "other", "--port", port)  # the port is taken: refused before starting
    assert busy.returncode == 1 and "cannot listen" in busy.stderr and not (tmp / "other/server.pid").exists()
    assert _server("status", tmp / "other").returncode == 3
