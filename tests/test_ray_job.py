"""`ray job submit` of a sweep against a head started by cluster/local/ray-up.sh, then ray-down.sh.

The head gets free ports, its own short temp dir, state dir and token file, so it never meets another Ray on
the machine; ray-down.sh must leave none of its processes behind.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


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
