"""The MLflow dashboard over a store filled by the real smoke sweeps, checked in headless Debian Chromium.

Starts ``mlflow server`` on 127.0.0.1 (free port, lean settings of spec platform.md §8, explicit
--default-artifact-root), opens the RTG study's experiment with Playwright driving /usr/bin/chromium (no
browser download), waits for the runs to render, expands the study's parent run and checks that the
experiment name, the parent run and a child run are visible. Saves a screenshot under the test's tmp dir;
with MAGE_UPDATE_DOCS_IMG=1 it also refreshes docs/img/mlflow-dashboard.png (tests never touch the tree).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# How Chromium runs on these machines (.library/env/machines/python.md); the profile dir is fresh per test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOWN_COLUMNS = (
    "eval/target_return",
    "eval/return_mean",
    "eval/norm_score",
    "eval/norm_score_ci95",
    "mage.rtg_kind",
    "mage.rtg_value",
)
DOCS_SCREENSHOT = ROOT / "docs" / "img" / "mlflow-dashboard.png"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


@pytest.fixture
def mlflow_server(smoke_sweep_store: str, tmp_path: Path) -> Iterator[str]:
    store = smoke_sweep_store  # tests/conftest.py: the same memoised smoke-sweep store
    # a copy of the db: the server must not touch the store other tests read
    db = tmp_path / "mlruns.db"
    shutil.copy(store[len("sqlite:///") :], db)
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (tmp_path / "server.log").open("w")
    cmd = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        str(tmp_path / "server-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with {proc.returncode}:\n{(tmp_path / 'server.log').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 120 s")
            time.sleep(0.5)
        yield base
    finally:
        # the server runs in its own session: SIGTERM its group (uvicorn parent and worker), then make sure
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def test_dashboard_shows_rtg_study(mlflow_server: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (make browser-deps installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    exp = _get_json(f"{mlflow_server}/api/2.0/mlflow/experiments/get-by-name?experiment_name=mage-rtg")[
        "experiment"
    ]
    req = urllib.request.Request(
        f"{mlflow_server}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [exp["experiment_id"]], "max_results": 100}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        runs = json.load(r)["runs"]
    tags = [{t["key"]: t["value"] for t in run["data"].get("tags", [])} for run in runs]
    parent = next(r["info"]["run_name"] for r, t in zip(runs, tags) if t.get("mage.run_type") == "sweep")
    children = [r["info"]["run_name"] for r, t in zip(runs, tags) if t.get("mage.rtg_kind")]
    assert len(children) == 3, children

    shot = tmp_path / "mlflow-dashboard.png"
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 900},
        )
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            # workflowType=machine_learning: MLflow 3 otherwise opens the GenAI (traces) view
            page.goto(
                f"{mlflow_server}/#/experiments/{exp['experiment_id']}/runs?workflowType=machine_learning"
            )
            expect(page.get_by_text(parent, exact=True).first).to_be_visible(timeout=90_000)
            expect(page.get_by_text("mage-rtg", exact=True).first).to_be_visible()
            # children are collapsed under the parent: expand it
            if not page.get_by_text(children[0], exact=True).count():
                page.get_by_role("row").filter(has_text=parent).get_by_role("button").first.click()
            for name in children:
                expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=30_000)
            close = page.get_by_role("button", name="Close")
            if close.count():  # the assistant side panel hides the metric columns
                close.first.click()
            # show what the study is about: target vs achieved, score, and the RTG tags
            page.get_by_role("button", name="Columns", exact=True).click()
            menu = page.get_by_role("dialog")
            for col in ("Dataset", "Source", "Models", *SHOWN_COLUMNS):
                menu.get_by_text(col, exact=True).first.click()
            page.keyboard.press("Escape")
            for header in SHOWN_COLUMNS:
                expect(page.get_by_role("columnheader").filter(has_text=header[:12]).first).to_be_visible()
            expect(page.get_by_role("gridcell", name="percentile", exact=True).first).to_be_visible()
            expect(page.get_by_role("gridcell", name="ood", exact=True).first).to_be_visible()
            page.wait_for_timeout(500)
            page.screenshot(path=str(shot))
        finally:
            ctx.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("MAGE_UPDATE_DOCS_IMG") == "1":
        shutil.copyfile(shot, DOCS_SCREENSHOT)
