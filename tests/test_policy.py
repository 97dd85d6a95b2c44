import dataclasses

import numpy as np
import pytest
import torch

from mage.checkpoint import read_episode_returns, save_checkpoint
from mage.config import make_config
from mage.data.prepare import prepare_data
from mage.eval.registry import make_agent
from mage.eval.rtg import resolve_target_return
from mage.policy.checkpoint import Checkpoint, load_checkpoint
from mage.policy.fit import fit_policy
from mage.policy.mage_agent import MageAgent
from mage.policy.model import MagePolicy
from mage.policy.planner import BACKENDS, SamplingConfig, plan, plan_fast, sample_tokens
from mage.tokenizer.fit import fit_tokenizer
from mage.tokenizer.vqvae import TrajectoryTokenizer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


TINY = {
    "data.horizon": 16,
    "data.max_steps": None,
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
}


@pytest.fixture(scope="module")
def trained(tiny_maze2d_path, tmp_path_factory):
    """A tiny MAGE trained for a few steps on the generated maze2d-umaze data; (in-memory ckpt, dir)."""
    cfg = make_config("cpu", {**TINY, "data.path": str(tiny_maze2d_path)})
    data = prepare_data(cfg)
    tok = fit_tokenizer(cfg, data)
    pol = fit_policy(cfg, data, tok)
    d = save_checkpoint(
        tmp_path_factory.mktemp("ck"), cfg, data.meta, data.normalizers, data.episode_returns, tok, pol
    )
    return Checkpoint(cfg, data.meta, data.normalizers, data.episode_returns, tok, pol, None), d


def test_agent_acts_within_bounds_on_the_real_env_and_tracks_rtg(trained):
    from mage.envs.make import BatchedMazeEnv

    ck, _ = trained
    agent = MageAgent(ck, "cpu", target_return=50.0)
    venv = BatchedMazeEnv("maze2d-umaze-v1", 3)
    obs, goal = venv.reset([0, 1, 2])
    agent.reset(3, target_return=50.0)
    for _ in range(20):
        a = agent.act(obs, goal)
        assert a.shape == (3, 2) and np.isfinite(a).all()
        assert (a >= np.array(ck.meta.act_low) - 1e-6).all() and (
            a <= np.array(ck.meta.act_high) + 1e-6
        ).all()
        obs, r, done, _ = venv.step(a)
        agent.observe(r, done)
    assert np.all(np.asarray(ck.meta.act_low) >= -1) and np.all(np.asarray(ck.meta.act_high) <= 1)
    agent.reset(2, np.array([10.0, 20.0]))
    agent.observe(np.array([1.0, 0.0]), np.array([False, False]))
    assert agent.rtg_B.tolist() == [9.0, 20.0]
    hold = MageAgent(
        ck, "cpu", target_return=50.0, rtg_update="hold"
    )  # n-step RTG (data.rtg_horizon): R̂ stays R̂_0
    hold.reset(2, np.array([10.0, 20.0]))
    hold.observe(np.array([1.0, 0.0]), np.array([False, False]))
    assert hold.rtg_B.tolist() == [10.0, 20.0]
    with pytest.raises(ValueError, match="rtg_update='down'"):
        MageAgent(ck, "cpu", target_return=50.0, rtg_update="down")


def test_checkpoint_round_trip_gives_identical_actions(trained):
    ck, d = trained
    obs = np.array([[1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.5, -0.5], [2.0, 3.0, 0.0, 1.0]])
    a1 = MageAgent(ck, "cpu", target_return=30.0)
    a2 = MageAgent.from_checkpoint(d, "cpu", target_return=30.0)
    for ag in (a1, a2):
        ag.reset(3)
    np.testing.assert_array_equal(a1.act(obs), a2.act(obs))
    loaded = load_checkpoint(d)
    assert loaded.cfg == ck.cfg and loaded.normalizers.to_dict() == ck.normalizers.to_dict()
    np.testing.assert_array_equal(read_episode_returns(d), ck.episode_returns)
    # The registry resolves the default R̂_0 from the checkpoint's eval settings (100th percentile here).
    a3 = make_agent("mage", str(d), "maze2d-umaze-v1")
    assert a3.default_target == pytest.approx(np.percentile(ck.episode_returns, 100))
    assert resolve_target_return(ck.episode_returns, rtg_percentile=50) == pytest.approx(
        np.percentile(ck.episode_returns, 50)
    )


