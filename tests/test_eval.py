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
