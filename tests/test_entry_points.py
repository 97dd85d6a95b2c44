"""Issue 11, the entry points: one error boundary for every `mage` command, no hangs on a tracking server that is
not there or GPUs that do not exist, `mage ui` on a busy port, no credentials in `mage.command`, and a NaN on
the Ray path that is not retried. docs/reliability.md maps each class to its tests."""

from __future__ import annotations

import argparse
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from mage.cli import main
from mage.cli.errors import CliError, run_command

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MAGE_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("MAGE_DEBUG", raising=False)
    return uri


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _local_train(data: Path, out: Path) -> list[str]:
    return ["train", "--preset", "smoke", "--local", "--data-path", str(data), "--out", str(out), "--no-eval"]


# ----------------------------------------------------------------------------------------------------------
# One error boundary


def _args(func, command: str = "train") -> argparse.Namespace:
    return argparse.Namespace(command=command, func=func)


def test_known_errors_are_one_line_unknown_ones_keep_their_traceback(monkeypatch, capsys):
    from mage.config import ConfigError
    from mage.data.d4rl_io import DatasetError

    def bad_config(args):
        raise ConfigError("train.batch_size=-4 must be >= 1")

    monkeypatch.delenv("MAGE_DEBUG", raising=False)
    assert run_command(_args(bad_config)) == 1
    err = capsys.readouterr().err
    assert err == "mage train: error: train.batch_size=-4 must be >= 1\n"  # one line, no traceback

    def missing(args):
        Path("/nonexistent/x.hdf5").read_bytes()

    assert run_command(_args(missing, "evaluate")) == 1
    assert capsys.readouterr().err == "mage evaluate: error: /nonexistent/x.hdf5: No such file or directory\n"

    class WorkerGroupError(RuntimeError):  # what Ray Train raises: the workers' errors in worker_failures
        def __init__(self):
            super().__init__("Training failed due to worker errors")
            self.worker_failures = {0: DatasetError("x.hdf5: key 'rewards' missing; regenerate it")}

    def wrapped(args):
        raise WorkerGroupError()

    assert run_command(_args(wrapped)) == 1
    assert capsys.readouterr().err == "mage train: error: x.hdf5: key 'rewards' missing; regenerate it\n"

    def handler_exit(args):
        raise SystemExit("error: --episodes 0 must be >= 1")

    with pytest.raises(SystemExit, match=r"^mage evaluate: error: --episodes 0 must be >= 1$"):
        run_command(_args(handler_exit, "evaluate"))

    def cli_error(args):
        raise CliError("--steps 0 must be >= 1", 2)

    assert run_command(argparse.Namespace(command="data", data_command="generate", func=cli_error)) == 2
    assert capsys.readouterr().err == "mage data generate: error: --steps 0 must be >= 1\n"

    def bug(args):
        return {}["nope"]

    assert run_command(_args(bug)) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError" in err
    assert err.strip().splitlines()[-1].startswith("mage train: unexpected error KeyError")

    monkeypatch.setenv("MAGE_DEBUG", "1")  # the traceback of a known error too
    assert run_command(_args(bad_config)) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == "mage train: error: train.batch_size=-4 must be >= 1"


