"""The "A + CQL" ablation row: MAGE (scheme A) proposes sampled actions, a d3rlpy CQL critic picks one.

Effects proved: the executed action is the candidate with the highest Q of d3rlpy's own ``predict_value``, it
is not simply the first candidate, the candidates come from independent sampled plans and keep their own RTG
bookkeeping, the registry wraps a checkpoint whose config names a critic (and refuses one without it), and
the config refuses greedy decoding (N identical candidates)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mage.config import ConfigError, make_config
from sweeps.ablations import ABLATIONS

pytestmark = pytest.mark.usefixtures("one_thread")

N = 8  # candidates
TINY = {
    "data.horizon": 16,
    "tokenizer.downsample": 2,
    "tokenizer.codebook_size": 32,
    "tokenizer.code_dim": 8,
    "tokenizer.hidden": 16,
    "tokenizer.num_scales": 3,
    "tokenizer.dead_code_restart": False,
    "transformer.depth": 2,
    "transformer.width": 32,
    "transformer.heads": 2,
    "train.batch_size": 8,
    "train.tokenizer_epochs": 1,
    "train.policy_epochs": 1,
    "train.steps_per_epoch": 2,
    "train.warmup_steps": 1,
    "train.val_batches": 1,
    "eval.critic_candidates": N,
    "eval.temperature": 2.0,  # an untrained model: spread the candidates
}


@pytest.fixture(scope="module")
def mage_and_critic(tiny_maze2d_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny scheme-A MAGE checkpoint directory with a tiny CQL in ``critic/`` (the sweep's layout)."""
    from mage.baselines.train import train_d3rlpy
    from mage.checkpoint import save_checkpoint
    from mage.data.prepare import load_episodes, prepare_data
    from mage.eval.critic import CRITIC_DIR
    from mage.policy.fit import fit_policy
    from mage.tokenizer.fit import fit_tokenizer

    cfg = make_config("cpu", {**TINY, **ABLATIONS["a_cql"], "data.path": str(tiny_maze2d_path)})
    data = prepare_data(cfg)
    tok = fit_tokenizer(cfg, data)
    pol = fit_policy(cfg, data, tok)
    out = tmp_path_factory.mktemp("a_cql") / "checkpoint"
    save_checkpoint(out, cfg, data.meta, data.normalizers, data.episode_returns, tok, pol)
    eps, task = load_episodes(cfg.data)
    crit = {"batch_size": 16, "steps_per_epoch": 10, "actor_hidden": [16, 16], "critic_hidden": [16, 16]}
    tmp = tmp_path_factory.mktemp("cql")
    train_d3rlpy("cql", crit, eps, steps=10, seed=0, out_dir=tmp / "run", dataset=task)
    shutil.copytree(tmp / "run", out / CRITIC_DIR)
    return out


def test_the_row_samples_and_greedy_candidates_are_refused():
    cfg = make_config("smoke", ABLATIONS["a_cql"])
    assert cfg.eval.critic == "cql" and cfg.eval.sampling == "sample" and cfg.tokenizer.scheme == "A"
    with pytest.raises(ConfigError, match="eval.sampling='greedy' makes all 16 candidates identical"):
        make_config("smoke", {**ABLATIONS["a_cql"], "eval.sampling": "greedy"})
    with pytest.raises(ConfigError, match="critic_candidates"):
        make_config("smoke", {**ABLATIONS["a_cql"], "eval.critic_candidates": 0})


@pytest.mark.slow  # trains MAGE and CQL (about 30 s)
def test_the_critic_picks_the_argmax_of_its_q_among_sampled_candidates(mage_and_critic: Path):
    from mage.eval.critic import CriticSelectAgent
    from mage.eval.registry import make_agent

    agent = make_agent("mage", str(mage_and_critic), "maze2d-umaze-v1", seed=5)
    assert isinstance(agent, CriticSelectAgent) and agent.n == N
    twin = make_agent("mage", str(mage_and_critic), "maze2d-umaze-v1", seed=5).inner  # same seed, no critic
    obs = np.array([[1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.5, -0.5], [2.0, 3.0, -0.2, 0.1]], dtype=np.float32)
    agent.reset(3, target_return=np.array([10.0, 20.0, 30.0]))
    twin.reset(3 * N, target_return=np.repeat([10.0, 20.0, 30.0], N))
    picked = agent.act(obs)
    cand = twin.act(np.repeat(obs, N, axis=0)).reshape(3, N, -1)  # the same sampled plans
    q = np.asarray(agent.critic.algo.predict_value(np.repeat(obs, N, axis=0), cand.reshape(3 * N, -1)))
    best = q.reshape(3, N).argmax(1)
    np.testing.assert_allclose(picked, cand[np.arange(3), best], atol=1e-6)
    np.testing.assert_allclose(agent.last_q_BN, q.reshape(3, N), rtol=1e-5, atol=1e-6)
    assert len({tuple(np.round(c, 5)) for c in cand[0]}) > 1  # sampled, not N copies of one plan
    assert (best != 0).any() and not np.allclose(picked, cand[:, 0])  # selection changed what is executed
    # every candidate keeps its own RTG: R̂_0 per env repeated N times, the env's reward given to its N rows
    before = agent.inner.rtg_B.clone().numpy()
    np.testing.assert_allclose(before, np.repeat([10.0, 20.0, 30.0], N))
    agent.observe(np.array([1.0, 0.0, 2.0]), np.zeros(3, dtype=bool))
    np.testing.assert_allclose(before - agent.inner.rtg_B.numpy(), np.repeat([1.0, 0.0, 2.0], N))


@pytest.mark.slow
def test_a_checkpoint_naming_a_critic_it_does_not_hold_is_refused(mage_and_critic: Path, tmp_path: Path):
    from mage.eval.registry import make_agent

    bare = tmp_path / "bare"
    shutil.copytree(mage_and_critic, bare, ignore=shutil.ignore_patterns("critic"))
    with pytest.raises(ValueError, match=r"eval.critic='cql', but .*critic holds no trained baseline"):
        make_agent("mage", str(bare), "maze2d-umaze-v1")
