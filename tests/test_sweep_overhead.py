"""bench/sweep_overhead.py splits a trial's timeline into its parts: on a timeline built with known durations,
every part comes out as built and the parts add up to the trial's wall time (the bench's own run is not a test:
its numbers are for docs/results.md)."""

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


def _stage(key: str, start: float, ctrl: float, worker: float, first_step: float, end: float):
    """A 2-epoch stage: 2 s of steps (10 steps x 8 windows at 40 windows/s) and 0.5 s of extras per epoch."""
    logs = [first_step + 2.5, first_step + 5.0]
    hist = [
        {"key": k, "timestamp": t * 1e3, "value": v} for t in logs for k, v in ((key, 1.0), ("thr", 40.0))
    ]
    actors = [
        {"cls": "TrainController", "start": ctrl, "end": end},
        {"cls": "RayTrainWorker", "start": worker, "end": end - 0.1},
    ]
    return hist, actors, end - start


def test_parts_are_the_built_durations_and_add_up(bench) -> None:
    t0 = 1000.0
    h1, a1, tok_s = _stage("tok/loss", 1015, 1018, 1020, 1023, 1029)
    h2, a2, pol_s = _stage("pol/loss", 1030, 1032, 1035, 1037, 1043)
    hist = [{**h, "key": "throughput/windows_per_s" if h["key"] == "thr" else h["key"]} for h in h1 + h2]
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
    assert set(built) == set(bench.ORDER)
    assert {k: round(p[k], 6) for k in built} == built
    assert p["trial wall"] == 52 and abs(p["unaccounted"]) < 1e-9
    assert p["overhead"] == pytest.approx(52 - (4 + 1) * 2 - 4)  # all but steps, epoch extras, rollouts
