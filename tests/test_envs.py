from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mage.envs  # noqa: F401  (registers ids)
from mage.envs import get_spec, list_specs, make_env, normalized_score
from mage.envs.maze2d import Maze2DEnv, maze_mjcf
from mage.envs.maze_layouts import U_MAZE, goal_cell, parse_maze, reset_cells
from mage.envs.waypoint_controller import GridPlanner, WaypointController
from mage.eval.agents import WaypointAgent
from mage.eval.protocol import EvalProtocol
from mage.eval.rollout import run_episodes

GOAL = EvalProtocol(goal="given")  # the waypoint controller steers to the env's goal


def test_registered_ids_and_horizons():
    made: set[str] = set()
    for spec in list_specs():
        assert spec.env_id in gym.registry
        if spec.env_id.startswith("mage/"):
            assert gym.registry[spec.env_id].max_episode_steps == spec.horizon
        if spec.env_id in made or spec.family not in ("maze2d", "locomotion"):
            continue  # one make per env id; the gymnasium-robotics families are made in test_families.py
        made.add(spec.env_id)
        env = make_env(spec.name)
        assert env.spec.max_episode_steps == spec.horizon
        env.close()
    assert [get_spec(f"maze2d-{m}-v1").horizon for m in ("umaze", "medium", "large")] == [300, 600, 800]
    assert get_spec("maze2d-large-multi-v1").dataset == "maze2d-large-v1"
    assert get_spec("mage/maze2d-umaze-dense-v1").reward_type == "dense"


def test_get_spec_unknown_lists_valid_names():
    with pytest.raises(KeyError, match="maze2d-umaze-v1"):
        get_spec("maze2d-nope-v1")


def test_normalized_score_arithmetic():
    s = get_spec("maze2d-umaze-v1")
    assert normalized_score(s.name, s.d4rl_ref_min) == pytest.approx(0.0)
    assert normalized_score(s.name, s.d4rl_ref_max) == pytest.approx(100.0)
    assert normalized_score(s.name, s.ours_ref_max, refs="ours") == pytest.approx(100.0)
    np.testing.assert_allclose(normalized_score(s.name, np.array([s.d4rl_ref_min, s.d4rl_ref_max])), [0, 100])
    with pytest.raises(ValueError):
        normalized_score(s.name, 1.0, refs="nope")


def test_d4rl_coordinates_goals_and_cells():
    assert goal_cell(U_MAZE).tolist() == [1.0, 1.0]
    assert Maze2DEnv("medium").eval_goal.tolist() == [6.0, 6.0]
    assert Maze2DEnv("large").eval_goal.tolist() == [7.0, 9.0]
    cells = reset_cells(U_MAZE)
    # D4RL empty_and_goal_locations: sorted empty cells then the goal
    assert cells.tolist() == [[1, 2], [1, 3], [2, 3], [3, 1], [3, 2], [3, 3], [1, 1]]
    arr = parse_maze(U_MAZE)
    assert arr.shape == (5, 5)
    xml = maze_mjcf(U_MAZE)
    assert 'name="wall_0_0"' in xml and 'pos="1.2 1.2 0"' in xml and 'timestep="0.01"' in xml
    env = Maze2DEnv("umaze")
    assert env.model.opt.timestep == 0.01
    assert env.model.opt.integrator == 0  # mjINT_EULER
    np.testing.assert_allclose(env.model.actuator_gear[:, 0], [100, 100])


def test_reset_noise_and_qvel_distribution():
    env = Maze2DEnv("umaze")
    cells = env.reset_cells
    offs, vels = [], []
    for seed in range(400):
        obs, info = env.reset(seed=seed)
        d = np.abs(cells - obs[:2]).max(axis=1)
        assert d.min() <= 0.1 + 1e-12
        offs.append(obs[:2] - cells[d.argmin()])
        vels.append(obs[2:])
        assert info["goal"].tolist() == [1.0, 1.0] and "success" in info
    offs, vels = np.array(offs), np.array(vels)
    assert np.abs(offs).max() <= 0.1 and np.abs(offs).max() > 0.08
    assert 0.08 < vels.std() < 0.12 and abs(vels.mean()) < 0.02


