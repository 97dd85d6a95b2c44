"""d3rlpy baselines (mage.baselines): the Episodes -> MDPDataset adapter, typed configs, training a few steps,
saving, loading through the agent registry and acting through the rollout harness."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mage.baselines.config_base import GoalConfig
from mage.baselines.configs import CONFIGS, config_for
from mage.baselines.dataset import flat_arrays, to_mdp_dataset
from mage.baselines.methods import D3RLPY_METHODS as METHODS  # diffusion: test_diffusion_baselines.py
from mage.baselines.methods import get_method
from mage.config import ConfigError, DataConfig
from mage.data.episodes import Episodes, returns_to_go
from mage.eval.jobs import ChunkRunner, RolloutJob
from mage.eval.protocol import EvalProtocol
from mage.eval.registry import make_agent, needs_goal, registered_methods

pytestmark = pytest.mark.usefixtures("one_thread")

TASK = "maze2d-umaze-v1"
STEPS = 10


def synthetic_episodes(lengths: list[int], seed: int = 0) -> Episodes:
    rng = np.random.default_rng(seed)
    lengths_E = np.asarray(lengths, dtype=np.int64)
    starts_E = np.concatenate([[0], np.cumsum(lengths_E)[:-1]]).astype(np.int64)
    N = int(lengths_E.sum())
    obs = rng.uniform(0.5, 3.5, size=(N, 4)).astype(np.float32)
    rew = rng.integers(0, 2, size=N).astype(np.float32)
    return Episodes(
        obs_NS=obs,
        act_NA=rng.uniform(-1, 1, size=(N, 2)).astype(np.float32),
        rew_N=rew,
        rtg_N=returns_to_go(rew, starts_E, lengths_E).astype(np.float32),
        starts_E=starts_E,
        lengths_E=lengths_E,
        returns_E=np.add.reduceat(rew.astype(np.float64), starts_E),
        goal_EG=obs[starts_E + lengths_E - 1, :2].copy(),
        episode_N=np.repeat(np.arange(len(lengths_E)), lengths_E),
    )


# ---------------------------------------------------------------------------------------------------------
# Method table and configs


def test_method_table_matches_d3rlpy_and_registry() -> None:
    import d3rlpy

    assert set(METHODS) == {
        *("bc", "cql", "iql", "td3bc", "awac", "bcq", "bear", "crr", "rebrac", "plas", "dt"),
        *("bc-goal", "iql-goal", "dt-goal"),
    }
    for name, m in METHODS.items():
        assert hasattr(d3rlpy.algos, m.d3rlpy_class) and hasattr(d3rlpy.algos, f"{m.d3rlpy_class}Config")
        assert name in registered_methods()
        assert needs_goal(name) == m.goal_conditioned == (m.track == "G")
        assert m.plans_states is False


def test_configs_typed_sourced_and_strict() -> None:
    cfg = config_for("cql", TASK)
    assert (cfg.conservative_weight, cfg.alpha_threshold, cfg.actor_learning_rate) == (10.0, 5.0, 3e-5)
    d3 = cfg.to_d3rlpy(steps=100)
    assert type(d3).__name__ == "CQLConfig" and d3.conservative_weight == 10.0
    assert d3.critic_encoder_factory.hidden_units == [256, 256, 256]
    assert type(d3.observation_scaler).__name__ == "StandardObservationScaler"
    iql = config_for("iql-goal", TASK, {"hidden": [32, 32], "goal.relabel": "episode"})
    assert iql.hidden == (32, 32) and iql.goal.relabel == "episode"
    assert iql.to_d3rlpy(steps=50).actor_optim_factory.lr_scheduler_factory.T_max == 50
    dt = config_for("dt").to_d3rlpy(steps=10, max_timestep=301)
    assert (dt.max_timestep, dt.context_size, dt.activation_type) == (301, 20, "gelu")
    for bad in ({"nope": 1}, {"goal.nope": 1}, {"batch_size": 0}, {"goal.min_len": 1}, {"tau": float("nan")}):
        with pytest.raises(ConfigError):
            config_for("iql", TASK, bad)
    with pytest.raises(ConfigError, match="takes a BCConfig"):
        config_for("bc", TASK, CONFIGS["iql"]())
    for algo, cls in CONFIGS.items():  # every default builds its d3rlpy config
        cls().to_d3rlpy(steps=10, **({"max_timestep": 10} if algo == "dt" else {}))


@pytest.mark.parametrize(
    ("method", "bad", "rule"),
    [
        ("iql", {"expectile": 2.0}, r"baseline.expectile=2.0 must be in \(0, 1\)"),
        ("iql", {"weight_temp": 0.0}, "weight_temp=0.0 must be > 0"),
        ("cql", {"tau": 0.0}, r"tau=0.0 must be in \(0, 1\]"),
        ("cql", {"n_action_samples": 0}, "n_action_samples=0 must be >= 1"),
        ("cql", {"conservative_weight": -1.0}, "conservative_weight=-1.0 must be >= 0"),
        ("td3bc", {"update_actor_interval": 0}, "update_actor_interval=0 must be >= 1"),
        ("bcq", {"lam": 1.5}, r"lam=1.5 must be in \[0, 1\]"),
        ("awac", {"lam": 0.0}, "lam=0.0 must be > 0"),  # AWAC's lam is a temperature, not a mix
        ("crr", {"beta": 0.0}, "beta=0.0 must be > 0"),
        ("bear", {"mmd_sigma": 0.0}, "mmd_sigma=0.0 must be > 0"),
        ("dt", {"attn_dropout": 1.0}, r"attn_dropout=1.0 must be in \[0, 1\)"),
        ("dt", {"embed_dim": 130, "num_heads": 4}, "embed_dim=130 must be a multiple of num_heads=4"),
    ],
)
def test_a_value_d3rlpy_would_take_and_fail_on_is_a_config_error(method: str, bad: dict, rule: str) -> None:
    """d3rlpy checks none of these (IQL took expectile=2 and trained); our configs reject each with one
    ConfigError naming the key and the range, while every default is in range (test above)."""
    with pytest.raises(ConfigError, match=rule):
        config_for(method, TASK, bad)


# ---------------------------------------------------------------------------------------------------------
# The adapter


def test_adapter_plain_round_trip() -> None:
    eps = synthetic_episodes([5, 1, 7, 3])
    data = flat_arrays(eps)  # the one-step episode has no transition: left out, as d3rlpy would
    rows = np.r_[0:5, 6:16]
    np.testing.assert_array_equal(data.observations, eps.obs_NS[rows])
    np.testing.assert_array_equal(data.actions, eps.act_NA[rows])
    np.testing.assert_array_equal(data.rewards, eps.rew_N[rows])
    assert np.flatnonzero(data.timeouts).tolist() == [4, 11, 14] and not data.terminals.any()
    assert data.num_transitions == 15 - 3 and data.goal_dim == 0
    np.testing.assert_allclose(data.episode_returns, eps.returns_E[[0, 2, 3]])
    mdp = to_mdp_dataset(data)
    assert [e.size() for e in mdp.episodes] == [5, 7, 3]
    assert mdp.transition_count == data.num_transitions
    assert all(not e.terminated for e in mdp.episodes)


def test_adapter_goal_episode_and_future() -> None:
    eps = synthetic_episodes([40, 1, 95, 12])
    ep = flat_arrays(eps, GoalConfig(relabel="episode"))
    assert ep.observations.shape == (eps.num_steps - 1, 6) and ep.goal_dim == 2
    keep = eps.lengths_E >= 2
    np.testing.assert_array_equal(
        ep.observations[:, 4:], np.repeat(eps.goal_EG[keep], eps.lengths_E[keep], 0)
    )
    d = np.linalg.norm(ep.observations[:, :2] - ep.observations[:, 4:], axis=1)
    np.testing.assert_array_equal(ep.rewards, (d <= 0.5).astype(np.float32))

    g = GoalConfig(relabel="future", min_len=10, max_len=20, copies=2)
    fut = flat_arrays(eps, g, seed=3)
    ends = np.flatnonzero(fut.timeouts)
    lengths = np.diff(np.concatenate([[-1], ends]))
    assert len(fut.rewards) == 2 * (
        eps.num_steps - 1
    )  # every episode of >= 2 steps, twice; the 1-step one dropped
    assert lengths.min() >= 10 and lengths.max() <= 20 + 10 - 1
    for s, e in zip(np.concatenate([[0], ends[:-1] + 1]), ends + 1):  # goal = the piece's last xy, constant
        np.testing.assert_array_equal(
            fut.observations[s:e, 4:], np.repeat(fut.observations[e - 1 : e, :2], e - s, 0)
        )
    assert fut.rewards[ends].min() == 1.0  # at its own goal at the last step
    dense = flat_arrays(eps, g, reward_type="dense", seed=3)
    np.testing.assert_allclose(dense.rewards[ends], 1.0)
    np.testing.assert_array_equal(flat_arrays(eps, g, seed=3).observations, fut.observations)  # seeded


# ---------------------------------------------------------------------------------------------------------
# Train, save, load through the registry, act through the harness


@pytest.fixture(scope="module")
def tiny_episodes(tiny_maze2d_path: Path) -> Episodes:
    from mage.data.prepare import load_episodes

    eps, task = load_episodes(
        DataConfig.from_dict({"dataset": TASK, "path": str(tiny_maze2d_path), "max_steps": 2000})
    )
    assert task == TASK and eps.num_episodes >= 2
    return eps


def tiny_overrides(method: str) -> dict[str, Any]:
    """Small nets and batches: the test checks the plumbing, not learning."""
    cfg = config_for(method)
    o: dict[str, Any] = {"batch_size": 16, "steps_per_epoch": 5}
    o.update({k: [16, 16] for k in cfg.to_dict() if k.endswith("hidden")})
    if "warmup_steps" in cfg.to_dict():
        o["warmup_steps"] = 5  # BEAR / PLAS: both phases; DT: the lr warm-up
    if get_method(method).transformer:
        o.update(embed_dim=16, context_size=5, num_layers=1)
    if get_method(method).goal_conditioned:
        o.update({"goal.min_len": 10, "goal.max_len": 50})
    return o


_TRAINED: dict[str, Path] = {}


@pytest.fixture
def trained(
    tiny_episodes: Episodes, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
):
    def train(method: str) -> tuple[Path, list[tuple[int, dict[str, float]]]]:
        from mage.baselines.train import train_d3rlpy

        work = tmp_path_factory.mktemp(method)
        monkeypatch.chdir(work)  # d3rlpy's default adapter would write d3rlpy_logs/ here
        logs: list[tuple[int, dict[str, float]]] = []
        out = train_d3rlpy(
            method,
            tiny_overrides(method),
            tiny_episodes,
            steps=STEPS,
            seed=0,
            out_dir=work / "run",
            dataset=TASK,
            log_fn=lambda m, step: logs.append((step, m)),
        )
        assert sorted(p.name for p in work.iterdir()) == ["run"]  # nothing else written
        _TRAINED[method] = out
        return out, logs

    return train


def test_a_baseline_is_evaluated_on_its_own_data_with_an_explicit_task(trained) -> None:
    """The sweeps pass the task: a baseline's trained-on dataset comes from its meta.json (MAGE's from its
    config), so its own maze and the Multi2D task of it run, another maze needs allow_other_data."""
    from mage.tracking.evaluation import evaluate_checkpoint, trained_on

    out, _ = trained("bc")
    assert trained_on("bc", str(out)) == TASK
    kw = {"method": "bc", "episodes": 1, "num_envs": 1, "log": False, "progress": False}
    for task in (TASK, "maze2d-umaze-multi-v1"):
        assert len(evaluate_checkpoint(out, task=task, **kw).episodes) == 1
    with pytest.raises(ValueError, match="is not a task of the data"):
        evaluate_checkpoint(out, task="maze2d-large-v1", **kw)


@pytest.mark.parametrize("method", list(METHODS))
def test_train_save_load_act(method: str, trained, tiny_episodes: Episodes) -> None:
    m = get_method(method)
    out, logs = trained(method)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "episode_returns.npy",
        "meta.json",
        "model.d3",
    ]
    assert [s for s, _ in logs] == [5, 10] and all(np.isfinite(v) for _, d in logs for v in d.values())

    agent = make_agent(method, str(out), TASK, "cpu", seed=1)
    assert agent.meta.method == method and agent.meta.track == m.track and agent.plans_states is False
    assert agent.meta.goal_dim == (2 if m.goal_conditioned else 0)
    assert 0 < agent.meta.transitions < tiny_episodes.num_steps
    obs = np.tile(tiny_episodes.obs_NS[:1], (3, 1))
    goal = np.tile(tiny_episodes.goal_EG[:1], (3, 1))
    agent.reset(3)
    a = agent.act(obs, goal)
    assert a.shape == (3, 2) and np.all(np.abs(a) <= 1.0)
    if m.goal_conditioned:
        with pytest.raises(ValueError, match="needs the env's goal"):
            agent.act(obs, None)

    protocols = (
        [EvalProtocol(goal="given"), EvalProtocol(goal="given", hold=True)]
        if m.goal_conditioned
        else [EvalProtocol(), EvalProtocol(hold=True)]
    )
    runner = ChunkRunner("cpu")
    for proto in protocols:
        job = RolloutJob(method, str(out), TASK, seed=0, target_return=None, episodes=2, protocol=proto)
        rows, env_steps, _ = runner.run_chunk(job, 0, 2)
        assert len(rows) == 2 and env_steps == 2 * 300
        assert all(r["track"] == m.track and np.isfinite(r["return"]) for r in rows)
    if m.goal_conditioned:
        with pytest.raises(ValueError, match="needs protocol goal='given'"):
            RolloutJob(method, str(out), TASK, seed=0, target_return=None, episodes=1)
    track = dataclasses.replace(protocols[0], acting="track")
    with pytest.raises(ValueError, match="does not plan states"):
        runner.run_chunk(RolloutJob(method, str(out), TASK, 0, None, 1, protocol=track), 0, 1)


def test_registry_checks_method_and_dt_target(trained) -> None:
    out = _TRAINED.get("dt") or trained("dt")[0]
    with pytest.raises(ValueError, match="holds baseline 'dt', not 'bc'"):
        make_agent("bc", str(out), TASK)
    with pytest.raises(ValueError, match="needs a baseline directory"):
        make_agent("dt", None, TASK)
    best = float(np.load(out / "episode_returns.npy").max())
    assert make_agent("dt", str(out), TASK).default_target == pytest.approx(best)
    assert make_agent("dt", str(out), TASK, target_return=7.0).default_target == 7.0


def test_batched_dt_matches_d3rlpy_stateful_wrapper(trained) -> None:
    """Our (B, K) context reproduces d3rlpy's single-env StatefulTransformerWrapper env by env, past the
    point where the context is full (K = 5, 12 steps)."""
    from mage.baselines.agent import DecisionTransformerAgent
    from mage.baselines.checkpoint import load_baseline

    loaded = load_baseline(_TRAINED.get("dt") or trained("dt")[0])
    B, T, target = 3, 12, 5.0
    rng = np.random.default_rng(0)
    obs = rng.uniform(0.5, 3.5, size=(T, B, 4)).astype(np.float32)
    rew = rng.integers(0, 2, size=(T, B)).astype(np.float32)
    agent = DecisionTransformerAgent(loaded, target_return=target)
    agent.reset(B)
    wrappers = [loaded.algo.as_stateful_wrapper(target_return=target) for _ in range(B)]
    for t in range(T):
        ours = agent.act(obs[t])
        agent.observe(rew[t], np.zeros(B, dtype=bool))
        ref = [w.predict(obs[t, b], float(rew[t - 1, b]) if t else 0.0) for b, w in enumerate(wrappers)]
        np.testing.assert_allclose(ours, np.clip(np.stack(ref), agent._low, agent._high), atol=1e-5)
    np.testing.assert_allclose(agent.rtg_B, target - rew.sum(0))
