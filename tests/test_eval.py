from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mage.agent import Agent
from mage.envs.registry import get_spec
from mage.eval.agents import RandomAgent, WaypointAgent
from mage.eval.protocol import EvalProtocol
from mage.eval.rollout import run_episodes
from mage.eval.rtg import resolve_target_return, target_return
from mage.eval.scores import mean_std_ci, summarize

GOAL = EvalProtocol(goal="given")  # the waypoint controller steers to the env's goal


def test_agents_follow_protocol():
    assert isinstance(RandomAgent(), Agent) and isinstance(WaypointAgent("maze2d-umaze-v1"), Agent)


def test_rollout_same_seed_same_returns_regardless_of_batching():
    a = run_episodes(
        WaypointAgent("maze2d-umaze-v1", seed=0),
        "maze2d-umaze-v1",
        episodes=6,
        num_envs=4,
        seed=5,
        protocol=GOAL,
    )
    b = run_episodes(
        WaypointAgent("maze2d-umaze-v1", seed=0),
        "maze2d-umaze-v1",
        episodes=6,
        num_envs=4,
        seed=5,
        protocol=GOAL,
    )
    assert [r.ret for r in a] == [r.ret for r in b]
    assert [r.env_seed for r in a] == list(range(5, 11)) and [r.episode for r in a] == list(range(6))
    assert all(r.length == 300 for r in a)
    c = run_episodes(RandomAgent(seed=1), "maze2d-umaze-v1", episodes=5, num_envs=2, seed=0)
    d = run_episodes(RandomAgent(seed=1), "maze2d-umaze-v1", episodes=5, num_envs=2, seed=0)
    assert [r.ret for r in c] == [r.ret for r in d]


def test_rollout_scores_and_success():
    res = run_episodes(
        WaypointAgent("maze2d-umaze-v1"), "maze2d-umaze-v1", episodes=4, num_envs=4, seed=0, protocol=GOAL
    )
    spec = get_spec("maze2d-umaze-v1")
    for r in res:
        assert r.success
        assert r.norm_score == pytest.approx(
            100 * (r.ret - spec.d4rl_ref_min) / (spec.d4rl_ref_max - spec.d4rl_ref_min)
        )
        assert r.norm_score_ours == pytest.approx(
            100 * (r.ret - spec.ours_ref_min) / (spec.ours_ref_max - spec.ours_ref_min)
        )
        assert set(r.to_row()) >= {"episode", "env_seed", "return", "length", "success", "norm_score"}


def test_multi_task_rollout_uses_env_goal():
    res = run_episodes(
        WaypointAgent("maze2d-medium-multi-v1"),
        "maze2d-medium-multi-v1",
        episodes=3,
        num_envs=3,
        seed=0,
        protocol=GOAL,
    )
    assert all(r.success for r in res)
    # each episode records where it started and its goal (the env's, as reset gave them): per-cell diagnostics
    from mage.envs.make import make_batched_env

    obs_BS, goal_BG = make_batched_env("maze2d-medium-multi-v1", 3).reset([0, 1, 2])
    assert [(r.start_x, r.start_y, r.goal_x, r.goal_y) for r in res] == [
        (*map(float, o[:2]), *map(float, g[:2])) for o, g in zip(obs_BS, goal_BG)
    ]
    assert len({(r.goal_x, r.goal_y) for r in res}) == 3  # Multi2D: a goal per episode


def test_grid_steps_and_cell_breakdown_by_hand():
    """BFS moves on umaze (a U from (1, 1) round to (3, 1)), and a breakdown of six hand-made episodes."""
    import pandas as pd

    from mage.envs.maze_layouts import get_maze
    from mage.envs.waypoint_controller import GridPlanner
    from mage.eval.scores import cell_breakdown

    d = GridPlanner(get_maze("umaze")).steps_to((1, 1))
    assert [d[c] for c in [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)]] == [0, 1, 2, 3, 4, 5, 6]
    assert d[0, 0] == -1 and d[2, 1] == -1  # walls
    assert (GridPlanner(get_maze("umaze")).steps_to((0, 0)) == -1).all()  # from a wall: nothing reachable
    # start (x, y), success, first arrival; the goal is (1, 1) (+ noise that rounds to it) in every episode
    eps = [((1.02, 2.1), False, -1), ((0.9, 1.96), False, -1), ((3.1, 1.0), True, 150), ((2.9, 0.95), True, 170),
           ((3.0, 3.04), True, 120), ((1.0, 1.1), True, 1)]  # fmt: skip
    df = pd.DataFrame({"start_x": [e[0][0] for e in eps], "start_y": [e[0][1] for e in eps],
                       "goal_x": [1.04] * 6, "goal_y": [0.97] * 6, "success": [e[1] for e in eps],
                       "first_arrival": [e[2] for e in eps]})  # fmt: skip
    t = cell_breakdown(df, "maze2d-umaze-multi-v1")
    by_start = t[t["by"] == "start"].set_index("cell")
    assert by_start.loc["(1, 2)", "episodes"] == 2 and by_start.loc["(1, 2)", "success"] == 0.0
    assert np.isnan(by_start.loc["(1, 2)", "first_arrival_median"])
    assert by_start.loc["(3, 1)", "episodes"] == 2 and by_start.loc["(3, 1)", "first_arrival_median"] == 160
    apart = t[t["by"] == "cells apart"].set_index("cell")
    assert list(apart.index) == ["0", "1", "4", "6"] and apart.loc["6", "success"] == 1.0
    assert t[t["by"] == "goal"][["cell", "episodes", "success"]].values.tolist() == [["(1, 1)", 6, 4 / 6]]
    with pytest.raises(ValueError, match="not a maze2d task"):
        cell_breakdown(df, "hopper-medium-mage")
    with pytest.raises(ValueError, match="evaluate the checkpoint again"):
        cell_breakdown(df.drop(columns=["goal_x"]), "maze2d-umaze-v1")


