"""Cluster files cannot be applied offline: parse them and check the keys of spec platform.md §7, the pins of
the Dockerfile against pyproject.toml, and that every entrypoint is a valid sweep command line."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "cluster"
RAY_VERSION = "2.60.0"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((CLUSTER / name).read_text())


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for d in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^;\s]+)", d.strip())
        assert m, f"unpinned dependency {d!r} in pyproject.toml"
        pins[m.group(1).lower()] = m.group(3)
    return pins


# ----------------------------------------------------------------------------------------------------------
# ray up


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_ray_up_yaml(name: str) -> None:
    c = load(name)
    for key in (
        "cluster_name",
        "max_workers",
        "upscaling_speed",
        "idle_timeout_minutes",
        "docker",
        "auth",
        "head_node_type",
        "file_mounts",
        "rsync_exclude",
        "provider",
        "available_node_types",
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    ):
        assert key in c, f"{name}: missing {key}"
    assert {"image", "container_name", "run_options"} <= set(c["docker"])
    assert c["auth"]["ssh_user"]
    assert 0 < c["idle_timeout_minutes"] <= 60

    types = c["available_node_types"]
    assert c["head_node_type"] == "ray.head.default" and "ray.head.default" in types
    head, gpu = types["ray.head.default"], types["ray.worker.gpu"]
    assert {"resources", "node_config"} <= set(head)
    assert {"min_workers", "max_workers", "resources", "node_config"} <= set(gpu)
    assert gpu["resources"]["GPU"] == 1 and 0 <= gpu["min_workers"] <= gpu["max_workers"] <= c["max_workers"]

    provider = c["provider"]
    if name == "aws.yaml":
        assert provider["type"] == "aws"
        assert {"region", "availability_zone", "cache_stopped_nodes"} <= set(provider)
        for node in (head, gpu):
            assert {"InstanceType", "ImageId"} <= set(node["node_config"])
    else:
        assert provider["type"] == "gcp"
        assert {"region", "availability_zone", "project_id"} <= set(provider)
        nc = gpu["node_config"]
        assert {"machineType", "disks", "guestAccelerators"} <= set(nc)
        assert nc["guestAccelerators"][0]["acceleratorCount"] == 1
        assert nc["scheduling"]["onHostMaintenance"] == "TERMINATE"
        assert "machineType" in head["node_config"] and "disks" in head["node_config"]

    head_start = " ".join(c["head_start_ray_commands"])
    assert "ray start --head" in head_start and "--dashboard-host=0.0.0.0" in head_start
    assert "--disable-usage-stats" in head_start
    assert "ray start --address=$RAY_HEAD_IP:6379" in " ".join(c["worker_start_ray_commands"])
    assert any("pip install" in cmd and "-e ." in cmd for cmd in c["setup_commands"])


# ----------------------------------------------------------------------------------------------------------
# KubeRay


def check_ray_cluster_spec(spec: dict[str, Any], where: str) -> None:
    assert spec["rayVersion"] == RAY_VERSION, where
    assert "enableInTreeAutoscaling" in spec
    head = spec["headGroupSpec"]
    assert head["serviceType"] and head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    (hc,) = head["template"]["spec"]["containers"]
    assert hc["name"] == "ray-head" and hc["image"]
    assert {p["containerPort"] for p in hc["ports"]} == {6379, 8265, 10001}
    assert {"requests", "limits"} <= set(hc["resources"])
    groups = spec["workerGroupSpecs"]
    assert groups, where
    for g in groups:
        assert {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"} <= set(g)
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        (wc,) = g["template"]["spec"]["containers"]
        assert wc["name"] == "ray-worker" and wc["image"] == hc["image"]
        limits = wc["resources"]["limits"]
        assert {"cpu", "memory"} <= set(limits) and int(limits["nvidia.com/gpu"]) == 1


def test_raycluster() -> None:
    c = load("kuberay/raycluster.yaml")
    assert c["apiVersion"] == "ray.io/v1" and c["kind"] == "RayCluster" and c["metadata"]["name"]
    check_ray_cluster_spec(c["spec"], "raycluster")


def test_rayjob_and_its_entrypoint() -> None:
    j = load("kuberay/rayjob.yaml")
    assert j["apiVersion"] == "ray.io/v1" and j["kind"] == "RayJob" and j["metadata"]["name"]
    spec = j["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    check_ray_cluster_spec(spec["rayClusterSpec"], "rayjob")
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["env_vars"]["MLFLOW_TRACKING_URI"].startswith("http")  # a server on a cluster
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["python", "sweeps/hierarchy_depth.py"]
    from sweeps import hierarchy_depth

    args = hierarchy_depth.make_parser().parse_args(argv[2:])  # typos in the flags fail here
    assert args.storage.startswith("/mnt/")  # the shared volume, mounted on every pod


# ----------------------------------------------------------------------------------------------------------
# Dockerfile, images, scripts, README


def test_dockerfile_pins_match_pyproject_and_ray_version() -> None:
    text = (CLUSTER / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert base.startswith(f"rayproject/ray:{RAY_VERSION}-py311")
    for must in ("torch==2.13.0", "ray[default,tune,train]==2.60.0", "mlflow==3.17.2", "mujoco==3.1.6"):
        assert must in text, must
    for name, version in pyproject_pins().items():
        assert re.search(rf"(?i)\b{re.escape(name)}(\[[^\]]*\])?=={re.escape(version)}\b", text), (
            name,
            version,
        )
    assert re.search(r"pip install --no-deps -e \.", text)  # the project itself, deps already pinned above


def test_images_agree() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    images = {load(f)["docker"]["image"] for f in ("aws.yaml", "gcp.yaml")}
    rc = load("kuberay/raycluster.yaml")["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    rj = load("kuberay/rayjob.yaml")["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    images |= {rc, rj["containers"][0]["image"]}
    assert all(img.endswith(f":{version}") for img in images), images


def test_local_scripts_are_valid_bash() -> None:
    for script in ("ray-up.sh", "ray-down.sh"):
        path = CLUSTER / "local" / script
        subprocess.run(["bash", "-n", str(path)], check=True)
    up = (CLUSTER / "local" / "ray-up.sh").read_text()
    for must in (
        "RAY_AUTH_MODE",
        "RAY_AUTH_TOKEN_PATH",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0",
        "--disable-usage-stats",
        "--dashboard-host 127.0.0.1",
        "--temp-dir",
        "ray_current_cluster",
    ):
        assert must in up, must
    assert "ray stop" not in (CLUSTER / "local" / "ray-down.sh").read_text().replace("`ray stop`", "")


def test_readme_covers_launch_and_remote_mlflow() -> None:
    text = (CLUSTER / "README.md").read_text()
    for must in (
        "MLFLOW_TRACKING_URI=http",
        "MAGE_ARTIFACT_ROOT",
        "--storage",
        "ray up cluster/aws.yaml",
        "ray up cluster/gcp.yaml",
        "kubectl apply -f cluster/kuberay/raycluster.yaml",
        "cluster/kuberay/rayjob.yaml",
        "docker build",
        "ray job submit",
        "RAY_AUTH_TOKEN",
    ):
        assert must in text, must
