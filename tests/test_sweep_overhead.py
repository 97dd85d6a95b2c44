"""bench/sweep_overhead.py splits a trial's timeline into its parts: on a timeline built with known durations,
for both shapes of a trial (two Ray Train fits, or both stages in one fit), every part comes out as built and the
parts add up to the trial's wall time (the bench's own run is not a test: its numbers are for docs/results.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sweep_overhead", ROOT / "bench" / "sweep_overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _epochs(key: str, first_step: float) -> list[dict]:
    """A 2-epoch stage's metric history: 2 s of steps (10 steps x 8 windows at 40 windows/s) and 0.5 s of extras
    per epoch, its last epoch logged at first_step + 5."""
    logs = [first_step + 2.5, first_step + 5.0]
    return [
        {"key": k, "timestamp": t * 1e3, "value": v}
        for t in logs
        for k, v in ((key, 1.0), ("throughput/windows_per_s", 40.0))
    ]


def _stage(key: str, start: float, ctrl: float, worker: float, first_step: float, end: float):
    """A 2-epoch stage run as its own fit (``_epochs``)."""
    hist = _epochs(key, first_step)
    actors = [
        {"cls": "TrainController", "start": ctrl, "end": end},
        {"cls": "RayTrainWorker", "start": worker, "end": end - 0.1},
    ]
    return hist, actors, end - start


def test_parts_are_the_built_durations_and_add_up(bench) -> None:
    t0 = 1000.0
    h1, a1, tok_s = _stage("tok/loss", 1015, 1018, 1020, 1023, 1029)
    h2, a2, pol_s = _stage("pol/loss", 1030, 1032, 1035, 1037, 1043)
    hist = h1 + h2
    rec = {
        "workload": "smoke",
        "t0": t0,
        "run_start": 1014.0,
        "metrics": {
            "time/tokenizer_s": tok_s,
            "time/policy_s": pol_s,
            "time/eval_s": 6.5,
            "time/total_s": 36.0,
        },
        "params": {"train.steps_per_epoch": "10", "train.batch_size": "8"},
        "history": hist,
        "actors": [
            {"cls": "ImplicitFunc", "start": 1010.0, "end": 1052.0},
            *a1,
            *a2,
            {"cls": "RolloutWorker", "start": 1046.0, "end": 1050.0},
        ],
        "cpu_s": 1.0,
    }
    p = bench.parts(rec)
    built = {
        "sweep start + trial actor up": 10,
        "trial start (imports, data check, run)": 5,
        "tokenizer: controller start": 3,
        "tokenizer: worker start": 2,
        "tokenizer: worker setup": 3,
        "tokenizer: steps": 4,
        "tokenizer: epoch extras": 1,
        "tokenizer: teardown": 1,
        "policy: controller start": 2,
        "policy: worker start": 3,
        "policy: worker setup": 2,
        "policy: steps": 4,
        "policy: epoch extras": 1,
        "policy: teardown": 1,
        "MLflow between stages (artifacts)": 1.5,
        "eval: rollout actor start": 2.5,
        "rollouts + eval log": 4,
        "trial end (log, Tune report)": 2,
    }
    assert set(built) == {k for k in bench.ORDER if k in p}  # the two-fit rows, each one as built
    assert {k: round(p[k], 6) for k in built} == built
    assert p["trial wall"] == 52 and abs(p["unaccounted"]) < 1e-9
    assert p["overhead"] == pytest.approx(52 - (4 + 1) * 2 - 4)  # all but steps, epoch extras, rollouts


def test_one_fit_parts_are_the_built_durations_and_add_up(bench) -> None:
    """Both stages in one fit: one TrainController and one RayTrainWorker; ``time/train_s`` is the fit's wall,
    ``time/{stage}_s`` the in-worker stage seconds (not used for the parts)."""
    t0, fit_start, ctrl_end = 1000.0, 1015.0, 1035.5
    hist = _epochs("tok/loss", 1023.0) + _epochs("pol/loss", 1029.5)  # stage 1 logged last at 1028
    rec = {
        "workload": "smoke",
        "t0": t0,
        "run_start": 1014.0,
        "metrics": {
            "time/train_s": ctrl_end - fit_start,
            "time/tokenizer_s": 5.2,
            "time/policy_s": 5.3,
            "time/eval_s": 6.5,
            "time/total_s": 29.5,  # eval ends at 1043.5
        },
        "params": {"train.steps_per_epoch": "10", "train.batch_size": "8"},
        "history": hist,
        "actors": [
            {"cls": "wrap_function.<locals>.ImplicitFunc", "start": 1010.0, "end": 1045.5},
            {"cls": "TrainController", "start": 1018.0, "end": ctrl_end},
            {"cls": "RayTrainWorker", "start": 1020.0, "end": ctrl_end - 0.1},
            {"cls": "RolloutWorker", "start": 1039.5, "end": 1043.0},
        ],
        "cpu_s": 1.0,
    }
    p = bench.parts(rec)
    built = {
        "sweep start + trial actor up": 10,
        "trial start (imports, data check, run)": 5,
        "train: controller start": 3,
        "train: worker start": 2,
        "train: worker setup": 3,
        "tokenizer: steps": 4,
        "tokenizer: epoch extras": 1,
        "tokenizer publish (in-worker, between stages)": 1.5,
        "policy: steps": 4,
        "policy: epoch extras": 1,
        "train: teardown": 1,
        "MLflow after the fit (checkpoint artifact)": 1.5,
        "eval: rollout actor start": 2.5,
        "rollouts + eval log": 4,
        "trial end (log, Tune report)": 2,
    }
    assert set(built) == {k for k in bench.ORDER if k in p}  # the one-fit rows only
    assert {k for k in bench.ORDER if k not in p} >= {"tokenizer: teardown", "policy: controller start"}
    assert {k: round(p[k], 6) for k in built} == built
    assert p["train: worker start"] == 2 and p[bench.PUBLISH] == pytest.approx(1.5)
    assert p["trial wall"] == 45.5 and abs(p["unaccounted"]) < 1e-9
    assert p["overhead"] == pytest.approx(45.5 - (4 + 1) * 2 - 4)  # all but steps, epoch extras, rollouts
    assert p["Ray actors started"] == 4


def test_one_fit_record_without_train_seconds_is_refused(bench) -> None:
    """The shape is the number of TrainControllers; a one-fit trial must have logged ``time/train_s``."""
    rec = {
        "t0": 0.0,
        "metrics": {"time/tokenizer_s": 1.0, "time/policy_s": 1.0},
        "params": {"train.steps_per_epoch": "10", "train.batch_size": "8"},
        "history": [],
        "actors": [
            {"cls": "ImplicitFunc", "start": 1.0, "end": 9.0},
            {"cls": "TrainController", "start": 2.0, "end": 8.0},
        ],
        "cpu_s": 0.0,
    }
    with pytest.raises(ValueError, match="TrainControllers"):
        bench.parts(rec)