def test_mean_std_ci_arithmetic():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    m, s, ci = mean_std_ci(x)
    assert m == pytest.approx(4.0) and s == pytest.approx(np.std(x, ddof=1))
    assert ci == pytest.approx(stats.t.ppf(0.975, 4) * s / math.sqrt(5))
    m1, s1, ci1 = mean_std_ci([7.0])
    assert (m1, s1) == (7.0, 0.0) and math.isnan(ci1)
    with pytest.raises(ValueError):
        mean_std_ci([])


def test_summarize_keys():
    res = run_episodes(RandomAgent(seed=0), "maze2d-umaze-v1", episodes=3, num_envs=3, seed=0)
    import pandas as pd

    s = summarize(pd.DataFrame([r.to_row() for r in res]))
    assert s["eval/episodes"] == 3 and s["eval/length_mean"] == 300
    assert s["eval/norm_score"] == pytest.approx(np.mean([r.norm_score for r in res]))


def test_target_return_modes():
    r = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    assert target_return(r, percentile=100) == 40.0
    assert target_return(r, percentile=50) == 20.0
    assert target_return(r, absolute=123.0) == 123.0
    assert target_return(r, multiple_of_max=1.5) == 60.0
    with pytest.raises(ValueError, match="exactly one"):
        target_return(r, percentile=50, absolute=1.0)
    with pytest.raises(ValueError, match="percentile"):
        target_return(r, percentile=120)

    # the one resolver: an absolute target wins, else the percentile, else no target (scripted agents)
    assert resolve_target_return(r, rtg_percentile=100.0) == 40.0
    assert resolve_target_return(r, target_return=5.0, rtg_percentile=100.0) == 5.0
    assert resolve_target_return(None, rtg_percentile=100.0) is None
    assert resolve_target_return(r) is None
    with pytest.raises(ValueError, match="finite"):
        resolve_target_return(r, target_return=float("nan"))


def test_summarize_gives_no_success_rate_on_a_task_without_a_goal():
    """Locomotion has no goal: '0 % success' would read as a failure, so the summary leaves success out."""
    import pandas as pd

    for task, has_goal in (("maze2d-umaze-v1", True), ("hopper-medium-mage", False)):
        rows = [
            {"norm_score": 10.0, "norm_score_ours": 9.0, "return": 5.0, "success": False, "length": 3,
             "dataset": task, "first_arrival": -1, "dwell": np.nan, "norm_score_absorbing": np.nan}
            for _ in range(3)
        ]  # fmt: skip
        s = summarize(pd.DataFrame(rows))
        assert ("eval/success_rate" in s) == has_goal and ("eval/first_arrival_median" in s) == has_goal
        assert s["eval/norm_score"] == 10.0


def test_evaluate_by_cell_prints_the_breakdown_and_refuses_a_task_without_a_maze(capsys):
    """`mage evaluate --by-cell` on D4RL's waypoint controller: one line per grouping, every cell 100 %; on
    Hopper it stops before any rollout with the reason."""
    from mage.cli import main

    argv = ["evaluate", "--method", "waypoint", "--task", "maze2d-umaze-multi-v1", "--goal", "given", "--local",
            "--no-log", "--episodes", "4", "--num-envs", "4", "--by-cell"]  # fmt: skip
    assert main(argv) == 0
    lines = {ln.split(":")[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("by ")}
    assert set(lines) == {"by start", "by goal", "by cells apart"}
    assert "100% of" in lines["by goal"] and "0% of" not in lines["by goal"].replace("100% of", "")
    with pytest.raises(SystemExit, match="--by-cell needs a maze2d task"):
        main([*argv[:4], "hopper-medium-mage", *argv[5:]])
