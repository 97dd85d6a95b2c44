"""Multi2D for real: hindsight goal relabelling (mage.data.relabel), a goal-conditioned MAGE whose output depends
on the goal, and its evaluation on the random-goal envs with the goal given (and refused without it)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mage.config import ConfigError, DataConfig, make_config
from mage.data.d4rl_io import write_d4rl_hdf5
from mage.data.episodes import split_episodes
from mage.data.prepare import load_episodes, prepare_data
from mage.data.relabel import hindsight_episodes, relabel_rewards

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

FIXED_GOAL = np.array([1.0, 1.0])  # maze2d-umaze's evaluation goal


def hand_made(n_first: int = 10, n_second: int = 3) -> dict[str, np.ndarray]:
    """Two episodes moving along x at 0.3 per step (y = 1); infos/goal switches once inside the first one."""
    n = n_first + n_second
    x_N = np.concatenate([np.arange(n_first) * 0.3 + 1.0, np.arange(n_second) * 0.3 + 1.0])
    obs = np.stack([x_N, np.ones(n), np.full(n, 0.3), np.zeros(n)], axis=1).astype(np.float32)
    timeouts = np.zeros(n, dtype=bool)
    timeouts[[n_first - 1, n - 1]] = True
    infos_goal = np.zeros((n, 2), dtype=np.float32)
    infos_goal[:4] = (2.0, 1.0)  # the controller's target, reached around row 3
    infos_goal[4:n_first] = (3.5, 1.2)
    infos_goal[n_first:] = (1.4, 1.0)
    return {
        "observations": obs,
        "actions": np.zeros((n, 2), dtype=np.float32),
        "rewards": relabel_rewards(obs[:, :2], FIXED_GOAL, "sparse"),
        "terminals": np.zeros(n, dtype=bool),
        "timeouts": timeouts,
        "infos/goal": infos_goal,
    }


def expected(obs_TS: np.ndarray, goal_2: np.ndarray, reward_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Rewards and RTG of one sub-episode, written out step by step."""
    rew = []
    for s in obs_TS:
        d = float(np.hypot(s[0] - goal_2[0], s[1] - goal_2[1]))
        rew.append((1.0 if d <= 0.5 else 0.0) if reward_type == "sparse" else np.exp(-d))
    rtg = [sum(rew[t:]) for t in range(len(rew))]
    return np.asarray(rew), np.asarray(rtg)


def check_relabelled(eps, src_obs_NS, rows: list[tuple[int, int]], goals: np.ndarray, reward_type: str):
    assert eps.num_episodes == len(rows)
    np.testing.assert_allclose(eps.goal_EG, goals, atol=1e-6)
    for e, (a, b) in enumerate(rows):
        ep = eps.episode(e)
        np.testing.assert_array_equal(ep["obs_TS"], src_obs_NS[a:b])
        rew, rtg = expected(src_obs_NS[a:b], goals[e], reward_type)
        np.testing.assert_allclose(ep["rew_T"], rew, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ep["rtg_T"], rtg, rtol=1e-5, atol=1e-5)
        assert eps.returns_E[e] == pytest.approx(rew.sum(), rel=1e-5)


def test_the_reward_rule_is_one_function_shared_by_generator_and_baselines():
    import mage.baselines.dataset as bd
    import mage.data.generate as gen

    assert bd.relabel_rewards is relabel_rewards and gen.relabel_rewards is relabel_rewards
    xy = np.array([[0.0, 0.0], [0.5, 0.0], [0.51, 0.0]])
    np.testing.assert_array_equal(relabel_rewards(xy, np.zeros(2), "sparse"), [1, 1, 0])  # d <= 0.5
    np.testing.assert_allclose(relabel_rewards(xy, np.zeros((3, 2)), "dense"), np.exp([0, -0.5, -0.51]))
    with pytest.raises(ValueError, match="reward_type"):
        relabel_rewards(xy, np.zeros(2), "shaped")


