"""MPPI on the true maze2d simulator (``mage.baselines.mppi``) and ``mage evaluate --method``: real MuJoCo
rollouts, the real rollout jobs and a temporary sqlite MLflow store; small horizons and sample counts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mage.baselines.mppi import MPPIAgent, MPPIConfig
from mage.config import ConfigError
from mage.envs.maze2d import GOAL_RADIUS, Maze2DEnv

TASK = "maze2d-umaze-v1"
SMALL = MPPIConfig(horizon=48, samples=32)  # enough to find a goal one cell away, ~10 ms per act


def _agent(seed: int = 0, cfg: MPPIConfig = SMALL, num_envs: int = 1) -> MPPIAgent:
    agent = MPPIAgent(TASK, cfg, seed=seed)
    agent.reset(num_envs)
    return agent


def test_config_names_bad_keys_and_values() -> None:
    with pytest.raises(ConfigError, match="mppi.horizn"):
        MPPIConfig.from_dict({"horizn": 8}, where="mppi.")
    with pytest.raises(ConfigError, match="mppi.temperature=0.0 must be > 0"):
        MPPIConfig.from_dict({"temperature": 0})
    with pytest.raises(ConfigError, match="mppi.objective"):
        MPPIConfig.from_dict({"objective": "return"}, where="mppi.")
    assert MPPIConfig.from_dict({"samples": "4", "warm_start": "false"}).samples == 4


def test_sim_from_obs_steps_like_the_env() -> None:
    """The observation is the full state: one planner step from it equals the env's step, velocity clip
    included (to 1e-12: the env keeps MuJoCo's solver warm start across steps, a fresh rollout does not)."""
    env, agent = Maze2DEnv("umaze"), _agent()
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=3)
    for t in range(200):
        if t == 100:  # faster than the 5 u/s cap: the env clips qvel before mj_step, so must the planner
            env.set_state(obs[:2], np.array([7.0, -6.0]))
            obs = env._obs()
        a = rng.uniform(-1.5, 1.5, size=2)  # out of bounds too: both clip to [-1, 1]
        pred_S = agent.rollout(obs[None], a[None, None])[0, 0]
        obs, *_ = env.step(a)
        np.testing.assert_allclose(pred_S, obs, rtol=0, atol=1e-12, err_msg=f"step {t}")


def test_reaches_the_goal_from_a_nearby_start_within_bounds() -> None:
    env, agent = Maze2DEnv("umaze"), _agent()
    env.reset(seed=0)
    env.set_state(np.array([1.0, 2.0]), np.zeros(2))  # one cell from the goal (1, 1), outside its radius
    obs, goal = env._obs(), env.goal[None]
    dists = []
    for _ in range(80):
        a_BA = agent.act(obs[None], goal)
        assert a_BA.shape == (1, 2) and np.all(np.abs(a_BA) <= 1.0)
        obs, *_ = env.step(a_BA[0])
        dists.append(np.linalg.norm(obs[:2] - goal[0]))
    assert min(dists) <= GOAL_RADIUS, f"closest approach {min(dists):.2f}"
    assert np.mean(np.array(dists[-20:]) <= GOAL_RADIUS) >= 0.5  # and it stays: the reward is for being there


def test_seeded_reproducible_batch_independent_and_goal_driven() -> None:
    obs_BS = np.array([[1.0, 2.0, 0.0, 0.0], [1.2, 2.1, 0.3, 0.0]])
    goal_BG = np.array([[1.0, 1.0], [1.0, 1.0]])

    def actions(seed: int, obs: np.ndarray, goal: np.ndarray, steps: int = 3) -> np.ndarray:
        agent = _agent(seed, num_envs=len(obs))
        return np.stack([agent.act(obs, goal) for _ in range(steps)])

    a = actions(5, obs_BS, goal_BG)
    np.testing.assert_array_equal(a, actions(5, obs_BS, goal_BG))
    assert not np.allclose(a, actions(6, obs_BS, goal_BG))
    # env 1 of a seed-5 batch draws stream 6: alone under seed 6 it acts the same
    np.testing.assert_array_equal(a[:, 1], actions(6, obs_BS[1:], goal_BG[1:])[:, 0])
    # the goal steers: below the start (y 1.2) the plan pushes y down, above it (y 2.8) up
    down = actions(0, obs_BS[:1], np.array([[1.0, 1.2]]), steps=1)[0, 0]
    up = actions(0, obs_BS[:1], np.array([[1.0, 2.8]]), steps=1)[0, 0]
    assert down[1] < 0 < up[1], (down, up)


