"""`mage train --local` survives an interruption: every epoch leaves a resumable state under --out, and
--resume continues the same run from it, ending with the same weights as a run that was never stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_training  # tests/ is on sys.path (pyproject: pythonpath)
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


def _fake_clock(monkeypatch: pytest.MonkeyPatch, cli: bool = False) -> tuple[list[float], Any]:
    """A fake clock whose epochs take 10, 15, 10, 10 s: it moves when an epoch is reported, through the
    returned ``tick`` (a ``log_fn``), or with ``cli`` through every ``RunLogger.log_metrics`` of an epoch.
    perf_counter creeps (a throughput needs a non-zero epoch time)."""
    import itertools
    import time
    import types

    import mage.cli.train
    import mage.loop
    from mage.tracking.mlflow_logger import RunLogger

    now, calls, ticks = [0.0], itertools.count(), iter([10.0, 15.0] + [10.0] * 20)
    clock = types.SimpleNamespace(perf_counter=lambda: now[0] + next(calls) * 1e-9, monotonic=lambda: now[0],
                                  strftime=time.strftime)  # fmt: skip
    monkeypatch.setattr(mage.loop, "time", clock)

    def tick(m: dict[str, float]) -> None:
        now[0] += next(ticks)

    if cli:
        monkeypatch.setattr(mage.cli.train, "time", clock)
        real = RunLogger.log_metrics

        def log_and_tick(self, metrics, step=None):
            real(self, metrics, step=step)
            if "epoch" in metrics:
                tick(metrics)

        monkeypatch.setattr(RunLogger, "log_metrics", log_and_tick)
    return now, tick


@pytest.mark.parametrize(
    ("deadline", "left_at"),
    [(40.0, ("policy", 1)), (22.0, ("tokenizer", 2))],
    ids=["between-epochs", "before-stage-2"],
)
def test_a_time_limit_stops_between_epochs_and_the_run_continues_to_the_same_weights(
    setup, tmp_path: Path, monkeypatch, deadline: float, left_at: tuple
) -> None:
    """A fake clock: the epochs take 10, 15, 10, 10 s (the clock moves when an epoch is reported). Deadline
    40: after epoch 1 (t = 10) the next would end at 20, fine; epoch 2 is stage 1's last (t = 25); stage 2's
    first ends at 35 and the next would end at 45 > 40: stopped there. Deadline 22: stage 1 ends at 25, so
    stage 2 does not start. Either way the state is on disk and the resume ends where an unbroken run does."""
    from mage.loop import TimeLimitReached

    cfg, unbroken = setup
    _, tick = _fake_clock(monkeypatch)
    state = tmp_path / "train_state"
    with pytest.raises(TimeLimitReached, match="the time limit") as stopped:
        run_local(cfg, tmp_path / "checkpoint", log_fn=tick, state_dir=state, deadline=deadline)
    assert stopped.value.code == 75 and not (tmp_path / "checkpoint").exists()
    left = local_resume_state(state, cfg)
    assert (left["stage"], left["epoch"]) == left_at
    ck = run_local(cfg, tmp_path / "checkpoint", log_fn=tick, state_dir=state, resume_state=left)
    assert _same(_weights(ck), unbroken)


def test_finish_at_deadline_keeps_stage_2_as_far_as_it_got(setup, tmp_path: Path, monkeypatch) -> None:
    """Deadline 40 on the fake clock stops after stage-2 epoch 1 of 2 (the test above). With
    ``finish_at_deadline`` that epoch's model is the checkpoint: the same weights an unbroken run has after
    stage-2 epoch 1, not its final ones, and ``time_limit.json`` says how far it got."""
    from mage.checkpoint import read_time_limit
    from mage.loop import TimeLimitReached

    cfg, unbroken = setup
    after_epoch_3 = tmp_path / "state"  # an unbroken run's state after stage-2 epoch 1 (global epoch 3)
    with pytest.raises(Stop):
        run_local(cfg, tmp_path / "x", log_fn=_stopping_at(4), state_dir=after_epoch_3)
    _, tick = _fake_clock(monkeypatch)
    state = tmp_path / "train_state"
    ck = run_local(cfg, tmp_path / "checkpoint", log_fn=tick, state_dir=state, deadline=40.0,
                   finish_at_deadline=True)  # fmt: skip
    spe = cfg.train.steps_per_epoch
    assert read_time_limit(ck) == {"stage": "policy", "epochs_done": 1, "epochs": 2, "steps": spe}
    assert _same(_weights(ck), _weights(after_epoch_3)) and not _same(_weights(ck), unbroken)
    assert not state.exists() and read_time_limit(after_epoch_3) is None
    _, tick = _fake_clock(monkeypatch)  # deadline 22 falls in stage 1: no policy to keep, so it still stops
    with pytest.raises(TimeLimitReached, match="before stage policy"):
        run_local(cfg, tmp_path / "c2", log_fn=tick, state_dir=tmp_path / "s2", deadline=22.0,
                  finish_at_deadline=True)  # fmt: skip


def test_the_budget_of_a_time_limited_checkpoint_says_the_steps_it_got(setup) -> None:
    from mage.tracking.evaluation import training_budget

    cfg, _ = setup
    assert training_budget(cfg) == "6+6 steps, batch 8"
    assert training_budget(cfg, {"steps": 3}) == "6+3 of 6 steps (time limit), batch 8"


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


def _cli_run(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, list[str]]:
    """(store, --out, argv) of a `mage train --local` of the tiny model, logging to a store under tmp_path."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "--local", "--no-eval", "--preset", "cpu", "--data-path", str(data), "--out", str(out)]
    for k, v in TINY.items():
        argv += ["--set", f"{k}={v}"]
    return uri, out, argv