def test_the_console_script_prints_one_line_and_exits_1(tmp_path: Path):
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
        "MAGE_DATA_DIR": str(tmp_path),
    }
    env.pop("MAGE_DEBUG", None)
    cases = [
        (
            ["train", "--preset", "smoke", "--set", "train.batch_size=-4"],
            "mage train: error: train.batch_size",
        ),
        (["data", "info", str(tmp_path / "none.hdf5")], "mage data info: error: "),
        (["data", "generate", "nope-v1"], "mage data generate: error: unknown task 'nope-v1'"),
        (  # a misspelt dataset: one line with the likely name, and no MLflow run opened for it
            ["train", "--local", "--preset", "smoke", "--dataset", "maze2d-umaz-v1"],
            "mage train: error: unknown task 'maze2d-umaz-v1'; did you mean maze2d-umaze-v1,",
        ),
        (  # a device string torch does not know: torch's own error was a traceback deep in the rollout
            ["evaluate", "--local", "--checkpoint", str(tmp_path), "--device", "gpu"],
            "mage evaluate: error: --device='gpu' is not a torch device",
        ),
    ]
    if not torch.cuda.is_available():  # CUDA asked on a machine without it: torch's AssertionError before
        cases.append(
            (
                ["train", "--local", "--preset", "smoke", "--set", "train.device=cuda"],
                "mage train: error: train.device='cuda': this machine has no usable CUDA GPU",
            )
        )
    for argv, start in cases:
        r = subprocess.run(
            [sys.executable, "-m", "mage", *argv], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert r.returncode in (1, 2) and "Traceback" not in r.stderr, (argv, r.stderr)
        assert r.stderr.startswith(start) and len(r.stderr.strip().splitlines()) == 1, (argv, r.stderr)
    assert not (tmp_path / "m.db").exists()  # no command above got as far as the tracking store


# ----------------------------------------------------------------------------------------------------------
# No hangs: a tracking server that is not there, GPUs that do not exist


def test_an_unreachable_tracking_server_fails_fast(store, tiny_maze2d_path, tmp_path, monkeypatch, capsys):
    from mage.tracking.store import TrackingUnreachableError, check_tracking_reachable

    port = _closed_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:hunter2@127.0.0.1:{port}")
    for cmd, argv in (
        ("train", _local_train(tiny_maze2d_path, tmp_path / "o")),
        ("runs clean", ["runs", "clean"]),
    ):
        t0 = time.monotonic()
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert time.monotonic() - t0 < 15, argv  # MLflow's own retries take minutes
        assert err.startswith(
            f"mage {cmd}: error: the MLflow tracking server http://user:***@127.0.0.1:{port}"
        )
        assert "does not answer (Connection refused" in err and "hunter2" not in err, err
    assert not (tmp_path / "o" / "checkpoint").exists()  # failed before any work
    with socket.socket() as silent:  # a server that accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        t0 = time.monotonic()
        with pytest.raises(
            TrackingUnreachableError, match=r"does not answer \(timed out; waited at most 0.5 s"
        ):
            check_tracking_reachable(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        assert time.monotonic() - t0 < 5

    class NotFound(http.server.BaseHTTPRequestHandler):  # any HTTP answer means a server is there
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        check_tracking_reachable(f"http://127.0.0.1:{srv.server_address[1]}", timeout=5)
    finally:
        srv.shutdown()
    check_tracking_reachable("sqlite:////nonexistent/x.db")  # stores that are files are not probed


def test_gpus_on_a_machine_without_gpus_fail_before_ray_starts(store, tiny_maze2d_path, monkeypatch, capsys):
    import ray
    import torch

    from mage.distributed.resources import ResourceError, Resources

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    argv = ["train", "--preset", "smoke", "--data-path", str(tiny_maze2d_path), "--gpus", "--workers", "2"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after MLflow's notes on creating the store
    assert err.startswith("mage train: error: training on GPUs (--gpus) asks for 2 GPU(s) (2 worker(s) x 1)")
    assert "this machine has 0" in err and "drop --gpus" in err
    assert not ray.is_initialized()
    Resources(use_gpu=True).check_gpus(1, where="x")  # enough
    Resources(use_gpu=None).check_gpus(0, where="x")  # GPUs iff the cluster has them: nothing asked for
    with pytest.raises(ResourceError, match="asks for 2 GPU"):
        Resources(use_gpu=True, num_workers=2).check_gpus(1, where="this machine (embedded Ray)")


# ----------------------------------------------------------------------------------------------------------
# mage ui on a busy port


def test_ui_on_a_busy_port_is_an_error(store, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        t0 = time.monotonic()
        assert main(["ui", "--port", str(port)]) == 1
    assert time.monotonic() - t0 < 5  # no server was started
    err = capsys.readouterr().err
    assert err.startswith(f"mage ui: error: port {port} on 127.0.0.1 is in use") and "--port" in err
    assert main(["ui", "--port", "70000"]) == 2


# ----------------------------------------------------------------------------------------------------------
# No credentials in mage.command


def test_the_recorded_command_line_has_no_secrets(monkeypatch):
    from mage.tracking.redact import redact_argv, redact_uri
    from mage.tracking.sweep_runs import command_line

    argv = [
        "/x/sweeps/search.py",
        "--tracking-uri",
        "http://alice:s3cret@mlflow:5000/?token=abc&x=1",
        "--set",
        "mlflow.password=hunter2",
        "--set",
        "tokenizer.num_scales=4",
        "--set=db.secret_key=k1",
        "AWS_SECRET_ACCESS_KEY=k2",
        "--api-key",
        "k3",
        "--token=k4",
        "--set",
        "eval.top_k=5",
        "--tokenizer-from",
        "run1",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    line = command_line()
    for secret in ("s3cret", "abc", "hunter2", "k1", "k2", "k3", "k4"):
        assert secret not in line, (secret, line)
    for kept in ("search.py", "alice", "x=1", "tokenizer.num_scales=4", "eval.top_k=5", "run1"):
        assert kept in line, (kept, line)
    assert redact_argv(["postgresql://me:pw@db/mlflow"]) == ["postgresql://me:***@db/mlflow"]
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


# ----------------------------------------------------------------------------------------------------------
# A NaN on the Ray path is not retried


def test_a_nonfinite_loss_returned_by_rank_0_is_raised_once():
    from mage.distributed.train import NONFINITE, raise_nonfinite
    from mage.loop import NonFiniteLossError

    raise_nonfinite(None)  # a normal end
    with pytest.raises(NonFiniteLossError, match=r"stage tokenizer epoch 1 step 3.*not retried"):
        raise_nonfinite({NONFINITE: "non-finite loss in stage tokenizer epoch 1 step 3"})


@pytest.mark.slow
def test_a_nan_in_a_ray_train_worker_fails_the_stage_without_retries(mage_data_dir, one_thread, tmp_path):
    """An absurd learning rate makes the loss non-finite on the first epochs; Ray Train would restart a raised
    error max_failures times and then raise its own WorkerGroupError, so a NonFiniteLossError here means the
    worker returned it (no retry)."""
    from mage.config import make_config
    from mage.distributed.resources import Resources
    from mage.distributed.train import train_stage
    from mage.loop import NonFiniteLossError

    cfg = make_config(
        "smoke",
        {
            "train.tokenizer_lr": 1e30,
            "train.warmup_steps": 0,
            "train.steps_per_epoch": 4,
            "train.val_batches": 0,
        },
    )
    t0 = time.monotonic()
    with pytest.raises(NonFiniteLossError, match="not retried"):
        train_stage("tokenizer", cfg, resources=Resources(max_failures=3, storage_path=str(tmp_path)))
    print(f"failed in {time.monotonic() - t0:.1f} s")


def test_a_sweep_script_shares_the_boundary_one_line_and_exit_1(tmp_path: Path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(root / "sweeps/hierarchy_depth.py"), "--smoke", "--set", "nope.key=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("sweeps/hierarchy_depth.py: error: unknown config key")
    )
    assert "Traceback" not in proc.stderr


def test_a_sweep_probes_the_tracking_server_before_making_data(tmp_path: Path):
    """An unreachable store ends the sweep in seconds, before its datasets are generated or Ray starts."""
    env = {**os.environ, "MAGE_DATA_DIR": str(tmp_path / "data"), "MAGE_TRACKING_TIMEOUT": "2"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, str(REPO / "sweeps/hierarchy_depth.py"), "--smoke", "--storage", str(tmp_path / "ray"),
         "--tracking-uri", f"http://127.0.0.1:{_closed_port()}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and last.startswith("sweeps/hierarchy_depth.py: error: "), proc.stderr[-2000:]
    assert "127.0.0.1" in last and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.hdf5"))


def test_a_joined_cluster_waits_for_gpus_then_fails_naming_the_wait(monkeypatch, capsys):
    """On a cluster that may grow, ``require_gpus`` polls until the GPUs come (returns) or the wait ends (one
    ResourceError naming MAGE_GPU_WAIT_S); the embedded Ray fails at once. Ray's resource view is replaced by
    a script of what an autoscaler would report: growing a real cluster is not possible here."""
    import ray

    from mage.distributed import ray_init
    from mage.distributed.resources import ResourceError, Resources

    seen = iter([0.0, 0.0, 1.0])
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0, "GPU": next(seen)})
    monkeypatch.setattr(ray_init, "_owned_temp_dir", None)  # joined, not embedded
    monkeypatch.setenv(ray_init.GPU_WAIT_ENV, "30")
    ray_init.require_gpus(Resources(use_gpu=True), poll_s=0.01)  # the third poll sees the GPU node
    assert next(seen, None) is None
    assert "waiting up to 30 s (MAGE_GPU_WAIT_S) for 1 GPU(s)" in capsys.readouterr().out

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setenv(ray_init.GPU_WAIT_ENV, "0.05")
    t0 = time.monotonic()
    with pytest.raises(ResourceError, match=r"asks for 1 GPU.*after 0.05 s of waiting \(MAGE_GPU_WAIT_S\)"):
        ray_init.require_gpus(Resources(use_gpu=True, gpus_per_worker=0.5, num_workers=2), poll_s=0.01)
    assert time.monotonic() - t0 < 5
    monkeypatch.setattr(ray_init, "_owned_temp_dir", "/tmp/x")  # embedded: no wait at all
    monkeypatch.setenv(ray_init.GPU_WAIT_ENV, "1000")
    with pytest.raises(ResourceError, match=r"\(--gpus-per-trial\) asks for 1 GPU.*this machine \(embedded"):
        ray_init.require_gpus(Resources(use_gpu=True), flag="--gpus-per-trial")
    ray_init.require_gpus(Resources(use_gpu=None))  # nothing asked for: returns without looking


def test_ray_trains_own_sigint_exit_becomes_an_interrupt_and_the_old_handler_returns():
    """Inside ``ray_train_sigint`` the handler Ray Train installs in ``fit()`` (abort, then ``sys.exit``) ends
    in a KeyboardInterrupt; afterwards the handler from before is back."""
    import signal

    from mage.distributed.ray_init import ray_train_sigint

    before = signal.getsignal(signal.SIGINT)

    def rays_handler(signum, frame):  # what DataParallelTrainer._register_sigint_handler does
        sys.exit(0)

    with pytest.raises(KeyboardInterrupt, match="aborted by Ctrl-C"), ray_train_sigint():
        signal.signal(signal.SIGINT, rays_handler)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler runs here
    assert signal.getsignal(signal.SIGINT) is before
    with ray_train_sigint():  # a normal fit: nothing changes
        signal.signal(signal.SIGINT, rays_handler)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.slow
def test_ctrl_c_on_the_ray_path_of_mage_train_ends_its_run_killed(store, tiny_maze2d_path, tmp_path):
    """A real SIGINT to `mage train` while Ray Train trains: exit 130, `interrupted`, the run KILLED."""
    from mlflow.tracking import MlflowClient

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [str(REPO / ".venv/bin/mage"), "train", "--preset", "smoke", "--data-path", str(tiny_maze2d_path),
            "--set", "train.tokenizer_epochs=200"]  # fmt: skip
    log = tmp_path / "out.log"
    with log.open("w") as f:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 150
        while "%|" not in log.read_text() and time.monotonic() < deadline:  # the training bar is up
            time.sleep(1)
        time.sleep(5)  # the worker group is up and training
        proc.send_signal(2)
        rc = proc.wait(timeout=120)
    out = log.read_text()
    assert rc == 130 and "mage train: interrupted" in out, out[-3000:]
    client = MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [(r.info.status, r.data.tags.get("mage.error")) for r in runs] == [("KILLED", "interrupted")]