@pytest.mark.parametrize("reward_type", ["sparse", "dense"])
def test_future_goals_are_the_last_xy_of_each_sub_episode(reward_type):
    raw = hand_made()
    eps = split_episodes(raw)
    # min_len = max_len = 4: episode 0 (10 steps) -> 4 + 6 (a remainder < 4 joins the piece before it);
    # episode 1 (3 steps < min_len) stays whole
    rel = hindsight_episodes(eps, "future", reward_type=reward_type, min_len=4, max_len=4)
    obs = raw["observations"]
    rows = [(0, 4), (4, 10), (10, 13)]
    check_relabelled(rel, obs, rows, np.stack([obs[b - 1, :2] for _, b in rows]), reward_type)
    if reward_type == "sparse":
        assert (rel.returns_E >= 1).all()  # every sub-episode ends at its goal


@pytest.mark.parametrize("reward_type", ["sparse", "dense"])
def test_infos_goals_are_the_controllers_targets(reward_type):
    raw = hand_made()
    rel = hindsight_episodes(
        split_episodes(raw), "infos", reward_type=reward_type, infos_goal_N2=raw["infos/goal"]
    )
    rows = [(0, 4), (4, 10), (10, 13)]  # runs of one infos/goal value inside each episode
    check_relabelled(rel, raw["observations"], rows, raw["infos/goal"][[0, 4, 10]], reward_type)


def test_load_episodes_relabels_with_the_datasets_own_rule(tmp_path):
    path = write_d4rl_hdf5(tmp_path / "hand.hdf5", hand_made())
    base = DataConfig(path=str(path), diffuser_resplit=False)
    raw = hand_made()
    for name, rule in (("maze2d-umaze-multi-v1", "sparse"), ("maze2d-umaze-dense-v1", "dense")):
        dc = dataclasses.replace(base, dataset=name, goal_relabel="infos")
        eps, task = load_episodes(dc)
        assert task == name
        check_relabelled(
            eps, raw["observations"], [(0, 4), (4, 10), (10, 13)], raw["infos/goal"][[0, 4, 10]], rule
        )
    none, _ = load_episodes(dataclasses.replace(base, dataset="maze2d-umaze-multi-v1"))
    assert none.num_episodes == 2 and np.array_equal(none.rew_N, raw["rewards"])  # default: unchanged
    no_infos = {k: v for k, v in raw.items() if k != "infos/goal"}
    write_d4rl_hdf5(tmp_path / "no_infos.hdf5", no_infos)
    with pytest.raises(ValueError, match=r"data.goal_relabel='infos'.*use data.goal_relabel=future"):
        load_episodes(dataclasses.replace(base, path=str(tmp_path / "no_infos.hdf5"), goal_relabel="infos"))


def test_goal_relabel_config_is_validated():
    cfg = make_config("smoke", {"data.goal_relabel": "future", "data.goal_copies": 2})
    assert cfg.data.goal_relabel == "future" and cfg.data.goal_copies == 2
    with pytest.raises(ConfigError, match="data.goal_relabel"):
        make_config("smoke", {"data.goal_relabel": "final"})
    with pytest.raises(ConfigError, match="data.goal_max_len"):
        make_config("smoke", {"data.goal_min_len": 50, "data.goal_max_len": 10})
    assert make_config("cpu").data.goal_relabel == "none"  # existing runs see no change


def test_normalisers_and_windows_see_the_relabelled_data(tiny_maze2d_path):
    over = {"data.path": str(tiny_maze2d_path), "data.dataset": "maze2d-umaze-multi-v1", "data.horizon": 16}
    plain = prepare_data(make_config("smoke", over))
    rel = prepare_data(make_config("smoke", {**over, "data.goal_relabel": "future"}))
    eps = rel.episodes
    assert eps.num_episodes > 3 * plain.episodes.num_episodes  # cut into sub-episodes
    assert (eps.returns_E >= 1).all()  # each ends at its own goal (sparse)
    np.testing.assert_array_equal(rel.episode_returns, eps.returns_E)  # R̂_0 percentiles: relabelled returns
    # the RTG normaliser divides by the largest relabelled return of the training split, not the original one
    assert float(rel.normalizers.rtg.div) in set(eps.returns_E.tolist())
    assert float(rel.normalizers.rtg.div) != float(plain.normalizers.rtg.div)
    # the goal normaliser is the obs normaliser's (x, y), fitted on the relabelled training episodes
    np.testing.assert_allclose(rel.normalizers.goal.shift, rel.normalizers.obs.shift[:2])
    # a window's goal is a future xy of its own sub-episode
    idx = np.linspace(0, len(rel.train) - 1, 40).astype(int)
    goals = rel.normalizers.goal.unnormalize(torch.stack([rel.train[int(i)]["goal_G"] for i in idx]))
    d_BE = np.linalg.norm(goals.numpy()[:, None] - eps.goal_EG[None], axis=-1)
    assert d_BE.min(1).max() < 1e-4
    assert len(np.unique(np.round(goals.numpy(), 3), axis=0)) > 3  # many goals, not the one fixed 'G'


