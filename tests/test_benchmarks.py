"""Benchmarks beyond the D4RL mazes (issue 15): maze2d-giant on OGBench's layout, gymnasium Hopper-v5 tasks,
the task layer (dims, bounds, termination, goal), D4RL-layout files for non-maze tasks, early termination in
the rollout harness (a hand-made terminating env), and ``mage data list``."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from mage.cli import main
from mage.data.d4rl_io import DatasetError, file_names, load_dataset, write_d4rl_hdf5
from mage.data.episodes import split_episodes
from mage.data.generate import generate_arrays, generate_dataset, recipe
from mage.envs import registry
from mage.envs.make import BatchedGymEnv, make_batched_env
from mage.envs.maze_layouts import GIANT_MAZE, WALL, goal_cell, parse_maze, reset_cells
from mage.envs.registry import TaskSpec, get_spec, list_specs, normalized_score
from mage.eval.agents import RandomAgent, WaypointAgent
from mage.eval.jobs import RolloutJob
from mage.eval.protocol import EvalProtocol
from mage.eval.rollout import run_episodes

HOPPER = "hopper-random-mage"
# OGBench ogbench/locomaze/maze.py maze_type='giant' (1 = wall), row by row.
OGBENCH_GIANT = [
    "1111111111111111",
    "1010000001100001",
    "1010110101001101",
    "1000100100010001",
    "1011101111110101",
    "1000100010000101",
    "1110101001010111",
    "1000100100010001",
    "1010101111110101",
    "1011100010001101",
    "1000001000100001",
    "1111111111111111",
]


def test_giant_layout_is_ogbenchs_map_with_task1_goal():
    arr = parse_maze(GIANT_MAZE)
    want = np.array([[int(c) for c in row] for row in OGBENCH_GIANT])
    np.testing.assert_array_equal(arr == WALL, want == 1)
    assert goal_cell(GIANT_MAZE).tolist() == [10.0, 14.0]  # OGBench task1 goal (10, 14)
    assert len(reset_cells(GIANT_MAZE)) == 86


def test_task_specs_of_the_new_families():
    g = get_spec("maze2d-giant-v1")
    assert (g.maze, g.horizon, g.obs_dim, g.act_dim, g.terminates, g.has_goal) == (
        "giant",
        1300,
        4,
        2,
        False,
        True,
    )
    assert g.d4rl_ref_min is None and g.score_refs == "ours"
    assert normalized_score(g.name, g.ours_ref_max) == pytest.approx(100.0)  # refs="d4rl" falls back to ours
    assert get_spec("maze2d-giant-multi-v1").dataset == "maze2d-giant-v1"
    h = get_spec(HOPPER)
    assert (h.env_id, h.obs_dim, h.act_dim, h.horizon, h.terminates, h.goal_dim) == (
        "Hopper-v5",
        11,
        3,
        1000,
        True,
        0,
    )
    assert (h.d4rl_ref_min, h.d4rl_ref_max) == (-20.272305, 3234.3)
    assert np.isnan(normalized_score(HOPPER, 100.0, refs="ours"))  # no controller: no ours max
    assert get_spec("hopper-medium-v2").recipe is None  # D4RL file only
    families = {s.family for s in list_specs()}
    assert families == {"maze2d", "locomotion", "antmaze", "adroit", "kitchen"}  # see test_families.py


def test_d4rl_file_names_for_locomotion():
    assert file_names("hopper-medium-replay-v2") == [
        "hopper-medium-replay-v2.hdf5",
        "hopper_medium_replay-v2.hdf5",
    ]
    assert file_names(HOPPER) == [f"{HOPPER}.hdf5"]


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny generated datasets: maze2d-giant-v1 (6,000 steps) and hopper-random-mage (3,000 steps)."""
    d = tmp_path_factory.mktemp("bench_data")
    generate_dataset("maze2d-giant-v1", steps=6000, seed=0, out=d / "maze2d-giant-v1.hdf5", progress=False)
    generate_dataset(HOPPER, steps=3000, seed=0, out=d / f"{HOPPER}.hdf5", progress=False)
    return d