def test_done_envs_are_not_planned_and_goal_is_required() -> None:
    agent = _agent(num_envs=2)
    obs_BS = np.array([[1.0, 2.0, 0.0, 0.0]] * 2)
    agent.observe(np.zeros(2), np.array([True, False]))
    a_BA = agent.act(obs_BS, np.ones((2, 2)))
    assert np.all(a_BA[0] == 0.0) and np.any(a_BA[1] != 0.0)
    with pytest.raises(ValueError, match="goal='given'"):
        agent.act(obs_BS, None)


def test_non_maze_task_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="task hopper-medium-v2 is locomotion with no maze"):
        MPPIAgent("hopper-medium-v2")


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MAGE_ARTIFACT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    return uri


EVAL = ["evaluate", "--method", "mppi", "--task", TASK, "--episodes", "2", "--num-envs", "2", "--local"]
TINY = ["--set", "mppi.horizon=8", "--set", "mppi.samples=4"]


def test_evaluate_method_mppi_runs_the_rollout_jobs(capsys: pytest.CaptureFixture) -> None:
    """The function behind ``mage evaluate --method``: 2 episodes through the rollout jobs, protocol recorded."""
    from mage.cli import main
    from mage.eval.protocol import EvalProtocol
    from mage.tracking.evaluation import evaluate_checkpoint

    res = evaluate_checkpoint(
        method="mppi", task=TASK, episodes=2, num_envs=2, protocol=EvalProtocol(goal="given"), log=False,
        agent_kwargs={"mppi": {"horizon": 8, "samples": 4}}, progress=False,
    )  # fmt: skip
    eps = res.episodes
    assert eps["env_seed"].tolist() == [0, 1] and set(eps["method"]) == {"mppi"}
    assert set(eps["track"]) == {"G"} and set(eps["acting"]) == {"own"} and not eps["hold"].any()
    assert (eps["length"] == 300).all() and res.metrics["eval/episodes"] == 2
    assert main([*EVAL, *TINY, "--goal", "given", "--no-log"]) == 0
    assert "protocol: G / own" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_method_mppi_logs_an_eval_run(store: str, capsys: pytest.CaptureFixture) -> None:
    from mage.cli import main
    from mage.tracking import query

    assert main([*EVAL, *TINY, "--goal", "given", "--hold"]) == 0
    out = capsys.readouterr().out
    assert "protocol: G / own + hold" in out
    run_id = re.search(r"MLflow run id: ([0-9a-f]{32})", out).group(1)
    run = query.get_run(run_id, tracking_uri=store)
    tags = run.data.tags
    assert tags["mage.method"] == "mppi" and tags["mage.run_type"] == "eval"
    assert (tags["mage.track"], tags["mage.acting"], tags["mage.hold"]) == ("G", "own", "true")
    assert run.data.metrics["eval/episodes"] == 2
    eps = query.load_episodes(run_id, tracking_uri=store)
    assert eps["env_seed"].tolist() == [0, 1] and set(eps["method"]) == {"mppi"}
    assert set(eps["track"]) == {"G"} and set(eps["acting"]) == {"own"} and eps["hold"].all()
    assert (eps["length"] == 300).all()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (TINY, r"needs protocol goal='given' .*--goal given"),
        (["--goal", "given", "--acting", "track"], "plans no states, so acting='track' does not apply"),
        (["--goal", "given", "--set", "eval.top_k=3"], "--method mppi takes only --set"),
        (["--goal", "given", "--set", "mppi.samples=0"], r"mppi.samples=0 must be >= 1"),
    ],
)
def test_evaluate_method_errors_before_any_rollout(argv: list[str], message: str) -> None:
    from mage.cli import main

    with pytest.raises(SystemExit, match=message):
        main([*EVAL, "--no-log", *argv])


def test_evaluate_method_on_hopper_names_the_task() -> None:
    from mage.cli import main

    argv = ["evaluate", "--method", "mppi", "--task", "hopper-medium-v2", "--no-log", "--local"]
    with pytest.raises(SystemExit, match="task hopper-medium-v2 is locomotion with no maze"):
        main(argv)
    with pytest.raises(SystemExit, match="needs --task"):
        main(["evaluate", "--method", "waypoint", "--no-log", "--local"])