@pytest.mark.slow
def test_mage_train_local_resume_continues_the_same_mlflow_run(
    tiny_maze2d_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from mage.tracking import query
    from mage.tracking.mlflow_logger import RunLogger

    uri, out, argv = _cli_run(tiny_maze2d_path, tmp_path, monkeypatch)
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


@pytest.mark.slow
def test_mage_train_time_limit_exits_75_and_resume_finishes_the_run(
    tiny_maze2d_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`mage train --local --time-limit`: on the fake clock of the test above (epochs of 10, 15, 10, 10 s)
    a 40 s limit stops after stage-2 epoch 1 with one line that says how to go on, exit 75 and the run
    KILLED; `--resume` (without the limit) finishes the same run."""
    from mage.tracking import query

    uri, out, argv = _cli_run(tiny_maze2d_path, tmp_path, monkeypatch)
    _fake_clock(monkeypatch, cli=True)
    capsys.readouterr()
    assert main([*argv, "--time-limit", "40"]) == 75
    stderr = capsys.readouterr().err
    err = [line for line in stderr.splitlines() if line.startswith("mage train:")]
    assert len(err) == 1 and "Traceback" not in stderr
    assert err[0].startswith("mage train: error: the time limit stopped stage policy after epoch 1/2") and (
        f"continue with the same command and --out {out} --resume" in err[0]
    )
    run_id = (out / "run_id").read_text()
    run = query.get_run(run_id, tracking_uri=uri)
    assert run.info.status == "KILLED" and "the time limit stopped" in run.data.tags["mage.error"]
    assert main([*argv, "--resume"]) == 0
    run = query.get_run(run_id, tracking_uri=uri)
    assert run.info.status == "FINISHED" and run.data.tags["mage.resumed_from_epoch.policy"] == "1"
    assert query.metric_history(run_id, ["epoch"], tracking_uri=uri)["step"].tolist() == [1, 2, 3, 4]
    with pytest.raises(SystemExit, match="--time-limit 0.0 must be > 0"):
        main([*argv, "--time-limit", "0"])


@pytest.mark.slow
def test_mage_train_finish_at_limit_evaluates_what_it_got_and_records_it(
    tiny_maze2d_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`--time-limit 40 --finish-at-limit` on the fake clock above: stage 2 ends after epoch 1 of 2, exit 0,
    the run FINISHED with the steps it got in ``mage.budget``; without --time-limit the flag is an error."""
    from mage.tracking import query

    uri, out, argv = _cli_run(tiny_maze2d_path, tmp_path, monkeypatch)
    with pytest.raises(SystemExit, match="--finish-at-limit ends training at --time-limit"):
        main([*argv, "--finish-at-limit"])
    _fake_clock(monkeypatch, cli=True)
    capsys.readouterr()
    assert main([*argv, "--time-limit", "40", "--finish-at-limit"]) == 0
    assert "the time limit ended stage policy after epoch 1/2 (3 steps)" in capsys.readouterr().out
    run = query.get_run((out / "run_id").read_text(), tracking_uri=uri)
    assert run.info.status == "FINISHED" and run.data.metrics["train/policy_steps_done"] == 3.0
    assert run.data.tags["mage.budget"] == "6+3 of 6 steps (time limit), batch 8"
    assert run.data.tags["mage.time_limited"].startswith("stage policy after epoch 1/2")
    assert (out / "checkpoint" / "time_limit.json").is_file() and not (out / "train_state").exists()