# ----------------------------------------------------------------------------------------------------------
# A goal-conditioned MAGE trained for a few steps on hindsight goals

TINY = {
    "data.horizon": 16,
    "data.max_steps": None,
    "data.dataset": "maze2d-umaze-multi-v1",
    "data.goal_relabel": "future",
    "transformer.use_goal": True,
    "tokenizer.num_scales": 3,
    "tokenizer.downsample": 2,
    "tokenizer.codebook_size": 32,
    "tokenizer.code_dim": 8,
    "tokenizer.hidden": 16,
    "transformer.depth": 2,
    "transformer.width": 32,
    "transformer.heads": 2,
    "policy.inv_hidden": 32,
    "train.batch_size": 16,
    "train.tokenizer_epochs": 1,
    "train.policy_epochs": 1,
    "train.steps_per_epoch": 3,
    "train.warmup_steps": 1,
    "train.val_batches": 1,
    "train.device": "cpu",
    "eval.goal": "given",
    "eval.episodes": 2,
    "eval.num_envs": 2,
}


@pytest.fixture(scope="module")
def goal_model(tiny_maze2d_path, tmp_path_factory):
    from mage.pipeline import run_local
    from mage.policy.checkpoint import load_checkpoint

    cfg = make_config("cpu", {**TINY, "data.path": str(tiny_maze2d_path)})
    d = run_local(cfg, tmp_path_factory.mktemp("goal") / "checkpoint")
    return cfg, d, load_checkpoint(d, "cpu")


def test_the_goal_changes_the_models_output_and_loss(goal_model):
    from mage.policy.model import MagePolicy

    cfg, _, ck = goal_model
    pol, tok = ck.policy.eval(), ck.tokenizer.eval()
    assert pol.goal_dim == 2
    torch.manual_seed(0)
    obs_BS, rtg_B = torch.randn(4, 4), torch.rand(4)
    goal_a, goal_b = torch.randn(4, 2), torch.randn(4, 2)
    with torch.no_grad():
        x_BLC = torch.randn(4, sum(tok.schedule) - tok.schedule[0], tok.cfg.code_dim)  # scales 2..K
        la = pol.transformer(pol.condition(obs_BS, rtg_B, goal_a), x_BLC)
        lb = pol.transformer(pol.condition(obs_BS, rtg_B, goal_b), x_BLC)
        assert torch.equal(la, pol.transformer(pol.condition(obs_BS, rtg_B, goal_a.clone()), x_BLC))
        assert not torch.allclose(la, lb)  # same state, R̂ and tokens; another goal: other logits
        # the training loss reads batch["goal_G"] (stage 2 learns the goal); a goal-free policy ignores it
        train = prepare_data(cfg).train
        batch = torch.utils.data.default_collate([train[i] for i in range(16)])  # the batch contract
        other = {**batch, "goal_G": batch["goal_G"] + 1.0}
        torch.manual_seed(1)
        ce_a = pol.losses(tok, batch)["ce"]
        torch.manual_seed(1)
        assert not torch.allclose(ce_a, pol.losses(tok, other)["ce"])
        free = MagePolicy(dataclasses.replace(cfg.transformer, use_goal=False), cfg.policy, tok, goal_dim=2)
        torch.manual_seed(1)
        ce_free = free.losses(tok, batch)["ce"]
        torch.manual_seed(1)
        assert torch.equal(ce_free, free.losses(tok, other)["ce"])