def test_sparse_goal_radius_boundary_and_dense():
    env = Maze2DEnv("umaze")
    env.reset(seed=0)
    for dist, want in ((0.49, 1.0), (0.51, 0.0)):
        # start such that after one zero-action step the point is at the wanted distance (zero velocity)
        env.set_state(np.array([1.0 + dist, 1.0]), np.zeros(2))
        _, r, term, trunc, info = env.step(np.zeros(2))
        assert r == want and info["success"] == (want == 1.0) and not term and not trunc
    dense = Maze2DEnv("umaze", reward_type="dense")
    dense.reset(seed=0)
    dense.set_state(np.array([2.0, 1.0]), np.zeros(2))
    obs, r, *_ = dense.step(np.zeros(2))
    assert r == pytest.approx(np.exp(-np.linalg.norm(obs[:2] - [1, 1])))


def test_velocity_clip_and_action_clip():
    env = Maze2DEnv("large")
    env.reset(seed=0)
    env.set_state(np.array([3.0, 3.0]), np.array([20.0, -20.0]))
    obs, *_ = env.step(np.array([100.0, -100.0]))  # clipped to ±1
    # qvel clipped to ±5 before the step; one step of force 100 on mass 4.19 adds < 0.25
    assert abs(obs[2]) < 5.3 and abs(obs[3]) < 5.3


def test_truncation_at_horizon():
    env = make_env("maze2d-umaze-v1", seed=0)
    env.reset(seed=0)
    for t in range(300):
        _, _, term, trunc, _ = env.step(np.zeros(2))
        assert not term
        assert trunc == (t == 299)


def test_multi_goal_random_and_options():
    env = make_env("maze2d-umaze-multi-v1")
    goals = [env.reset(seed=s)[1]["goal"] for s in range(20)]
    assert len({tuple(np.round(g, 6)) for g in goals}) > 5
    obs, info = env.reset(seed=0, options={"goal": (3.0, 3.0)})
    assert info["goal"].tolist() == [3.0, 3.0]
    env.unwrapped.set_state(np.array([3.2, 3.0]), np.zeros(2))
    _, r, *_, info = env.step(np.zeros(2))
    assert r == 1.0 and info["success"]
    single = make_env("maze2d-umaze-v1")
    with pytest.raises(ValueError, match="Multi2D"):
        single.reset(seed=0, options={"goal": (3.0, 3.0)})


def test_same_seed_same_trajectory():
    a, b = Maze2DEnv("medium"), Maze2DEnv("medium")
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    for act in np.random.default_rng(0).uniform(-1, 1, (50, 2)):
        oa = a.step(act)[0]
        ob = b.step(act)[0]
    np.testing.assert_array_equal(oa, ob)


def test_planner_paths():
    p = GridPlanner(U_MAZE)
    assert p.path((3, 1), (1, 1)) == [(3, 2), (3, 3), (2, 3), (1, 3), (1, 2), (1, 1)]
    assert p.path((1, 1), (1, 1)) == [(1, 1)]
    assert p.path((3, 1), (1, 1)) is p.path((3, 1), (1, 1))  # cached


def test_controller_reaches_target():
    env = Maze2DEnv("umaze")
    obs, _ = env.reset(seed=0)
    env.set_state(np.array([3.0, 1.0]), np.zeros(2))
    obs = env._obs()
    c = WaypointController(U_MAZE, rng=np.random.default_rng(0))
    done = False
    for _ in range(400):
        act, done = c.get_action(obs[:2], obs[2:], np.array([1.0, 1.0]))
        assert np.abs(act).max() <= 1.0
        if done:
            break
        obs = env.step(act)[0]
    assert done and np.linalg.norm(obs[:2] - [1, 1]) < 0.1


# medium / large take ~9 s each: slow, so `make test-fast` stays near 3 min (umaze keeps the check fast)
@pytest.mark.parametrize(
    "maze",
    ["umaze", pytest.param("medium", marks=pytest.mark.slow), pytest.param("large", marks=pytest.mark.slow)],
)
def test_waypoint_controller_matches_d4rl_ref_max(maze):
    """D4RL's REF_MAX protocol (one controller reused over 100 sequential episodes) on our env."""
    for variant in ("", "-dense"):
        task = f"maze2d-{maze}{variant}-v1"
        res = run_episodes(
            WaypointAgent(task, reuse_controller=True), task, episodes=100, num_envs=1, seed=0, protocol=GOAL
        )
        mean = np.mean([r.ret for r in res])
        ref = get_spec(task).d4rl_ref_max
        assert abs(mean - ref) <= 0.1 * ref, (task, mean, ref)