@pytest.fixture
def bench_env(bench_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAGE_DATA_DIR", str(bench_dir))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(bench_dir / "d4rl"))
    return bench_dir


def test_hopper_random_recipe(bench_env: Path):
    d = load_dataset(HOPPER)  # shapes checked against the task spec: (11,), (3,)
    assert d["observations"].shape == (3000, 11) and d["actions"].shape == (3000, 3)
    assert d["terminals"].sum() > 20 and not (d["terminals"] & d["timeouts"]).any()
    assert np.abs(d["actions"]).max() <= 1.0
    inside = ~(d["terminals"] | d["timeouts"])[:-1]  # transitions within an episode
    np.testing.assert_array_equal(d["next_observations"][:-1][inside], d["observations"][1:][inside])
    assert str(d["metadata/policy"]) == "uniform-random" and str(d["metadata/env"]) == "Hopper-v5"
    again = generate_arrays(HOPPER, steps=3000, seed=0)
    np.testing.assert_array_equal(again["observations"], d["observations"])
    eps = split_episodes(d)
    assert eps.lengths_E[:-1].max() < 1000 and eps.num_episodes == d["terminals"].sum() + 1
    assert recipe(HOPPER, 3000, 0)["policy"] == "uniform-random"


def test_giant_recipe_and_shape_checks(bench_env: Path):
    d = load_dataset("maze2d-giant-v1")
    assert d["observations"].shape == (6000, 4) and not d["terminals"].any()
    assert str(d["metadata/maze"]) == "giant"
    with pytest.raises(DatasetError, match=r"task's space has \(11,\)"):
        load_dataset(bench_env / "maze2d-giant-v1.hdf5", task=HOPPER)
    with pytest.raises(DatasetError, match="cannot make here"):
        generate_dataset("hopper-medium-v2", steps=10, out=bench_env / "x.hdf5")


def test_a_d4rl_layout_hopper_file_is_found_and_validated(bench_env: Path):
    rng = np.random.default_rng(0)
    n = 50
    arrays = {
        "observations": rng.normal(size=(n, 11)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "terminals": np.arange(n) % 20 == 19,
        "timeouts": np.zeros(n, dtype=bool),
    }
    with pytest.raises(DatasetError, match="put D4RL's hopper_random-v2.hdf5 in"):
        load_dataset("hopper-random-v2")
    (bench_env / "d4rl").mkdir(exist_ok=True)
    write_d4rl_hdf5(bench_env / "d4rl" / "hopper_medium-v2.hdf5", arrays)
    d = load_dataset("hopper-medium-v2")
    assert d["observations"].shape == (n, 11) and split_episodes(d).num_episodes == 3
    bad = {**arrays, "actions": arrays["actions"][:, :2]}
    write_d4rl_hdf5(bench_env / "d4rl" / "hopper_expert-v2.hdf5", bad)
    with pytest.raises(DatasetError, match="actions"):
        load_dataset("hopper-expert-v2")


class Countdown(gym.Env):
    """Terminates after 3 + seed % 5 steps; reward 1 + t / 10 per step; 2-D obs, 1-D action."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.left = 0, 3 + (seed or 0) % 5
        return np.array([0.0, self.left]), {}

    def step(self, action):
        self.t += 1
        self.left -= 1
        return np.array([self.t, self.left], float), 1.0 + self.t / 10, self.left == 0, False, {}


@pytest.fixture
def countdown(monkeypatch: pytest.MonkeyPatch) -> str:
    if "mage-test/Countdown-v0" not in gym.registry:
        gym.register("mage-test/Countdown-v0", entry_point=Countdown)
    spec = TaskSpec(
        name="countdown", env_id="mage-test/Countdown-v0", maze=None, horizon=6, reward_type="env",
        multi=False, dataset="countdown", d4rl_ref_min=0.0, d4rl_ref_max=10.0, ours_ref_min=None,
        ours_ref_max=None, family="test", obs_dim=2, act_dim=1, terminates=True, goal_dim=0, recipe=None,
    )  # fmt: skip
    monkeypatch.setitem(registry.TASKS, "countdown", spec)
    return "countdown"


def test_early_termination_ends_and_scores_each_episode(countdown: str):
    want_len = [min(3 + s % 5, 6) for s in range(10, 17)]  # seeds 10..16; the horizon (6) cuts 7 steps
    want_ret = [sum(1 + t / 10 for t in range(1, n + 1)) for n in want_len]
    for num_envs in (1, 3, 7):  # the same env seeds whatever the batching
        res = run_episodes(RandomAgent(task=countdown), countdown, episodes=7, num_envs=num_envs, seed=10)
        assert [r.env_seed for r in res] == list(range(10, 17))
        assert [r.length for r in res] == want_len
        np.testing.assert_allclose([r.ret for r in res], want_ret)
        np.testing.assert_allclose([r.norm_score for r in res], [10 * r for r in want_ret])
        assert all(np.isnan(r.norm_score_ours) and r.first_arrival == -1 and not r.success for r in res)
    venv = make_batched_env(countdown, 2)
    assert isinstance(venv, BatchedGymEnv)
    venv.reset([0, 4])
    for _ in range(3):
        _, r, done, _ = venv.step(np.zeros((2, 1)))
    assert done.tolist() == [True, False] and venv.terminated_B.tolist() == [True, False]
    _, r, done, _ = venv.step(np.zeros((2, 1)))  # the finished copy stays frozen: reward 0
    assert r[0] == 0 and venv.t_B.tolist() == [3, 4]


def test_hopper_rollouts_terminate_and_refuse_goal_switches():
    a = run_episodes(RandomAgent(task=HOPPER, seed=0), HOPPER, episodes=4, num_envs=2, seed=0)
    assert all(1 <= r.length < 1000 for r in a)  # random hopper falls early
    assert [r.norm_score for r in a] == pytest.approx(
        list(normalized_score(HOPPER, np.array([r.ret for r in a])))
    )
    for proto in (EvalProtocol(goal="given"), EvalProtocol(hold=True)):
        with pytest.raises(ValueError, match="has no goal"):
            run_episodes(RandomAgent(task=HOPPER), HOPPER, episodes=1, num_envs=1, protocol=proto)
    with pytest.raises(ValueError, match="acting='own'"):
        RolloutJob("random", None, HOPPER, 0, None, 1, protocol=EvalProtocol(acting="track"))
    with pytest.raises(ValueError, match="no maze"):
        WaypointAgent(HOPPER)


def test_waypoint_controller_reaches_the_giant_goal():
    res = run_episodes(WaypointAgent("maze2d-giant-v1"), "maze2d-giant-v1", 4, 4, seed=0,
                       protocol=EvalProtocol(goal="given"))  # fmt: skip
    assert all(r.success and 0 < r.first_arrival < 1300 for r in res)


def test_mage_data_list_shows_every_task(bench_env: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {s.name for s in list_specs()}
    assert str(bench_env / f"{HOPPER}.hdf5") in rows[HOPPER]
    assert "missing (mage data generate maze2d-umaze-v1)" in rows["maze2d-umaze-v1"]
    assert (
        "D4RL file only" in rows["hopper-expert-v2"] and "hopper_expert-v2.hdf5" in rows["hopper-expert-v2"]
    )
    assert main(["data", "generate", "hopper-medium-v2", "--steps", "10"]) == 1


def test_score_summary_of_a_goal_less_task_has_no_success_or_arrival_lines(capsys) -> None:
    from mage.cli.output import print_scores

    nan = float("nan")
    m = {
        "eval/norm_score": 1.4,
        "eval/norm_score_ci95": 0.3,
        "eval/episodes": 4,
        "eval/return_mean": 20.0,
        "eval/success_rate": 0.0,
        "eval/first_arrival_median": nan,
        "eval/dwell_mean": nan,
        "eval/norm_score_absorbing": 1.4,
    }
    print_scores(m, "hopper-random-mage")
    hopper = capsys.readouterr().out
    print_scores(m, "maze2d-umaze-v1")
    maze = capsys.readouterr().out
    assert "success" not in hopper and "first arrival" not in hopper and "return 20.0" in hopper
    assert "success 0.00" in maze and "first arrival" in maze
