"""The SAC recipes (issue 15): hopper medium / medium-replay / expert datasets made here with d3rlpy's SAC.

A tiny recipe (8-unit networks, 100-step checkpoints) trains for real on gymnasium Hopper-v5, resumes from its
work dir, refuses another recipe there, and writes files the strict reader loads with the hopper task spec;
terminals and timeouts are checked against Hopper's own health rule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from mage.cli import main
from mage.data.d4rl_io import DatasetError, load_dataset
from mage.data.generate import generate_dataset
from mage.data.generate_sac import (
    TargetNotReachedError,
    generate_sac_dataset,
    rollout_policy,
    sac_status,
    to_d4rl,
)
from mage.data.sac_recipe import RecipeMismatchError, SACRecipeConfig, SACRun, train_lock
from mage.envs.registry import get_spec, list_specs

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = SACRecipeConfig(hidden=(8, 8), batch_size=16, update_start=40, checkpoint_every=100, eval_episodes=2)
MEDIUM, REPLAY, EXPERT = "hopper-medium-mage", "hopper-medium-replay-mage", "hopper-expert-mage"


def healthy(obs_NS: np.ndarray) -> np.ndarray:
    """Gymnasium Hopper-v5's health rule on observations (qpos[1:] + qvel): z > 0.7, |angle| < 0.2 and every
    entry but z within +-100."""
    z, angle = obs_NS[:, 0], obs_NS[:, 1]
    return (z > 0.7) & (np.abs(angle) < 0.2) & (np.abs(obs_NS[:, 1:]) < 100).all(axis=1)


def check_flags(d: dict, horizon: int, cuts: set[int] = frozenset()) -> None:
    """terminals exactly where the next state is unhealthy; timeouts only after ``horizon`` steps (or at a
    chunk cut); never both; next_observations continue the episode."""
    term, tout = d["terminals"], d["timeouts"]
    assert not (term & tout).any()
    np.testing.assert_array_equal(term, ~healthy(d["next_observations"]))
    ends = np.flatnonzero(term | tout)
    lengths = np.diff(np.r_[-1, ends])
    for end, n in zip(ends, lengths, strict=True):
        if tout[end]:
            assert n == horizon or int(end) + 1 in cuts, (end, n)
        else:
            assert n <= horizon
    inner = np.setdiff1d(np.arange(len(term) - 1), ends)
    np.testing.assert_allclose(d["next_observations"][inner], d["observations"][inner + 1], rtol=0, atol=1e-6)


def test_tiny_recipe_end_to_end_medium_replay_and_expert(tmp_path: Path):
    work = tmp_path / "run"
    logs: list[str] = []
    p = generate_sac_dataset(
        MEDIUM, TINY, steps=600, sac_steps=300, target=0.0, work_dir=work, out=tmp_path / "m.hdf5",
        progress=False, log=logs.append,
    )  # fmt: skip
    run = SACRun(get_spec(MEDIUM), TINY, work)
    first = run.first_reaching(0.0)
    assert run.step == first["step"] == 100  # stopped at the first checkpoint reaching the target
    assert any("ms/step" in line and "Resumable" in line for line in logs)  # the time estimate
    d = load_dataset(p, task=MEDIUM)  # the strict reader, checked against the hopper spec (11, 3)
    assert d["observations"].shape == (600, 11) and d["actions"].shape == (600, 3)
    assert d["infos/qpos"].shape == (600, 6) and np.abs(d["actions"]).max() <= 1.0
    assert d["metadata/sac_step"] == 100 and d["metadata/task"] == MEDIUM and d["metadata/steps"] == 600
    assert d["metadata/sac_torch_threads"] == 1  # the one_thread fixture's count, which the run trained with
    assert "first checkpoint with sampled eval return >= 0" in d["metadata/policy"]
    check_flags(d, horizon=1000)
    assert d["terminals"].sum() > 3  # an untrained hopper falls

    r = generate_sac_dataset(REPLAY, TINY, steps=None, sac_steps=300, target=0.0, work_dir=work,
                             out=tmp_path / "r.hdf5", progress=False, log=logs.append)  # fmt: skip
    rep = load_dataset(r, task=REPLAY)
    assert len(rep["rewards"]) == 100 == rep["metadata/steps"]  # the stream up to the medium checkpoint
    np.testing.assert_array_equal(rep["observations"], run.stream(100)["observations"].astype(np.float32))
    check_flags(rep, horizon=1000, cuts={100})
    assert rep["timeouts"][-1]  # the episode cut at the chunk's end

    e = generate_sac_dataset(EXPERT, TINY, steps=200, sac_steps=300, work_dir=work, out=tmp_path / "e.hdf5",
                             progress=False, log=logs.append)  # fmt: skip
    assert SACRun(get_spec(EXPERT), TINY, work).step == 300  # the same run, trained on to the cap
    ex = load_dataset(e, task=EXPERT)
    best = max(SACRun(get_spec(EXPERT), TINY, work).checkpoints, key=lambda c: c["return"])
    assert ex["metadata/sac_step"] == best["step"] and len(ex["rewards"]) == 200


def test_resume_continues_the_same_run_and_a_finished_rerun_trains_nothing(tmp_path: Path):
    spec = get_spec(EXPERT)
    a = SACRun(spec, TINY, tmp_path / "a")
    assert a.train(200) == 200  # uninterrupted
    b = SACRun(spec, TINY, tmp_path / "b")
    assert b.train(100) == 100 and b.step == 100  # stopped after one checkpoint
    b = SACRun(spec, TINY, tmp_path / "b")  # a new process: everything comes from the work dir
    stream = b.stream(100)
    # d3rlpy's buffer rebuilt from the chunk: every step but the last of each cut (non-terminal) episode
    assert b._buffer(gym.make("Hopper-v5")).transition_count == 100 - int(stream["timeouts"].sum())
    assert stream["terminals"].sum() >= 1  # an untrained hopper falls: both kinds of episode end occur
    assert b.train(200) == 100 and b.step == 200  # continues from 100, not from 0
    assert [c["step"] for c in b.checkpoints] == [100, 200]
    # seeded per chunk from (seed, step) and resumed from the saved optimiser state: the same run
    np.testing.assert_array_equal(a.stream(200)["actions"], b.stream(200)["actions"])
    assert [c["return"] for c in a.checkpoints] == [c["return"] for c in b.checkpoints]
    before = (tmp_path / "b" / "progress.json").read_text()
    files = sorted(p.name for p in (tmp_path / "b").rglob("*"))
    assert SACRun(spec, TINY, tmp_path / "b").train(200) == 0  # finished: no training, nothing written
    assert (tmp_path / "b" / "progress.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "b").rglob("*")) == files
    # algorithm files: kept for the latest checkpoint (to resume) and for every new best (medium / expert)
    cks = b.checkpoints
    assert all((c["algo"] is not None) == (c["best"] or c is cks[-1]) for c in cks)
    assert sorted(p.name for p in (tmp_path / "b" / "algo").iterdir()) == sorted(
        Path(c["algo"]).name for c in cks if c["algo"]
    )


def test_another_recipe_in_the_same_work_dir_is_refused(tmp_path: Path):
    spec = get_spec(MEDIUM)
    SACRun(spec, TINY, tmp_path)
    other = dataclasses.replace(TINY, hidden=(16, 16))
    with pytest.raises(
        RecipeMismatchError, match=r"holds another recipe \(hidden: \[8, 8\] there, \[16, 16\]"
    ):
        SACRun(spec, other, tmp_path)
    assert json.loads((tmp_path / "recipe.json").read_text())["hidden"] == [8, 8]


def test_a_second_trainer_on_one_work_dir_is_refused(tmp_path: Path):
    run = SACRun(get_spec(MEDIUM), TINY, tmp_path)
    with train_lock(tmp_path), pytest.raises(DatasetError, match=r"is being trained by pid \d+; wait"):
        run.train(100)  # the lock is held (here by this process, as another trainer would hold it)
    assert run.step == 0 and not (tmp_path / "progress.json").exists()


def test_rollout_terminals_and_timeouts_on_a_short_horizon():
    import d3rlpy

    spec = dataclasses.replace(get_spec(MEDIUM), horizon=15)  # short: many episodes reach the horizon
    d3rlpy.seed(0)  # the untrained policy: with this init both episode ends occur (24 timeouts, 12 falls)
    algo = TINY.to_d3rlpy().create(device="cpu")
    algo.build_with_env(gym.make("Hopper-v5"))
    d = to_d4rl(rollout_policy(algo, spec, 500, seed=0))
    assert d["timeouts"].sum() > 3 and d["terminals"].sum() > 3
    check_flags(d, horizon=15)
    np.testing.assert_allclose(d["infos/qpos"][:, 1:], d["observations"][:, :5], atol=1e-6)  # state before


def test_cli_generate_list_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "no-d4rl"))
    tiny = ["--set", "hidden=8,8", "--set", "batch_size=16", "--set", "update_start=40",
            "--set", "checkpoint_every=100", "--set", "eval_episodes=2"]  # fmt: skip
    argv = [
        "data",
        "generate",
        MEDIUM,
        "--steps",
        "300",
        "--sac-steps",
        "100",
        "--target-return",
        "-1000",
        *tiny,
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ms/step" in out and (tmp_path / f"{MEDIUM}.hdf5").is_file()
    assert (tmp_path / "sac" / "Hopper-v5-seed0" / "progress.json").is_file()
    assert main(argv) == 0 and "same recipe; kept" in capsys.readouterr().out  # no training on a rerun
    assert main(["data", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert {s.name for s in list_specs()} >= {MEDIUM, REPLAY, EXPERT}
    assert str(tmp_path / f"{MEDIUM}.hdf5") in rows[MEDIUM] and "mage data generate" in rows[EXPERT]
    # the missing files say where the shared SAC run stands (step 100 of the tiny run above)
    assert "SAC at step 100 of 1,000,000" in rows[EXPERT]
    assert "SAC at step 100, below the target return 1078.1; resumable" in rows[REPLAY]
    # a target the cap cannot reach: one line, exit 1, nothing written; resumable
    assert (
        main(
            [
                "data",
                "generate",
                EXPERT,
                "--steps",
                "100",
                "--sac-steps",
                "100",
                "--target-return",
                "1e6",
                *tiny,
            ]
        )
        == 0
    )
    bad = ["data", "generate", MEDIUM, "--sac-steps", "100", "--target-return", "1e6", "--out",
           str(tmp_path / "x.hdf5"), *tiny]  # fmt: skip
    assert main(bad) == 1
    assert "Rerun with a larger --sac-steps" in capsys.readouterr().err and not (tmp_path / "x.hdf5").exists()
    assert main(["data", "generate", REPLAY, "--steps", "10", *tiny]) == 1  # its length is the stream's
    assert main(["data", "generate", MEDIUM, "--set", "hidden=16", "--sac-steps", "100", "--out",
                 str(tmp_path / "y.hdf5")]) == 1  # fmt: skip  # another recipe in the default work dir
    assert "holds another recipe" in capsys.readouterr().err
    assert main(["data", "generate", "maze2d-umaze-v1", "--sac-steps", "10"]) == 2
    with pytest.raises(Exception, match="training SAC online"):
        generate_dataset(MEDIUM, steps=10)  # never started implicitly (sweeps, fixtures)
    with pytest.raises(TargetNotReachedError):
        generate_sac_dataset(MEDIUM, TINY, steps=10, sac_steps=100, target=1e6, out=tmp_path / "z.hdf5",
                             progress=False, log=lambda s: None)  # fmt: skip


def test_sac_status_reads_the_work_dir_without_touching_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    assert (
        sac_status(EXPERT) is None and not (tmp_path / "sac").exists()
    )  # no run: nothing to say, nothing made
    work = tmp_path / "sac" / "Hopper-v5-seed0"
    work.mkdir(parents=True)
    cks = [
        {"step": 10_000, "return": 500.0},
        {"step": 20_000, "return": 1500.0},
        {"step": 30_000, "return": 900.0},
    ]
    (work / "progress.json").write_text(
        json.dumps({"step": 30_000, "sac_seconds": 600.0, "checkpoints": cks})
    )
    assert sac_status(MEDIUM) == "SAC reached the target at step 20,000: the command only rolls out"
    assert sac_status(REPLAY) == "SAC reached the target at step 20,000: the command only copies the stream"
    assert sac_status(EXPERT) == "SAC at step 30,000 of 1,000,000, ~5.4 h left here; resumable"  # 20 ms/step
    assert sorted(p.name for p in work.iterdir()) == ["progress.json"]


def test_a_resume_trains_with_the_work_dirs_torch_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import d3rlpy
    import torch

    seen: list[int] = []
    fit = d3rlpy.algos.SAC.fit_online

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(d3rlpy.algos.SAC, "fit_online", spy)
    spec = get_spec(EXPERT)
    assert SACRun(spec, TINY, tmp_path / "a").train(100) == 100  # started with one thread (the fixture)
    assert json.loads((tmp_path / "a" / "progress.json").read_text())["torch_threads"] == 1
    torch.set_num_threads(2)  # the next session's process has two
    logs: list[str] = []
    assert SACRun(spec, TINY, tmp_path / "a").train(200, log=logs.append) == 100
    assert seen == [1, 1]  # the resumed chunk ran with the work dir's count, not the process's
    assert "this work dir's 1 torch thread(s), not this process's 2" in logs[0]
    assert torch.get_num_threads() == 2  # the caller's count is restored
    assert SACRun(spec, TINY, tmp_path / "b").train(100) == 100  # a new run takes the process's count
    assert seen[-1] == 2 and json.loads((tmp_path / "b" / "progress.json").read_text())["torch_threads"] == 2