def test_sampling_modes_and_plan_shapes(trained):
    ck, _ = trained
    logits = torch.randn(4, 5, 32)
    greedy = sample_tokens(logits, SamplingConfig())
    assert torch.equal(greedy, logits.argmax(-1))
    assert torch.equal(sample_tokens(logits, SamplingConfig(greedy=False, top_k=1)), greedy)
    g = torch.Generator().manual_seed(0)
    s = sample_tokens(logits, SamplingConfig(greedy=False, temperature=2.0, top_k=3), g)
    top3 = logits.topk(3, -1).indices
    assert (s.unsqueeze(-1) == top3).any(-1).all()
    cond = torch.zeros(2, ck.tokenizer.cond_dim)
    with torch.inference_mode():
        f_hat, idx = plan(ck.policy.transformer, ck.tokenizer.quantizer, cond)
    assert f_hat.shape == (2, 8, 8) and [i.shape for i in idx] == [(2, 1), (2, 3), (2, 8)]
    # the plan's f_hat is exactly the tokenizer's reconstruction of the generated indices
    torch.testing.assert_close(f_hat, ck.tokenizer.quantizer.idx_to_fhat(idx))


@pytest.mark.parametrize(
    "sampling", [SamplingConfig(), SamplingConfig(greedy=False, temperature=1.5, top_k=5)]
)
def test_fast_backend_gives_the_reference_tokens_and_actions(trained, sampling):
    """The two named planner backends are one function: for the same seed, plan_fast picks plan()'s tokens
    (f_hat is their codebook vectors' sum, so equal f_hat = equal tokens) and MageAgent gives the same actions;
    sampled plans draw the same random numbers from the same generator. Greedy fast plans truncate the last
    scale (only f_hat[:, :, 0] is returned)."""
    ck, _ = trained
    ck.policy.eval(), ck.tokenizer.eval()
    tr, q = ck.policy.transformer, ck.tokenizer.quantizer
    cond = torch.randn(4, ck.tokenizer.cond_dim, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        f_ref, idx_ref = plan(tr, q, cond, sampling, torch.Generator().manual_seed(3))
        assert torch.cat(idx_ref, 1).unique().numel() > 1  # not a constant plan (the test could fail)
        g = torch.Generator().manual_seed(3)
        f_fast = plan_fast(tr, q, cond, sampling, g)
        torch.testing.assert_close(f_fast, q.idx_to_fhat(idx_ref), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(f_fast, f_ref, atol=1e-5, rtol=1e-5)
        z0 = plan_fast(tr, q, cond, sampling, torch.Generator().manual_seed(3), first_step_only=True)
        torch.testing.assert_close(z0, f_ref[:, :, 0], atol=1e-5, rtol=1e-5)
    obs = np.random.default_rng(0).normal(size=(5, 4)) + np.array([2.0, 2.0, 0.0, 0.0])
    acts = {}
    for backend in BACKENDS:
        agent = MageAgent(
            ck, "cpu", target_return=40.0, sampling=dataclasses.replace(sampling, backend=backend), seed=3
        )
        for B in (1, 5):
            agent.reset(B)
            acts[backend, B] = np.concatenate([agent.act(obs[:B]) for _ in range(3)])
    for B in (1, 5):
        np.testing.assert_allclose(acts["fast", B], acts["reference", B], atol=1e-5, rtol=1e-5)


def test_backend_is_chosen_explicitly(trained):
    """No hidden switching: 'fast' is the default, an unknown name fails, and 'fast' refuses train mode
    (dropout, autograd) instead of silently falling back to 'reference'."""
    ck, _ = trained
    assert SamplingConfig().backend == "fast" and set(BACKENDS) == {"fast", "reference"}
    with pytest.raises(ValueError, match="backend='cached'"):
        SamplingConfig(backend="cached")
    tok, pol = ck.tokenizer, ck.policy
    obs, rtg = torch.zeros(2, 4), torch.zeros(2)
    try:
        pol.train()
        with pytest.raises(RuntimeError, match="eval-only"):
            pol.act(tok.eval(), obs, rtg)
        assert pol.act(tok, obs, rtg, sampling=SamplingConfig(backend="reference")).shape == (2, 2)
    finally:
        pol.eval()


def test_decoded_action_source_ablation_runs(tiny_maze2d_path):
    cfg = make_config("cpu", {**TINY, "data.path": str(tiny_maze2d_path), "policy.action_source": "decoded"})
    data = prepare_data(cfg)
    tok = fit_tokenizer(cfg, data)
    pol = fit_policy(cfg, data, tok)
    agent_ckpt = Checkpoint(cfg, data.meta, data.normalizers, data.episode_returns, tok, pol, None)
    agent = MageAgent(agent_ckpt, "cpu", target_return=50.0)
    agent.reset(2)
    obs = np.random.default_rng(0).normal(size=(2, 4))
    a_fast = agent.act(obs)  # full f_hat from plan_fast, decoded: same as the reference backend
    ref = MageAgent(agent_ckpt, "cpu", target_return=50.0, sampling=SamplingConfig(backend="reference"))
    ref.reset(2)
    assert a_fast.shape == (2, 2)
    np.testing.assert_allclose(a_fast, ref.act(obs), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="scheme='A'"):  # refused before any work starts
        make_config("cpu", {**TINY, "tokenizer.scheme": "A", "policy.action_source": "decoded"})
    cfg_a = make_config("cpu", {**TINY, "tokenizer.scheme": "A"})
    with pytest.raises(ValueError, match="scheme='A'"):  # and by the model, for a config built by hand
        MagePolicy(
            cfg_a.transformer,
            dataclasses.replace(cfg_a.policy, action_source="decoded"),
            TrajectoryTokenizer(cfg_a.tokenizer, 4, 2, 16),
        )


def test_mage_plans_states_for_tracking_and_the_switch_changes_its_actions(trained):
    from mage.agent import StatePlanner
    from mage.eval.protocol import EvalProtocol, track_action
    from mage.eval.rollout import protocol_actions, run_episodes

    ck, _ = trained
    agent = MageAgent(ck, "cpu", target_return=50.0)
    assert isinstance(agent, StatePlanner)
    obs = np.array([[1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.5, -0.5]])
    agent.reset(2)
    s1 = agent.plan_next_state(obs)
    assert s1.shape == (2, 4) and np.isfinite(s1).all()
    goal = np.tile([[1.0, 1.0]], (2, 1))
    own = protocol_actions(agent, EvalProtocol(), obs, goal, -1.0, 1.0)
    np.testing.assert_array_equal(own, agent.act(obs))  # greedy: the same action again
    tracked = protocol_actions(agent, EvalProtocol(acting="track"), obs, goal, -1.0, 1.0)
    np.testing.assert_allclose(tracked, track_action(obs, agent.plan_next_state(obs)))
    assert not np.allclose(tracked, own)  # the switch changes what is executed
    run_episodes(
        agent, "maze2d-umaze-v1", episodes=1, num_envs=1, seed=0, protocol=EvalProtocol(acting="track")
    )


def test_goal_conditioned_mage_needs_and_uses_the_goal(tiny_maze2d_path):
    from mage.eval.protocol import EvalProtocol
    from mage.eval.rollout import run_episodes

    cfg = make_config("cpu", {**TINY, "data.path": str(tiny_maze2d_path), "transformer.use_goal": True})
    data = prepare_data(cfg)
    tok = fit_tokenizer(cfg, data)
    pol = fit_policy(cfg, data, tok)
    ck = Checkpoint(cfg, data.meta, data.normalizers, data.episode_returns, tok, pol, None)
    agent = MageAgent(ck, "cpu", target_return=50.0)
    with pytest.raises(ValueError, match="goal given"):  # track R: the goal is not passed
        run_episodes(agent, "maze2d-umaze-v1", episodes=1, num_envs=1, seed=0)
    run_episodes(agent, "maze2d-umaze-v1", episodes=1, num_envs=1, seed=0, protocol=EvalProtocol("given"))
    obs = np.tile([[2.0, 2.0, 0.0, 0.0]], (2, 1))
    agent.reset(2)
    a = agent.act(obs, np.array([[1.0, 1.0], [3.0, 3.0]]))
    assert not np.allclose(a[0], a[1])  # same state and R̂, other goal: another action


def test_an_evaluation_of_a_mage_checkpoint_is_tagged_with_its_k(trained):
    """A sweep's extra evaluations (``--also-hold``) are child runs that the K report groups by ``mage.K``."""
    from mage.tracking.evaluation import _model_tags

    ck, d = trained
    tags = _model_tags("mage", str(d))
    assert (
        tags["mage.K"] == str(ck.cfg.tokenizer.num_scales) and tags["mage.trained_on"] == ck.cfg.data.dataset
    )
    t = ck.cfg.train
    assert tags["mage.budget"] == (
        f"{t.tokenizer_epochs * t.steps_per_epoch}+{t.policy_epochs * t.steps_per_epoch} steps, batch {t.batch_size}"
    )
    assert _model_tags("bc", str(d)) == {}


def test_track_lookahead_moves_the_tracking_target(trained):
    ck, _ = trained
    obs = np.array([[1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.5, -0.5]])
    near, far = (MageAgent(ck, "cpu", target_return=50.0, track_lookahead=k) for k in (1, 8))
    for ag in (near, far):
        ag.reset(2)
    assert not np.allclose(near.plan_next_state(obs), far.plan_next_state(obs))
    too_far = MageAgent(ck, "cpu", target_return=50.0, track_lookahead=ck.cfg.data.horizon)
    too_far.reset(2)  # the agent still acts with its own action; only tracking needs k < H
    assert too_far.act(obs).shape == (2, 2)
    with pytest.raises(ValueError, match="track_lookahead"):
        too_far.plan_next_state(obs)


def test_training_probe_rolls_out_on_later_seeds_and_leaves_every_rng_as_it_was(trained):
    """The Ray workers' in-training probe (eval.probe_every): a few episodes on the env seeds after the final
    evaluation's, and the RNG streams training draws from afterwards are unchanged."""
    import random

    from mage.config_base import ConfigError
    from mage.distributed.worker import _probe_due, probe
    from mage.tracking.evaluation import evaluate_checkpoint

    ck, d = trained
    cfg = make_config(
        "cpu", {**TINY, "data.path": ck.cfg.data.path, "eval.episodes": 3, "eval.probe_episodes": 2}
    )

    def draw() -> tuple:
        return torch.rand(3).tolist(), float(np.random.rand()), random.random()

    for seed in (torch.manual_seed, np.random.seed, random.seed):
        seed(11)
    expected = draw()
    for seed in (torch.manual_seed, np.random.seed, random.seed):
        seed(11)
    m = probe(cfg, d)
    assert draw() == expected
    assert set(m) == {"probe/norm_score", "probe/success_rate", "probe/return_mean"}
    ev = evaluate_checkpoint(
        d, task=cfg.data.dataset, episodes=2, seed=3, num_envs=2, log=False, progress=False
    )
    assert m["probe/norm_score"] == pytest.approx(ev.metrics["eval/norm_score"])  # env seeds 3, 4
    every = make_config("cpu", {**TINY, "eval.probe_every": 2, "train.tokenizer_epochs": 3})
    due = [e for e in range(4, 10) if _probe_due(every, {"epoch": e, "pol/loss": 1.0})]
    assert due == [5, 7, 9] and not _probe_due(every, {"epoch": 5, "tok/loss": 1.0})
    with pytest.raises(ConfigError, match="eval.probe_every=2 cannot probe with eval.critic='cql'"):
        make_config("cpu", {"eval.probe_every": 2, "eval.critic": "cql", "eval.sampling": "sample"})


def test_a_checkpoint_is_evaluated_on_its_own_data_unless_a_transfer_is_asked_for(trained, tmp_path):
    """`mage evaluate --task` on another maze fails with one clear error before any rollout; its Multi2D
    variant (the same data) is fine; `--allow-other-data` runs it and tags the run ``mage.transfer``, which
    the main table keeps in a row of its own (tests/test_analysis.py)."""
    import json

    import mlflow

    from mage.tracking.evaluation import evaluate_checkpoint

    _, d = trained
    with pytest.raises(
        ValueError, match=r"'maze2d-medium-v1' is not a task of the data .* maze2d-umaze-v1 or"
    ):
        evaluate_checkpoint(d, task="maze2d-medium-v1", episodes=1, log=False, progress=False)
    kw = {"episodes": 1, "num_envs": 1, "progress": False, "tracking_uri": f"sqlite:///{tmp_path / 'm.db'}"}
    own = evaluate_checkpoint(d, task="maze2d-umaze-multi-v1", experiment="t", **kw)
    moved = evaluate_checkpoint(d, task="maze2d-medium-v1", experiment="t", allow_other_data=True, **kw)
    mlflow.set_tracking_uri(kw["tracking_uri"])
    assert "mage.transfer" not in mlflow.get_run(own.run_id).data.tags
    tags = mlflow.get_run(moved.run_id).data.tags
    assert tags["mage.transfer"] == "true" and tags["mage.trained_on"] == "maze2d-umaze-v1"
    assert set(moved.episodes["task"]) == {"maze2d-medium-v1"}  # it did roll out on the other maze
    assert "mage.agent_settings" not in tags  # the checkpoint's own agent settings
    kw["agent_kwargs"] = {"sampling": {"greedy": True, "temperature": 1.0, "top_k": 0, "scales": 2}}
    coarse = evaluate_checkpoint(d, task="maze2d-umaze-v1", experiment="t", **kw)
    settings = json.loads(mlflow.get_run(coarse.run_id).data.tags["mage.agent_settings"])
    assert settings["sampling"]["scales"] == 2


def test_validation_measures_the_greedy_plan_in_state_space_and_training_does_not(trained):
    from mage.loop import validate
    from mage.policy.fit import Stage2Model
    from mage.tokenizer.vqvae import masked_mse

    ck, _ = trained
    tok, pol = ck.tokenizer, ck.policy
    g = torch.Generator().manual_seed(0)
    B, H, S = 5, TINY["data.horizon"], ck.meta.obs_dim
    batch = {
        "obs_HS": torch.randn(B, H, S, generator=g),
        "act_HA": torch.rand(B, H, ck.meta.act_dim, generator=g) * 2 - 1,
        "rtg_H": torch.rand(B, H, generator=g),
        "mask_H": torch.ones(B, H),
    }
    batch["mask_H"][0, 10:] = 0  # an episode that ends inside the window
    model = Stage2Model(pol, tok).train()
    assert "plan_mse" not in model(batch)  # never on training steps: it costs K forward passes
    rng = torch.get_rng_state()
    metrics = validate(model, lambda m, b: m(b), [batch], torch.device("cpu"), 1, "pol")
    assert model.training and pol.training  # back in training mode after validation
    # the Gumbel terms draw from a fixed seed on a forked RNG: repeatable, and training's stream is untouched
    assert torch.equal(torch.get_rng_state(), rng)
    assert validate(model, lambda m, b: m(b), [batch], torch.device("cpu"), 1, "pol") == metrics
    # the fast planner (another code path) gives the same greedy plan
    model.eval()
    plan = pol.plan_states(tok, batch["obs_HS"][:, 0], batch["rtg_H"][:, 0])
    want = float(masked_mse(plan, batch["obs_HS"], batch["mask_H"]))
    assert metrics["pol/val_plan_mse"] == pytest.approx(want, rel=1e-5)
    near = float(masked_mse(plan[:, 1:9], batch["obs_HS"][:, 1:9], batch["mask_H"][:, 1:9]))
    assert metrics["pol/val_plan_mse_near"] == pytest.approx(near, rel=1e-5) and near != pytest.approx(want)
    still = ((batch["obs_HS"][:, :1] - batch["obs_HS"]) ** 2).mean(-1)
    assert metrics["pol/val_plan_mse_s0"] == pytest.approx(float(still[batch["mask_H"] > 0].mean()), rel=1e-5)
    # padding past an episode's end does not count
    padded = {**batch, "obs_HS": batch["obs_HS"].clone()}
    padded["obs_HS"][0, 10:] = 1e3
    assert float(model(padded)["plan_mse"]) == pytest.approx(want, rel=1e-5)
    model.train()


def test_mage_validate_remeasures_a_checkpoint_and_adds_only_what_its_run_lacks(trained, tmp_path, capsys):
    from mage.cli import main
    from mage.policy.validate import validate_checkpoint
    from mage.tracking.mlflow_logger import RunLogger

    ck, d = trained
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    run = RunLogger.start(experiment="e", tracking_uri=uri)
    run.log_metrics({"pol/val_ce": -1.0})  # the training's own value stays
    assert main(["validate", "--checkpoint", str(d), "--run-id", run.run_id, "--tracking-uri", uri]) == 0
    printed = dict(line.split(" ") for line in capsys.readouterr().out.splitlines()[:-1])
    again = validate_checkpoint(d)  # the same held-out windows, the same weights: the same numbers
    assert {k: float(v) for k, v in printed.items()} == pytest.approx(again, rel=1e-4)
    assert {"pol/val_plan_mse", "pol/val_plan_mse_s0", "tok/val_rec"} <= set(again)
    logged = run.client.get_run(run.run_id).data
    assert logged.metrics["pol/val_ce"] == -1.0
    assert (
        "tok/val_rec" not in logged.metrics
    )  # the tokenizer after stage 2 is not the run's stage-1 tokenizer
    assert logged.metrics["pol/val_plan_mse"] == pytest.approx(again["pol/val_plan_mse"], rel=1e-4)
    assert logged.tags["mage.revalidated"] == str(d)
    assert main(["validate", "--checkpoint", str(tmp_path)]) != 0
    assert "no config.json there; pass a checkpoint directory" in capsys.readouterr().err


def test_mage_validate_refuses_data_that_no_longer_rebuilds_the_checkpoints_split(trained, tmp_path):
    import json
    import shutil

    from mage.policy.validate import DataChangedError, validate_checkpoint

    _, d = trained
    other = shutil.copytree(d, tmp_path / "ck")
    meta = json.loads((other / "meta.json").read_text())
    meta["normalizers"]["rtg"]["div"] *= 2  # as if the file under data.path had been regenerated
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataChangedError, match="rtg normaliser .* differs from the checkpoint's"):
        validate_checkpoint(other)


def test_plan_scales_generates_only_the_coarse_scales_and_the_tracked_plan_changes(trained):
    """eval.plan_scales = k: the plan is the full plan's first k scales (greedy: coarser scales never see finer
    ones), on both backends and the first-step path; k > K is refused; the tracked next state changes."""
    ck, _ = trained
    ck.policy.eval(), ck.tokenizer.eval()
    tr, q = ck.policy.transformer, ck.tokenizer.quantizer
    cond = torch.randn(4, ck.tokenizer.cond_dim, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        _, idx_all = plan(tr, q, cond, SamplingConfig(backend="reference"))
        for k in (1, 2):
            f_k, idx_k = plan(tr, q, cond, SamplingConfig(backend="reference", scales=k))
            assert len(idx_k) == k and all(torch.equal(a, b) for a, b in zip(idx_k, idx_all))
            torch.testing.assert_close(f_k, q.idx_to_fhat(idx_all[:k]))
            torch.testing.assert_close(
                plan_fast(tr, q, cond, SamplingConfig(scales=k)), f_k, atol=1e-5, rtol=0
            )
            z0 = plan_fast(tr, q, cond, SamplingConfig(scales=k), first_step_only=True)
            torch.testing.assert_close(z0, f_k[:, :, 0], atol=1e-5, rtol=0)
        assert not torch.allclose(q.idx_to_fhat(idx_all[:1]), q.idx_to_fhat(idx_all))  # the test can fail
        with pytest.raises(ValueError, match=r"eval.plan_scales=4 but the model has K = 3 scales"):
            plan(tr, q, cond, SamplingConfig(backend="reference", scales=4))
    obs = np.array([[1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.5, -0.5]])
    cfg = dataclasses.replace(ck.cfg, eval=dataclasses.replace(ck.cfg.eval, plan_scales=1))
    coarse = MageAgent(dataclasses.replace(ck, cfg=cfg), "cpu", target_return=50.0)
    full = MageAgent(ck, "cpu", target_return=50.0)
    coarse.reset(2), full.reset(2)
    assert coarse.sampling.scales == 1 and full.sampling.scales == 0
    assert not np.allclose(coarse.plan_next_state(obs), full.plan_next_state(obs))


def test_mage_evaluate_set_plan_scales_reaches_the_agent():
    from mage.cli.evaluate import eval_agent_kwargs

    kw = eval_agent_kwargs(["eval.plan_scales=2"])
    assert kw == {"sampling": {"greedy": True, "temperature": 1.0, "top_k": 0, "scales": 2}}
    with pytest.raises(SystemExit, match="plan_scales"):
        eval_agent_kwargs(["eval.plan_scales=-1"])