class GoalRecorder:
    """Wraps an agent and records the goals the harness passes to it."""

    def __init__(self, agent):
        self.agent, self.goals = agent, []

    def reset(self, num_envs, target_return=None):
        self.agent.reset(num_envs, target_return)

    def act(self, obs_BS, goal_BG=None):
        self.goals.append(None if goal_BG is None else np.array(goal_BG))
        return self.agent.act(obs_BS, goal_BG)

    def observe(self, reward_B, done_B):
        self.agent.observe(reward_B, done_B)


def test_goal_conditioned_mage_runs_multi2d_and_single_task_with_the_goal_given(goal_model):
    from mage.eval.jobs import in_process
    from mage.eval.protocol import EvalProtocol
    from mage.eval.rollout import run_episodes
    from mage.policy.mage_agent import MageAgent
    from mage.tracking.evaluation import evaluate_with_config

    cfg, d, ck = goal_model
    res = evaluate_with_config(d, cfg, runner=in_process("cpu", progress=False), log=False)
    ep = res.episodes
    assert len(ep) == 2 and set(ep["track"]) == {"G"} and ep["length"].eq(300).all()
    assert np.isfinite(res.metrics["eval/norm_score"])

    agent = GoalRecorder(MageAgent(ck, "cpu", target_return=float(np.percentile(ck.episode_returns, 90))))
    given = EvalProtocol("given")
    run_episodes(agent, "maze2d-umaze-multi-v1", episodes=2, num_envs=2, seed=0, protocol=given)
    goals = agent.goals[0]  # per env: the goal sampled at reset (D4RL set_target), constant in the episode
    assert goals.shape == (2, 2) and not np.allclose(goals[0], goals[1])
    assert all(np.array_equal(g, goals) for g in agent.goals)
    agent.goals.clear()
    run_episodes(agent, "maze2d-umaze-v1", episodes=1, num_envs=1, seed=0, protocol=given)
    np.testing.assert_allclose(agent.goals[0], [FIXED_GOAL])  # single-task: goal = the fixed 'G'
    with pytest.raises(ValueError, match=r"goal-conditioned.*eval.goal=given"):
        run_episodes(agent, "maze2d-umaze-multi-v1", episodes=1, num_envs=1, seed=0, protocol=EvalProtocol())


@pytest.mark.slow  # trains a second tiny model (~10 s): the fast suite stays near 3 min
def test_a_goal_conditioned_checkpoint_gets_its_own_table_row(goal_model, tiny_maze2d_path, tmp_path):
    """Evaluated under one protocol beside a single-task MAGE, a goal model's run is tagged mage.variant=goal
    and mage.trained_on, and the main table gives it its own row (MAGE-goal) instead of averaging the two models
    as if they were seeds of one."""
    from analysis import main_table
    from mage.eval.protocol import EvalProtocol
    from mage.pipeline import run_local
    from mage.tracking.evaluation import evaluate_checkpoint
    from mage.tracking.query import load_runs

    _, goal_dir, _ = goal_model
    single = {k: v for k, v in TINY.items() if k not in ("data.goal_relabel", "transformer.use_goal")}
    single_cfg = make_config(
        "cpu", {**single, "data.dataset": "maze2d-umaze-v1", "data.path": str(tiny_maze2d_path)}
    )
    single_dir = run_local(single_cfg, tmp_path / "single" / "checkpoint")
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    for d in (goal_dir, single_dir):
        evaluate_checkpoint(d, task="maze2d-umaze-v1", episodes=2, num_envs=2, protocol=EvalProtocol("given"),
                            experiment="variants", tracking_uri=uri, progress=False)  # fmt: skip
    runs = load_runs("variants", uri, cache=False).set_index("variant", drop=False)
    assert runs.loc["goal", "tags.mage.trained_on"] == "maze2d-umaze-multi-v1"
    assert runs["variant"].isna().sum() == 1  # the single-task model has no variant tag
    meas = main_table.measured(runs.reset_index(drop=True))
    assert sorted(meas["method"]) == ["mage", "mage-goal"] and (meas["n"] == 1).all()
