"""Evaluation protocol switches (goal / acting / hold) and per-episode goal diagnostics: each switch changes
what it should and nothing else."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mage.agent import Agent, StatePlanner
from mage.eval.agents import RandomAgent, WaypointAgent
from mage.eval.jobs import EPISODE_COLUMNS, RolloutJob, run_jobs
from mage.eval.protocol import PAPER, PURE, EvalProtocol, hold_action, track_action
from mage.eval.rollout import goal_diagnostics, run_episodes
from mage.eval.scores import summarize

TASK = "maze2d-umaze-v1"
GOAL = EvalProtocol(goal="given")


class GoalSpy:
    """Records the goal argument it is given; drives with a constant action."""

    def __init__(self) -> None:
        self.goals: list[np.ndarray | None] = []

    def reset(self, num_envs: int, target_return=None) -> None:
        self.n = num_envs

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        self.goals.append(goal_BG)
        return np.zeros((len(obs_BS), 2))

    def observe(self, reward_B, done_B) -> None:
        pass


class ArriveThenLeave(WaypointAgent):
    """Drives to the goal like the data's controller, then pushes away at full throttle once there: the
    behaviour of a policy that never learnt to stay (the data's controller never stays)."""

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        a = super().act(obs_BS, goal_BG)
        near = np.linalg.norm(obs_BS[:, :2] - goal_BG[:, :2], axis=1) < 0.6
        a[near] = np.array([1.0, 1.0])
        return a


class WaypointPlanner(WaypointAgent):
    """A state planner: its planned next state is where the waypoint controller heads (s.xy + a, same
    velocity), so tracking it reproduces the controller; its own action stands still."""

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        return np.zeros((len(obs_BS), 2))

    def plan_next_state(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        a_BA = super().act(obs_BS, goal_BG)
        return np.concatenate([obs_BS[:, :2] + a_BA, obs_BS[:, 2:]], axis=1)


def test_protocol_labels_validation_and_presets() -> None:
    assert PURE.label == "R / own" and PURE.track == "R" and not PURE.hold
    assert PAPER.label == "G / track + hold" and PAPER.tags()["mage.hold"] == "true"
    for bad in ({"goal": "yes"}, {"acting": "diffuse"}, {"hold": "true"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            EvalProtocol(**bad)
    assert isinstance(WaypointPlanner(TASK), StatePlanner) and not isinstance(GoalSpy(), StatePlanner)
    assert isinstance(GoalSpy(), Agent)


def test_goal_switch_passes_the_goal_only_when_given() -> None:
    spy = GoalSpy()
    run_episodes(spy, TASK, episodes=2, num_envs=2, seed=0)
    assert all(g is None for g in spy.goals)
    spy = GoalSpy()
    run_episodes(spy, TASK, episodes=2, num_envs=2, seed=0, protocol=GOAL)
    np.testing.assert_allclose(spy.goals[0], np.tile([1.0, 1.0], (2, 1)))  # umaze 'G' cell centre
    with pytest.raises(ValueError, match="goal='given'"):  # a goal-steering controller cannot run in track R
        RolloutJob("waypoint", None, TASK, 0, None, 2)


def test_hold_keeps_an_agent_at_the_goal_and_changes_nothing_before() -> None:
    free = run_episodes(ArriveThenLeave(TASK), TASK, episodes=3, num_envs=3, seed=0, protocol=GOAL)
    held = run_episodes(
        ArriveThenLeave(TASK), TASK, episodes=3, num_envs=3, seed=0, protocol=EvalProtocol("given", hold=True)
    )
    for f, h in zip(free, held):
        assert f.success and h.success
        assert f.first_arrival == h.first_arrival  # identical until the first arrival
        assert h.hold_steps > 0 and f.hold_steps == 0
        assert h.dwell > 0.9 > f.dwell  # the hold keeps it there; alone it leaves
        assert h.ret > f.ret + 50
    # an agent that never reaches the goal is untouched by the hold
    r0 = run_episodes(RandomAgent(seed=1), TASK, episodes=3, num_envs=3, seed=0)
    r1 = run_episodes(
        RandomAgent(seed=1), TASK, episodes=3, num_envs=3, seed=0, protocol=EvalProtocol(hold=True)
    )
    assert [r.ret for r in r0] == [r.ret for r in r1] and not any(r.success for r in r0)


def test_track_follows_the_planned_state_and_needs_a_planner() -> None:
    own = run_episodes(WaypointPlanner(TASK), TASK, episodes=2, num_envs=2, seed=0, protocol=GOAL)
    tracked = run_episodes(
        WaypointPlanner(TASK), TASK, episodes=2, num_envs=2, seed=0, protocol=EvalProtocol("given", "track")
    )
    assert not any(r.success for r in own)  # its own action stands still
    assert all(r.success for r in tracked)  # tracking its plan reaches the goal
    obs = np.array([[1.0, 2.0, 0.5, -0.5]])
    np.testing.assert_allclose(track_action(obs, np.array([[1.5, 2.0, 0.0, 0.0]])), [[0.0, 0.5]])
    np.testing.assert_allclose(hold_action(obs, np.array([[5.0, 5.0]])), [[1.0, 1.0]])  # clipped
    with pytest.raises(ValueError, match="does not plan states"):
        run_episodes(GoalSpy(), TASK, episodes=1, num_envs=1, seed=0, protocol=EvalProtocol("given", "track"))


def test_goal_diagnostics_on_hand_made_episodes() -> None:
    at = np.array(
        [
            [0, 0, 1, 1, 0, 1],  # arrives at step 3, at the goal 3 of the 4 steps from there on
            [0, 0, 0, 0, 0, 0],  # never arrives
            [1, 1, 1, 1, 1, 1],  # there from the first step
        ],
        dtype=bool,
    )
    reward = np.where(at, 1.0, 0.0)
    reward[1, 2] = 0.25  # a dense-style reward before any arrival counts in the absorbing return
    first, dwell, absorbing = goal_diagnostics(at, reward, np.array([6, 6, 6]))
    assert first.tolist() == [3, -1, 1]
    assert dwell[0] == pytest.approx(0.75) and math.isnan(dwell[1]) and dwell[2] == 1.0
    assert absorbing.tolist() == [4.0, 0.25, 6.0]


def test_episode_table_and_summary_carry_protocol_and_diagnostics() -> None:
    jobs = [RolloutJob("waypoint", None, TASK, 0, None, 2, protocol=EvalProtocol("given", hold=True))]
    df = run_jobs(jobs, num_envs=2, progress=False)
    assert set(EPISODE_COLUMNS) <= set(df.columns)
    assert df["track"].tolist() == ["G", "G"] and df["hold"].all() and (df["acting"] == "own").all()
    m = summarize(df)
    assert m["eval/first_arrival_median"] == df["first_arrival"].median()
    assert 0 < m["eval/dwell_mean"] <= 1 and m["eval/norm_score_absorbing"] >= m["eval/norm_score"]
    none = summarize(pd.DataFrame([r.to_row() for r in run_episodes(RandomAgent(), TASK, 2, 2, seed=0)]))
    assert math.isnan(none["eval/first_arrival_median"])
