"""`mage train --local` survives an interruption: every epoch leaves a resumable state under --out, and
--resume continues the same run from it, ending with the same weights as a run that was never stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_training  # tests/ is on sys.path (pytest's default import mode)
import torch

from mage.cli import main
from mage.config import make_config
from mage.pipeline import local_resume_state, run_local

# test_training's tiny model, with the two things that draw from the RNG mid-stage: a resume must restore it
TINY = {**test_training.TINY, "tokenizer.dead_code_every": 2, "transformer.dropout": 0.1}


class Stop(Exception):
    pass


def _stopping_at(epoch: int):
    """A log_fn that stops the run when epoch ``epoch`` is reported (the state of epoch - 1 is on disk)."""

    def log(m: dict[str, float]) -> None:
        if int(m["epoch"]) == epoch:
            raise Stop

    return log


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return {
        f"{f}:{k}": v
        for f in ("tokenizer.pt", "policy.pt")
        for k, v in torch.load(ckpt / f, map_location="cpu", weights_only=True).items()
    }


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def setup(tiny_maze2d_path: Path, tmp_path_factory: pytest.TempPathFactory):
    cfg = make_config("cpu", {**TINY, "data.path": str(tiny_maze2d_path)})
    unbroken = run_local(cfg, tmp_path_factory.mktemp("unbroken") / "checkpoint")
    return cfg, _weights(unbroken)


@pytest.mark.parametrize("stop_at", [2, 4], ids=["in-stage-1", "in-stage-2"])
def test_a_stopped_local_run_continues_to_the_same_weights(setup, tmp_path: Path, stop_at: int) -> None:
    cfg, unbroken = setup
    state = tmp_path / "train_state"
    with pytest.raises(Stop):
        run_local(cfg, tmp_path / "checkpoint", log_fn=_stopping_at(stop_at), state_dir=state)
    left = local_resume_state(state, cfg)
    assert (left["stage"], left["epoch"]) == (("tokenizer", 1) if stop_at == 2 else ("policy", 1))
    seen: list[int] = []
    ck = run_local(cfg, tmp_path / "checkpoint", log_fn=lambda m: seen.append(int(m["epoch"])),
                   state_dir=state, resume_state=left)  # fmt: skip
    assert seen == list(range(stop_at, 5))  # only the epochs that were not done
    assert _same(_weights(ck), unbroken)
    assert not state.exists()  # removed once the final checkpoint is written


def test_without_the_rng_and_the_data_order_the_continuation_differs(setup, tmp_path, monkeypatch) -> None:
    """The control: the test above fails when the resume restarts the batch order and the RNGs."""
    import mage.loop

    cfg, unbroken = setup
    state = tmp_path / "train_state"
    with pytest.raises(Stop):
        run_local(cfg, tmp_path / "checkpoint", log_fn=_stopping_at(4), state_dir=state)
    monkeypatch.setattr(mage.loop, "set_rng_state", lambda s: None)
    ck = run_local(cfg, tmp_path / "checkpoint", state_dir=state, resume_state=local_resume_state(state, cfg))
    assert not _same(_weights(ck), unbroken)


def test_a_resume_under_other_settings_or_without_state_is_one_clear_error(setup, tmp_path: Path) -> None:
    cfg, _ = setup
    state = tmp_path / "train_state"
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        local_resume_state(state, cfg)
    with pytest.raises(Stop):
        run_local(cfg, tmp_path / "checkpoint", log_fn=_stopping_at(2), state_dir=state)
    other = make_config("cpu", {**cfg.flatten(), "train.policy_lr": 1e-4})
    with pytest.raises(ValueError, match=r"train.policy_lr=0.0005 \(asked 0.0001\)"):
        local_resume_state(state, other)
    assert (state / "train_state.pt").is_file()  # the state is left as it was


@pytest.mark.slow
def test_mage_train_local_resume_continues_the_same_mlflow_run(
    tiny_maze2d_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from mage.tracking import query
    from mage.tracking.mlflow_logger import RunLogger

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "--local", "--no-eval", "--preset", "cpu", "--data-path", str(tiny_maze2d_path),
            "--out", str(out)]  # fmt: skip
    for k, v in TINY.items():
        argv += ["--set", f"{k}={v}"]
    real = RunLogger.log_metrics

    def stop_at_3(self, metrics, step=None):
        if step == 3:
            raise KeyboardInterrupt
        real(self, metrics, step=step)

    monkeypatch.setattr(RunLogger, "log_metrics", stop_at_3)
    assert main(argv) == 130  # Ctrl-C in epoch 3
    monkeypatch.setattr(RunLogger, "log_metrics", real)
    with pytest.raises(SystemExit, match="holds an interrupted run.*pass --resume"):
        main(argv)  # never silently overwritten
    with pytest.raises(SystemExit, match=r"train.policy_lr=0.0005 \(asked 0.0001\)"):
        main([*argv, "--resume", "--set", "train.policy_lr=1e-4"])
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    printed = capsys.readouterr().out
    run_id = (out / "run_id").read_text()
    assert f"continuing run {run_id} from tokenizer epoch 2" in printed
    run = query.get_run(run_id, tracking_uri=uri)
    assert run.info.status == "FINISHED" and run.data.tags["mage.resumed_from_epoch.tokenizer"] == "2"
    epochs = query.metric_history(run_id, ["epoch"], tracking_uri=uri)["step"].tolist()
    assert epochs == [1, 2, 3, 4]  # one run, each epoch once
    assert (out / "checkpoint" / "policy.pt").is_file() and not (out / "train_state").exists()
