from __future__ import annotations

from pathlib import Path

import numpy as np

from mage.data.d4rl_io import load_dataset, read_d4rl_hdf5
from mage.data.episodes import split_episodes
from mage.data.generate import generate_arrays, generate_dataset
from mage.envs.maze2d import Maze2DEnv


def test_deterministic_for_a_seed_and_seed_matters():
    a = generate_arrays("maze2d-umaze-v1", steps=3000, seed=1)
    b = generate_arrays("maze2d-umaze-v1", steps=3000, seed=1)
    c = generate_arrays("maze2d-umaze-v1", steps=3000, seed=2)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["observations"], c["observations"])


def test_d4rl_recipe_properties(tiny_maze2d_path: Path):
    d = read_d4rl_hdf5(tiny_maze2d_path, (4,), (2,))
    n = len(d["observations"])
    assert n == 5000 and not d["terminals"].any() and d["timeouts"].sum() > 10
    assert np.abs(d["actions"]).max() <= 1.0
    goal = Maze2DEnv("umaze").eval_goal
    dist = np.linalg.norm(d["observations"][:, :2] - goal, axis=1)
    np.testing.assert_array_equal(d["rewards"], (dist <= 0.5).astype(np.float32))  # fixed-goal relabel
    np.testing.assert_array_equal(d["infos/qpos"], d["observations"][:, :2])
    # the target only changes right after a timeout
    changes = np.flatnonzero(np.any(d["infos/goal"][1:] != d["infos/goal"][:-1], axis=1))
    assert d["timeouts"][changes].all()
    # segments end at the target (controller done) or at the horizon (300 steps + the switch step)
    ep = split_episodes(d)
    assert ep.lengths_E[:-1].max() <= 301
    last = ep.starts_E[:-1] + ep.lengths_E[:-1] - 1
    arrived = np.linalg.norm(d["observations"][last, :2] - np.round(d["infos/goal"][last]), axis=1) < 0.1
    assert arrived.mean() > 0.9
    # consecutive states follow the physics (no stale observation after a target switch)
    dpos = np.linalg.norm(np.diff(d["observations"][:, :2], axis=0), axis=1)
    assert dpos.max() < 0.1
    assert d["metadata/task"] == "maze2d-umaze-v1"


def test_dense_name_writes_dense_rewards(tmp_path: Path):
    p = generate_dataset("maze2d-umaze-dense-v1", steps=500, seed=0, out=tmp_path / "d.hdf5", progress=False)
    d = load_dataset(p, task="maze2d-umaze-dense-v1")
    dist = np.linalg.norm(d["observations"][:, :2].astype(np.float64) - [1, 1], axis=1)
    np.testing.assert_allclose(d["rewards"], np.exp(-dist), rtol=1e-6)


def test_multi_name_generates_single_task_data(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    p = generate_dataset("maze2d-medium-multi-v1", steps=200, seed=0, progress=False)
    assert p == tmp_path / "maze2d-medium-v1.hdf5"
    assert read_d4rl_hdf5(p)["metadata/task"] == "maze2d-medium-v1"


def test_cli_generate_info_list(tmp_path: Path, monkeypatch, capsys):
    from mage.cli import main

    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "none"))
    assert main(["data", "generate", "maze2d-umaze-v1", "--steps", "800", "--seed", "3"]) == 0
    assert (tmp_path / "maze2d-umaze-v1.hdf5").is_file()
    assert main(["data", "generate", "maze2d-umaze-v1", "--if-missing"]) == 0
    assert "skipping" in capsys.readouterr().out
    assert main(["data", "info", "maze2d-umaze-v1"]) == 0
    out = capsys.readouterr().out
    assert (
        "steps     800" in out and "success rate" in out and "Diffuser" in out and "visits to the goal" in out
    )
    assert main(["data", "info", str(tmp_path / "maze2d-umaze-v1.hdf5")]) == 0
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "mage data generate maze2d-large-v1" in out and str(tmp_path / "maze2d-umaze-v1.hdf5") in out
    assert main(["data", "info", "maze2d-large-v1"]) == 1
    assert "mage data generate maze2d-large-v1" in capsys.readouterr().err
    assert main(["data", "generate", "nope-v1"]) == 2


def test_goal_visits_are_runs_at_the_goal_cut_at_episode_starts():
    from mage.data.stats import goal_visits

    at = np.array([0, 1, 1, 0, 1, 1, 1, 1, 0, 1], dtype=bool)  # episode 2 starts at step 6, inside a run
    vel = np.zeros((10, 2))
    vel[[1, 2, 4]] = 1.0  # moving; the other at-goal steps (5, 6, 7, 9) are at rest
    out = goal_visits(at, np.array([0, 6]), vel)
    assert out["goal_visits"] == 4  # [1, 2], [4, 5], [6, 7] (cut at the episode start), [9]
    assert out["goal_visit_length"]["max"] == 2 and out["goal_visit_length"]["min"] == 1
    assert out["at_goal_steps"] == 7 and out["at_goal_at_rest"] == 4
    assert goal_visits(np.zeros(5, bool), np.array([0]), np.zeros((5, 2)))["goal_visits"] == 0
