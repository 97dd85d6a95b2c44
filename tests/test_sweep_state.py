"""A sweep's state file and --resume (fast), the private Ray temp dir of ray-up.sh (fast, no Ray), and Ctrl-C
on a smoke sweep (slow: a real SIGINT to the sweep process)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweeps import hierarchy_depth, search
from sweeps.driver.state import PARENT_FILE, join_storage, read_state, write_state

REPO = Path(__file__).resolve().parents[1]


def started(tmp: Path, argv: list[str], name: str = "hd") -> dict:
    """Write the state file a sweep started with ``argv`` would have, as run_sweep writes it."""
    from sweeps.driver.run import new_state

    args = hierarchy_depth.make_parser().parse_args([*argv, "--storage", str(tmp), "--name", name])
    args.tracking_uri = args.tracking_uri or "sqlite:////x.db"
    state = {**new_state(args, "hierarchy-depth", "parent123"), "status": "interrupted"}
    write_state(join_storage(str(tmp), name), state)
    return state


def test_resume_restores_the_preset_overrides_and_flags(tmp_path: Path) -> None:
    started(tmp_path, ["--smoke", "--K", "1", "2", "--set", "data.rtg_horizon=64", "--set", "eval.hold=true"])
    args = hierarchy_depth.make_parser().parse_args(["--resume", "--storage", str(tmp_path), "--name", "hd"])
    assert args.smoke and args.K == [1, 2] and args.set == ["data.rtg_horizon=64", "eval.hold=true"]
    assert args.tracking_uri == "sqlite:////x.db" and args.resume_state["parent_run_id"] == "parent123"
    # Operational flags stay free, and repeating the saved ones (in any spelling) is fine.
    again = hierarchy_depth.make_parser().parse_args(
        ["--resume", "--storage", str(tmp_path), "--name", "hd", "--smoke", "--max-concurrent", "3",
         "--set", "eval.hold=true", "--set", "data.rtg_horizon=64"]
    )  # fmt: skip
    assert again.max_concurrent == 3 and again.K == [1, 2]
    # Without --name: the latest sweep of this script (a smoke one too).
    started(tmp_path, ["--smoke", "--K", "2"], name="hierarchy-depth-smoke-1")
    latest = hierarchy_depth.make_parser().parse_args(["--resume", "--storage", str(tmp_path)])
    assert latest.resume_dir.endswith("/hierarchy-depth-smoke-1") and latest.smoke and latest.K == [2]


def test_resume_runs_the_trial_concurrency_the_sweep_was_started_with(tmp_path: Path, capsys) -> None:
    """Tune restores a sweep's ``max_concurrent_trials``: a different ``--max-concurrent`` on resume would only
    size each trial's CPU share for a concurrency that never happens, so it is replaced by the saved one and the
    driver says so in one line."""
    from sweeps.driver.state import saved_concurrency

    started(tmp_path, ["--smoke", "--max-concurrent", "1"])
    argv = ["--resume", "--storage", str(tmp_path), "--name", "hd"]
    args = hierarchy_depth.make_parser().parse_args([*argv, "--max-concurrent", "2"])
    assert args.max_concurrent == 1
    assert "--max-concurrent 2: a resumed sweep runs 1 trial(s) at a time" in capsys.readouterr().out
    assert hierarchy_depth.make_parser().parse_args(argv).max_concurrent == 1
    assert "--max-concurrent" not in capsys.readouterr().out  # nothing to say when none was given
    # An older state file without the key: the last --max-concurrent of its command line; else unknown.
    old = {"command": ["sweeps/hierarchy_depth.py", "--max-concurrent", "2", "--max-concurrent", "1"]}
    assert saved_concurrency(old) == 1 and saved_concurrency({"command": ["x.py"]}) is None


def test_resume_with_other_flags_is_refused_naming_them(tmp_path: Path, capsys) -> None:
    started(tmp_path, ["--smoke", "--set", "data.rtg_horizon=64"])
    argv = ["--resume", "--storage", str(tmp_path), "--name", "hd"]
    with pytest.raises(SystemExit) as e:
        hierarchy_depth.make_parser().parse_args([*argv, "--preset", "cpu", "--set", "data.rtg_horizon=128"])
    msg = str(e.value)
    assert (
        msg.startswith("error: --resume:") and "--preset" in msg and "--set" in msg and "--smoke" not in msg
    )
    assert "'cpu'" in msg and "data.rtg_horizon=128" in msg and "--name" in msg
    with pytest.raises(SystemExit, match="--tracking-uri: saved"):
        hierarchy_depth.make_parser().parse_args([*argv, "--tracking-uri", "sqlite:////other.db"])
    with pytest.raises(SystemExit, match="no sweep to resume"):
        hierarchy_depth.make_parser().parse_args(["--resume", "--storage", str(tmp_path), "--name", "nope"])


def test_resume_of_a_search_keeps_its_own_flags(tmp_path: Path) -> None:
    from sweeps.driver.run import new_state

    args = search.make_parser().parse_args(["--smoke", "--grace-period", "2", "--storage", str(tmp_path)])
    args.tracking_uri = "sqlite:////x.db"
    write_state(join_storage(str(tmp_path), "search-smoke-1"), new_state(args, "search", "p"))
    back = search.make_parser().parse_args(["--resume", "--storage", str(tmp_path)])
    assert back.grace_period == 2 and back.smoke
    with pytest.raises(SystemExit, match="--grace-period: saved 2, given 3"):
        search.make_parser().parse_args(["--resume", "--storage", str(tmp_path), "--grace-period", "3"])


def test_state_file_command_and_store_are_redacted(tmp_path: Path, monkeypatch) -> None:
    argv = ["hierarchy_depth.py", "--smoke", "--tracking-uri", "https://me:hunter2@mlflow.example/x",
            "--set", "train.seed=1"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    state = started(tmp_path, argv[1:])
    text = (tmp_path / "hd" / PARENT_FILE).read_text()
    assert "hunter2" not in text and state["command"][:2] == ["hierarchy_depth.py", "--smoke"]
    assert state["tracking_uri"] == "https://me:***@mlflow.example/x" and "train.seed=1" in state["command"]
    assert state["settings"]["smoke"] is True and "storage" not in state["settings"]
    # Resuming needs the credentials again: asked for, not silently replaced by the masked URI.
    with pytest.raises(SystemExit, match="pass --tracking-uri with its credentials"):
        hierarchy_depth.make_parser().parse_args(["--resume", "--storage", str(tmp_path), "--name", "hd"])
    ok = hierarchy_depth.make_parser().parse_args(
        ["--resume", "--storage", str(tmp_path), "--name", "hd", "--tracking-uri", argv[3]]
    )
    assert ok.tracking_uri == argv[3] and ok.smoke


def test_ray_up_makes_its_temp_dir_private(tmp_path: Path) -> None:
    """cluster/local/ray-up.sh up to `ray start` (a fake ray that fails): the temp dir is 0700, even when it
    existed world-writable, and a symlink in its place is refused."""
    fake = tmp_path / "ray"
    fake.write_text("#!/bin/sh\necho fake ray start failed\nexit 3\n")
    fake.chmod(0o755)
    import tempfile

    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp")) / "t"  # short: ray-up.sh keeps paths <= 44 chars
    env = {
        **os.environ, "RAY_BIN": str(fake), "MAGE_RAY_STATE_DIR": str(tmp_path / "state"),
        "MAGE_RAY_TEMP_DIR": str(temp), "RAY_AUTH_TOKEN_PATH": str(tmp_path / "state" / "token"),
    }  # fmt: skip

    def up() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(REPO / "cluster/local/ray-up.sh")], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    proc = up()
    assert proc.returncode == 1 and "ray start failed" in proc.stderr
    assert stat.S_IMODE(temp.stat().st_mode) == 0o700
    temp.chmod(0o777)  # an existing world-writable dir is made private
    up()
    assert stat.S_IMODE(temp.stat().st_mode) == 0o700
    temp.rmdir()
    (tmp_path / "elsewhere").mkdir()
    temp.symlink_to(tmp_path / "elsewhere")
    proc = up()
    assert proc.returncode == 1 and "symlink or not a directory owned by you" in proc.stderr
    assert "fake ray" not in proc.stderr  # refused before ray start
    temp.unlink()
    temp.parent.rmdir()


def test_ray_up_gives_the_dashboard_time_on_a_busy_machine(tmp_path: Path) -> None:
    """`ray start` fails when the dashboard is not up within RAY_DASHBOARD_STARTUP_TIMEOUT_S (Ray: 60 s), which a
    loaded 2-core box missed: ray-up.sh passes 180 s, MAGE_RAY_READY_TIMEOUT_S changes it, an explicit Ray value
    wins. A fake ray prints the value it was started with."""
    fake = tmp_path / "ray"
    fake.write_text('#!/bin/sh\necho "dashboard timeout=$RAY_DASHBOARD_STARTUP_TIMEOUT_S"\nexit 3\n')
    fake.chmod(0o755)
    import tempfile

    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp")) / "t"
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RAY_DASHBOARD_STARTUP_TIMEOUT_S", "MAGE_RAY_READY_TIMEOUT_S")
    }
    base.update(RAY_BIN=str(fake), MAGE_RAY_STATE_DIR=str(tmp_path / "state"), MAGE_RAY_TEMP_DIR=str(temp),
                RAY_AUTH_TOKEN_PATH=str(tmp_path / "state" / "token"))  # fmt: skip

    def started_with(**extra: str) -> str:
        proc = subprocess.run(["bash", str(REPO / "cluster/local/ray-up.sh")], env={**base, **extra},
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 1 and "ray start failed" in proc.stderr
        return proc.stderr.split("dashboard timeout=")[1].split()[0]

    try:
        assert started_with() == "180"
        assert started_with(MAGE_RAY_READY_TIMEOUT_S="300") == "300"
        assert started_with(RAY_DASHBOARD_STARTUP_TIMEOUT_S="90") == "90"
    finally:
        temp.rmdir()
        temp.parent.rmdir()


@pytest.mark.slow
def test_ctrl_c_on_a_sweep_ends_runs_killed_and_state_interrupted(tmp_path: Path) -> None:
    """A real SIGINT to a smoke sweep mid-trial: exit 130, the parent and the unfinished child run KILLED with
    the reason, the state file says interrupted and how to resume."""
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    cmd = [sys.executable, str(REPO / "sweeps/hierarchy_depth.py"), "--smoke", "--K", "1", "--tracking-uri", uri,
           "--storage", str(tmp_path / "ray"), "--name", "cc"]  # fmt: skip
    env = {**os.environ, "MAGE_DATA_DIR": str(tmp_path / "data")}
    env.pop("RAY_ADDRESS", None)
    log = tmp_path / "sweep.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 400
        # Mid-trial: its Ray Train workers are up (the log, not the sqlite store, which the sweep may be
        # creating right now).
        while time.time() < deadline and "Started training worker group" not in log.read_text():
            time.sleep(2)
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=300)
    text = log.read_text()
    assert rc == 130, text[-4000:]
    from mage.tracking.query import search_runs

    runs = search_runs("mage-hierarchy-depth", tracking_uri=uri)
    parent = runs[runs["tags.mage.run_type"] == "sweep"].iloc[0]
    child = runs[runs["parent_run_id"].notna()].iloc[0]
    assert parent["status"] == "KILLED" and "interrupted" in parent["tags.mage.error"]
    assert "--resume --name cc" in parent["tags.mage.error"]
    assert child["status"] == "KILLED" and "interrupted" in child["tags.mage.error"], (
        child["status"],
        child["tags.mage.error"],
        text[-3000:],
    )
    state = json.loads((tmp_path / "ray" / "cc" / PARENT_FILE).read_text())
    assert state["status"] == "interrupted" and "--resume" in state["resume"]
    assert read_state(str(tmp_path / "ray" / "cc"))["settings"]["K"] == [1]


def test_an_interrupted_trial_whose_training_raised_first_ends_killed(tmp_path: Path) -> None:
    """Ctrl-C can make a trial's training raise (its run FAILED) before the driver marks the unfinished runs:
    those of the trials Tune left unfinished end KILLED too; a trial that failed on its own stays FAILED."""
    from mage.tracking.mlflow_logger import RunLogger
    from mage.tracking.query import search_runs
    from mage.tracking.sweep_runs import mark_stale_children

    uri = f"sqlite:///{tmp_path}/mlruns.db"
    parent = RunLogger.start(experiment="cc", tracking_uri=uri, run_name="sweep")
    for trial, status in (("t0", "RUNNING"), ("t1", "FAILED"), ("t2", "FAILED"), ("t3", "FINISHED")):
        run = RunLogger.start(experiment="cc", tracking_uri=uri, run_name=trial, parent_run_id=parent.run_id)
        run.set_tags({"mage.trial_id": trial})
        if status == "FAILED":
            run.fail(RuntimeError(f"{trial}: training raised"))
        elif status == "FINISHED":
            run.end()
    assert mark_stale_children(uri, "cc", parent.run_id, interrupted_trials=["t0", "t1"]) == 2
    runs = search_runs("cc", tracking_uri=uri, parent_run_id=parent.run_id).set_index("tags.mage.trial_id")
    assert runs["status"].to_dict() == {"t0": "KILLED", "t1": "KILLED", "t2": "FAILED", "t3": "FINISHED"}
    assert "interrupted" in runs.loc["t1", "tags.mage.error"]
    assert "t1: training raised" in runs.loc["t1", "tags.mage.error_on_interrupt"]
    assert "t2: training raised" in runs.loc["t2", "tags.mage.error"]
