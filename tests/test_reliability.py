"""Issue 11: every bad input gets one clear error, every interruption leaves honest state, nothing already
written is lost. One test (or more) per failure class; docs/reliability.md maps each class to its tests.
(Bad config values: tests/test_config.py::test_every_bad_value_is_a_config_error_naming_the_key.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from mage.checkpoint import DataMeta, read_config, read_episode_returns, read_train_state, save_checkpoint
from mage.cli import main
from mage.config import make_config
from mage.data.d4rl_io import read_d4rl_hdf5, read_metadata, write_d4rl_hdf5
from mage.fsutil import atomic_dir, atomic_file
from mage.loop import NonFiniteLossError, TrainHooks, run_stage

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith((".tmp", ".old")))


# ----------------------------------------------------------------------------------------------------------
# NaN / inf loss


class _Windows(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"obs_HS": torch.full((4, 2), float(i) / 64)}


def test_a_nan_loss_stops_the_stage_naming_stage_epoch_step_and_terms(tmp_path: Path):
    overrides = {"train.steps_per_epoch": 2, "train.val_batches": 0, "train.device": "cpu"}
    cfg = make_config("smoke", overrides)
    model = nn.Linear(2, 1)
    calls = {"n": 0}
    reports: list[dict] = []

    def loss_fn(m: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        recon = m(batch["obs_HS"]).pow(2).mean()
        vq = torch.tensor(float("nan")) if calls["n"] == 3 else torch.tensor(0.5)
        return {"loss": recon + vq, "recon": recon, "vq": vq}

    loader = torch.utils.data.DataLoader(_Windows(), batch_size=8)
    with pytest.raises(NonFiniteLossError) as e:
        run_stage(
            cfg=cfg,
            hooks=TrainHooks(device="cpu", report=lambda m, save: reports.append(m)),
            stage="tokenizer",
            model=model,
            loss_fn=loss_fn,
            train_loader=loader,
            val_loader=loader,
            device=torch.device("cpu"),
            lr=1e-3,
            epochs=3,
            prefix="tok",
            epoch_offset=0,
            save_fn=lambda d, s: pytest.fail("saved after a NaN"),
        )
    msg = str(e.value)
    assert isinstance(e.value, FloatingPointError)
    assert "stage tokenizer" in msg and "epoch 2/3" in msg and "step 3" in msg, msg
    assert "vq=nan" in msg and "recon=" in msg, msg
    assert len(reports) == 1  # epoch 1 (steps 1-2) reported; the NaN step never reached an optimiser step
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_nan_validation_loss_stops_the_stage_before_its_epoch_is_saved(tmp_path: Path):
    """Training steps finite, held-out windows NaN (the model is only evaluated there): the epoch is not
    reported or saved, and the error names the stage, the epoch and the non-finite metric."""
    overrides = {"train.steps_per_epoch": 2, "train.val_batches": 1, "train.device": "cpu"}
    cfg = make_config("smoke", overrides)
    model = nn.Linear(2, 1)
    reports: list[dict] = []

    def loss_fn(m: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        recon = m(batch["obs_HS"]).pow(2).mean()
        return {"loss": recon if m.training else recon * float("nan"), "recon": recon}

    loader = torch.utils.data.DataLoader(_Windows(), batch_size=8)
    with pytest.raises(NonFiniteLossError) as e:
        run_stage(
            cfg=cfg, hooks=TrainHooks(device="cpu", report=lambda m, save: reports.append(m)),
            stage="policy", model=model, loss_fn=loss_fn, train_loader=loader, val_loader=loader,
            device=torch.device("cpu"), lr=1e-3, epochs=2, prefix="pol", epoch_offset=0,
            save_fn=lambda d, s: pytest.fail("saved after a NaN"),
        )  # fmt: skip
    msg = str(e.value)
    assert "stage policy: epoch 1/2 ended with non-finite metrics (pol/val_loss=nan)" in msg, msg
    assert "pol/val_recon" not in msg and reports == []


# ----------------------------------------------------------------------------------------------------------
# Atomic writes: the helper itself


def test_atomic_file_and_dir_leave_the_old_content_on_error(tmp_path: Path):
    f = tmp_path / "x.bin"
    with atomic_file(f) as tmp:
        tmp.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(f) as tmp:
        assert (
            tmp.parent == tmp_path and tmp.name.startswith(f"x.bin.{os.getpid()}.") and tmp.suffix == ".tmp"
        )
        tmp.write_bytes(b"half")
        raise RuntimeError("killed midway")
    assert f.read_bytes() == b"old" and _leftovers(tmp_path) == []

    d = tmp_path / "ckpt"
    with atomic_dir(d) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(d) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("killed midway")
    assert (d / "a").read_text() == "1" and _leftovers(tmp_path) == []
    with atomic_dir(d) as tmp:  # replacing a complete tree: no stale file of the old one survives
        (tmp / "b").write_text("3")
    assert sorted(p.name for p in d.iterdir()) == ["b"] and _leftovers(tmp_path) == []


def test_atomic_dir_without_rename_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import mage.fsutil

    monkeypatch.setattr(mage.fsutil, "_exchange", lambda a, b: False)  # non-Linux path: rename aside, then in
    d = tmp_path / "ckpt"
    for v in ("1", "2"):
        with atomic_dir(d) as tmp:
            (tmp / "a").write_text(v)
    assert (d / "a").read_text() == "2" and _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------------------------------------
# Concurrent dataset writers


def _arrays(n: int, fill: float) -> dict[str, np.ndarray]:
    return {
        "observations": np.full((n, 4), fill, np.float32),
        "actions": np.zeros((n, 2), np.float32),
        "rewards": np.zeros(n, np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": np.zeros(n, bool),
    }


def test_concurrent_writers_of_one_path_leave_one_valid_file(tmp_path: Path):
    path = tmp_path / "maze2d-umaze-v1.hdf5"
    n_threads, rounds = 4, 3
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                write_d4rl_hdf5(path, _arrays(500 + 100 * i, float(i)), {"writer": i, "round": r})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    d = read_d4rl_hdf5(path, (4,), (2,))  # the strict reader
    i = int(d["metadata/writer"])
    assert len(d["observations"]) == 500 + 100 * i and (d["observations"] == i).all()  # one writer's, whole
    assert _leftovers(tmp_path) == []


def test_two_generate_processes_on_one_path(tmp_path: Path):
    out = tmp_path / "d.hdf5"
    env = {**os.environ, "MAGE_DATA_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "mage",
        "data",
        "generate",
        "maze2d-umaze-v1",
        "--steps",
        "2000",
        "--out",
        str(out),
    ]
    procs = [
        subprocess.Popen(
            [*cmd, "--seed", str(s)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for s in (0, 1)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    # both started on an absent file: both write (atomically), or the later one refuses the other's recipe
    assert all(rc in (0, 1) for rc, _ in results) and any(rc == 0 for rc, _ in results), results
    for rc, err in results:
        assert rc == 0 or "already exists" in err, err
    d = read_d4rl_hdf5(out, (4,), (2,))
    assert len(d["observations"]) == 2000 and int(d["metadata/seed"]) in (0, 1)
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------------------------------------
# Checkpoints: a failed or killed save leaves the previous checkpoint


class _Norms:
    def to_dict(self) -> dict:
        return {"obs": [0.0]}


def _save(d: Path, epoch: int, policy: nn.Module | None = None) -> Path:
    torch.manual_seed(epoch)
    cfg = make_config("smoke", {"train.seed": epoch})
    meta = DataMeta("maze2d-umaze-v1", 4, 2, 2, [-1.0, -1.0], [1.0, 1.0])
    return save_checkpoint(
        d, cfg, meta, _Norms(), np.arange(3.0) + epoch, nn.Linear(2, 2), policy, {"epoch": epoch}
    )


def _assert_epoch(d: Path, epoch: int) -> None:
    assert read_config(d).train.seed == epoch
    assert read_train_state(d)["epoch"] == epoch
    np.testing.assert_array_equal(read_episode_returns(d), np.arange(3.0) + epoch)


def test_a_save_that_raises_midway_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch):
    d = _save(tmp_path / "ckpt", 1)
    _assert_epoch(d, 1)
    real_save = torch.save

    def failing_save(obj, f, *a, **kw):
        if str(f).endswith("policy.pt"):
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space"):
        _save(d, 2, policy=nn.Linear(2, 2))
    _assert_epoch(d, 1)
    assert not (d / "policy.pt").exists() and _leftovers(tmp_path) == []
    monkeypatch.setattr(torch, "save", real_save)
    _save(d, 3)
    _assert_epoch(d, 3)
    assert _leftovers(tmp_path) == []


def test_a_save_killed_midway_keeps_the_previous_checkpoint(tmp_path: Path):
    d = _save(tmp_path / "ckpt", 1)
    marker = tmp_path / "writing"
    child = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        import torch
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_reliability import _save
        real = torch.save
        def slow_save(obj, f, *a, **kw):
            real(obj, f, *a, **kw)
            Path({str(marker)!r}).touch()
            time.sleep(120)
        torch.save = slow_save
        _save(Path({str(d)!r}), 2)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", child], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert p.poll() is None, "the child exited before it started writing"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    _assert_epoch(d, 1)  # the old checkpoint, complete; the kill left only an honest *.tmp sibling
    assert all(name.startswith(f"ckpt.{p.pid}.") and name.endswith(".tmp") for name in _leftovers(tmp_path))


def test_saving_into_a_foreign_directory_is_refused(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a MAGE checkpoint"):
        _save(tmp_path, 1)
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ----------------------------------------------------------------------------------------------------------
# The canonical dataset is not silently replaced; a bad --out fails before generating


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "none"))
    return tmp_path


def _steps(p: Path) -> int:
    return int(read_metadata(p)["steps"])


def test_generate_refuses_to_replace_another_recipe_without_force(data_dir: Path, capsys):
    canonical = data_dir / "maze2d-umaze-v1.hdf5"
    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "600"]) == 0
    assert read_metadata(canonical)["maze"] == "umaze" and _steps(canonical) == 600
    capsys.readouterr()
    mtime = canonical.stat().st_mtime_ns

    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "300"]) == 1  # another recipe
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(canonical) in err and "steps=600" in err and "--force" in err, err
    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "600", "--seed", "1"]) == 1
    assert "seed=0" in capsys.readouterr().err
    assert _steps(canonical) == 600 and canonical.stat().st_mtime_ns == mtime

    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "600"]) == 0  # same recipe: kept
    assert "exists with the same recipe" in capsys.readouterr().out
    assert canonical.stat().st_mtime_ns == mtime

    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "300", "--force"]) == 0
    assert _steps(canonical) == 300 and _leftovers(data_dir) == []


def test_generate_refuses_a_file_without_a_recipe(data_dir: Path, capsys):
    foreign = data_dir / "maze2d-umaze-v1.hdf5"
    write_d4rl_hdf5(foreign, _arrays(50, 0.0))  # e.g. a D4RL download: no generator metadata
    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "300"]) == 1
    assert "no generator recipe" in capsys.readouterr().err
    assert len(read_d4rl_hdf5(foreign)["observations"]) == 50


def test_generate_bad_out_fails_before_generating(data_dir: Path, monkeypatch, capsys):
    import mage.data.generate

    monkeypatch.setattr(mage.data.generate, "generate_arrays", lambda *a, **k: pytest.fail("generated"))
    (data_dir / "afile").write_text("x")
    assert main(["data", "generate", "maze2d-umaze-v1", "--out", str(data_dir / "afile" / "d.hdf5")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "writable directory" in err, err
    assert main(["data", "generate", "maze2d-umaze-v1", "--out", str(data_dir)]) == 1
    assert "is a directory" in capsys.readouterr().err
    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "0"]) == 2
    assert "--steps 0 must be >= 1" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------
# A data file whose shapes fit no task


def test_info_rejects_a_file_whose_shapes_fit_no_task(data_dir: Path, capsys):
    n = 40
    bad = data_dir / "odd.hdf5"
    arrays = {
        **_arrays(n, 0.0),
        "observations": np.zeros((n, 7), np.float32),  # no task has 7-dim observations and 5-dim actions
        "actions": np.zeros((n, 5), np.float32),
    }
    write_d4rl_hdf5(bad, arrays)
    assert main(["data", "info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert (
        "(7,)" in err and "(5,)" in err and "maze2d-umaze-v1" in err and "do not fit any known task" in err
    ), err
    # a file claiming a task whose spaces it does not have
    with h5py.File(bad, "a") as f:
        f["metadata/task"] = "maze2d-large-v1"
    assert main(["data", "info", str(bad)]) == 1
    assert "do not fit its task maze2d-large-v1" in capsys.readouterr().err
    ok = data_dir / "ok.hdf5"
    write_d4rl_hdf5(ok, _arrays(n, 0.0))
    assert main(["data", "info", str(ok)]) == 0


def test_reaper_marks_runs_of_killed_processes_and_leaves_live_ones(tmp_path):
    """SIGKILL leaves a run RUNNING; the reaper (every entry point, `mage runs clean`) marks it KILLED."""
    import subprocess
    import sys

    from mage.cli import main
    from mage.tracking import query
    from mage.tracking.mlflow_logger import RunLogger
    from mage.tracking.reaper import reap_stale_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import os, signal\n"
        "from mage.tracking.mlflow_logger import RunLogger\n"
        f"r = RunLogger.start(experiment='reap', tracking_uri={uri!r}, run_name='victim')\n"
        "print(r.run_id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == -9
    victim = out.stdout.split()[0]
    alive = RunLogger.start(experiment="reap", tracking_uri=uri, run_name="alive")  # this process: alive
    assert reap_stale_runs(uri, dry_run=True) == [victim]
    assert main(["runs", "clean", "--tracking-uri", uri]) == 0
    runs = query.search_runs("reap", tracking_uri=uri).set_index("run_name")
    assert runs.loc["victim", "status"] == "KILLED" and "gone" in runs.loc["victim", "tags.mage.error"]
    assert runs.loc["alive", "status"] == "RUNNING"
    assert reap_stale_runs(uri) == []  # idempotent
    alive.end()


def test_runs_clean_removes_only_stale_temporaries_of_dead_writers(tmp_path: Path, monkeypatch, capsys):
    """A SIGKILL mid-write leaves ``<name>.<pid>.<random>.tmp``; `mage runs clean` removes those whose writer
    is gone and that are old enough, and leaves a live writer's, a young one and ordinary files alone."""
    from mage.cli import main

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    old_file = data / f"maze2d-umaze-v1.hdf5.{dead_pid}.0123abcd.tmp"
    old_dir = data / "sub" / f"checkpoint.{dead_pid}.89abcdef.tmp"
    young = data / f"x.hdf5.{dead_pid}.deadbeef.tmp"
    live = data / f"y.hdf5.{os.getpid()}.00000000.tmp"
    keep = data / "maze2d-umaze-v1.hdf5"
    old_file.write_bytes(b"half")
    (old_dir / "inner").mkdir(parents=True)
    (old_dir / "inner" / f"z.{dead_pid}.11111111.tmp").write_text("nested")
    for p in (young, live, keep):
        p.write_text("x")
    for p in (old_file, old_dir, live):
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    monkeypatch.setenv("MAGE_DATA_DIR", str(data))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setenv("MAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("mage.distributed.ray_init.RAY_TEMP_ROOT", tmp_path / "no-ray-dirs")  # not this /tmp
    assert main(["runs", "clean", "--dry-run"]) == 0
    assert "would remove 2 stale temporaries" in capsys.readouterr().out and old_file.exists()
    assert main(["runs", "clean"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 stale temporaries" in out and str(old_file) in out and str(old_dir) in out
    assert not old_file.exists() and not old_dir.exists()
    assert young.exists() and live.exists() and keep.exists()


def test_runs_clean_removes_the_session_dirs_of_killed_embedded_rays(tmp_path: Path, monkeypatch, capsys):
    """A SIGKILLed driver never runs ``shutdown_ray``, so its ``/tmp/mr-*`` stays. `mage runs clean` removes
    such a dir once it is old and no live process names it; it keeps one a live process (a raylet) names, a
    young one (a Ray starting), and a dir of the same prefix that is not Ray's."""
    from mage.cli import main

    root = tmp_path / "tmp"
    dead, used, young, other = (root / f"mr-{n}" for n in ("dead", "used", "young", "other"))
    for d in (dead, used, young):
        (d / "session_2026-11-30_14-00-00_1").mkdir(parents=True)
    (other / "notes").mkdir(parents=True)
    for d in (dead, used, other):
        os.utime(d, (time.time() - 3600, time.time() - 3600))
    raylet = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--temp_dir={used}"])
    monkeypatch.setattr("mage.distributed.ray_init.RAY_TEMP_ROOT", root)
    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setenv("MAGE_HOME", str(tmp_path / "home"))
    try:
        assert main(["runs", "clean", "--dry-run"]) == 0
        assert "would remove 1 stale temporary" in capsys.readouterr().out and dead.exists()
        assert main(["runs", "clean"]) == 0
        assert f"removed 1 stale temporary\n  {dead}" in capsys.readouterr().out
        assert not dead.exists() and used.exists() and young.exists() and other.exists()
    finally:
        raylet.kill()
        raylet.wait()
    assert main(["runs", "clean"]) == 0 and not used.exists()  # its raylet gone, the dir goes too
