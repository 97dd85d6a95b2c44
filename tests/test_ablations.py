"""Every ablation row (sweeps/ablations.py) acts as its name says: which parameters exist and get gradients,
which loss terms are exactly zero, and how the outputs differ from "ours" for the same weights. Plus the
quantiser's residuality (scale k quantises what the coarser scales left). Tiny models, synthetic batches."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mage.config import TransformerConfig, make_config
from mage.policy.fit import freeze_for_stage2
from mage.policy.model import MagePolicy, stage2_trains_adapters
from mage.policy.planner import SamplingConfig, plan
from mage.tokenizer.fit import tokenizer_losses
from mage.tokenizer.quantizer import MultiScaleResidualVQ
from mage.tokenizer.vqvae import TrajectoryTokenizer, make_cond, masked_mse
from mage.transformer.model import NextScaleTransformer
from sweeps.ablations import ABLATIONS, EXTRA_ROWS, PAPER_ROWS

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

S, A, H = 4, 2, 16  # obs dim, act dim, window
# The rows are applied on top of these sizes; K stays the paper's 8 (h = 8: schedule 1, 2, ..., 8).
TINY = {
    "data.horizon": H,
    "tokenizer.downsample": 2,
    "tokenizer.codebook_size": 32,
    "tokenizer.code_dim": 8,
    "tokenizer.hidden": 16,
    "tokenizer.dead_code_restart": False,
    "transformer.depth": 2,
    "transformer.width": 32,
    "transformer.heads": 2,
    "policy.inv_hidden": 32,
    "train.device": "cpu",
}
REF = SamplingConfig(backend="reference")


def row_cfg(name: str):
    return make_config("cpu", {**TINY, **ABLATIONS[name]})


def synthetic_batch(B: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(H, dtype=torch.float32)
    phase = torch.rand(B, 1, generator=g) * 6
    obs = torch.stack(
        [torch.sin(t / 4 + phase), torch.cos(t / 4 + phase), t / H + 0 * phase, phase / 6 + 0 * t], -1
    )
    act = torch.tanh(torch.randn(B, H, A, generator=g))
    rtg = torch.rand(B, 1, generator=g) * (1 - t / (2 * H))
    return {"obs_HS": obs, "act_HA": act, "rtg_H": rtg, "mask_H": torch.ones(B, H)}


def build(name: str, seed: int = 0, stage1_steps: int = 3):
    """(cfg, tokenizer, policy) for a row; the tokenizer gets a few stage-1 steps (so D' is no longer the
    zero-initialised identity), the policy is fresh."""
    cfg = row_cfg(name)
    torch.manual_seed(seed)
    tok = TrajectoryTokenizer(cfg.tokenizer, S, A, H)
    batch = synthetic_batch()
    opt = torch.optim.Adam(tok.parameters(), lr=1e-2)
    for _ in range(stage1_steps):
        out = tokenizer_losses(tok, batch, cfg.tokenizer.lambda_cond)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    tok.eval()
    pol = MagePolicy(cfg.transformer, cfg.policy, tok, 0)
    return cfg, tok, pol


def stage2(cfg, tok, pol, steps: int = 3) -> dict[str, torch.Tensor]:
    """A few stage-2 steps with the trainable set of ``fit_policy``; then one more backward, grads kept."""
    tok.zero_grad(set_to_none=True)  # stage 1's
    freeze_for_stage2(tok, stage2_trains_adapters(tok, cfg.policy))  # fit_policy's rule
    params = [p for p in [*pol.parameters(), *tok.parameters()] if p.requires_grad]
    opt = torch.optim.Adam(params, lr=3e-3)
    batch = synthetic_batch(seed=1)
    for i in range(steps + 1):
        torch.manual_seed(i)  # Gumbel noise
        opt.zero_grad()
        out = pol.losses(tok, batch)
        out["loss"].backward()
        if i < steps:
            opt.step()
    return out


def nonzero_grad(params) -> bool:
    params = list(params)
    return (
        bool(params)
        and all(p.grad is not None for p in params)
        and any(p.grad.abs().sum() > 0 for p in params)
    )


# ----------------------------------------------------------------------------------------------------------
# The table itself


EXPECTED_CHANGES = {
    "ours": set(),
    "k1": {"tokenizer.num_scales"},
    "scheme_rsa": {"tokenizer.scheme", "policy.action_source"},
    "scheme_s": {"tokenizer.scheme"},
    "scheme_a": {"tokenizer.scheme", "policy.action_source"},
    "no_cond_decoder": {"tokenizer.cond_decoder"},
    "no_rtg_later_scales": {"transformer.rtg_scales"},
    "no_l_cond": {"tokenizer.lambda_cond", "policy.lambda_cond"},
    "a_cql": {"tokenizer.scheme", "policy.action_source", "eval.critic", "eval.sampling"},
    "decoded_actions": {"policy.action_source"},
    "no_adaln_condition": {"transformer.cond_every_scale"},
}


def test_rows_change_only_what_their_name_says():
    assert set(ABLATIONS) == set(EXPECTED_CHANGES) and set(PAPER_ROWS) | set(EXTRA_ROWS) == set(ABLATIONS)
    ours = row_cfg("ours").flatten()
    for name, keys in EXPECTED_CHANGES.items():
        cfg = row_cfg(name).flatten()
        assert {k for k in cfg if cfg[k] != ours[k]} == keys, name
    # Only "w/o L_cond" touches lambda_cond: "A only" and "w/o D'" do not carry a second ablation in them.
    assert [n for n, o in ABLATIONS.items() if any("lambda_cond" in k for k in o)] == ["no_l_cond"]
    assert row_cfg("ours").tokenizer.num_scales == 8 and row_cfg("k1").tokenizer.num_scales == 1


# Per row: whether stage-1 and stage-2 L_cond exist (> 0) or are exactly 0.
LOSS_TABLE = {
    #                      stage-1 cond, stage-2 cond
    "ours": (True, True),
    "k1": (True, True),
    "scheme_rsa": (True, True),
    "scheme_s": (True, True),
    "scheme_a": (False, False),  # no R or s channel: L_cond is undefined for scheme A
    "no_cond_decoder": (False, False),  # L_cond is defined on D'
    "no_rtg_later_scales": (True, True),
    "no_l_cond": (True, False),  # stage 1 still measures it, with weight 0 (checked below)
    "a_cql": (False, False),  # scheme A's model; the critic acts only at evaluation
    "decoded_actions": (True, True),
    "no_adaln_condition": (True, True),
}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_row_loss_terms_and_gradients(name):
    cfg, tok, pol = build(name)
    cond1, cond2 = LOSS_TABLE[name]
    tok.train()
    s1 = tokenizer_losses(tok, synthetic_batch(), cfg.tokenizer.lambda_cond)
    tok.eval()
    assert s1["rec"] > 0 and s1["vq"] > 0
    assert (s1["cond"] > 0) if cond1 else (s1["cond"] == 0)
    # the stage-1 objective is exactly rec + vq + lambda * cond: "w/o L_cond" adds nothing of it
    torch.testing.assert_close(s1["loss"], s1["rec"] + s1["vq"] + cfg.tokenizer.lambda_cond * s1["cond"])
    if name == "no_l_cond":
        assert s1["loss"] == s1["rec"] + s1["vq"]

    s2 = stage2(cfg, tok, pol)
    assert s2["ce"] > 0 and s2["inv"] > 0
    assert (s2["cond"] > 0) if cond2 else (s2["cond"] == 0)
    pc = cfg.policy
    torch.testing.assert_close(
        s2["loss"],
        s2["ce"]
        + pc.lambda_inv * s2["inv"]
        + pc.lambda_cond * s2["cond"]
        + (pc.lambda_rec * s2["rec"] if stage2_trains_adapters(tok, pc) else 0.0),
    )
    assert s2["rec"] > 0  # D''s reconstruction of the true codes, measured in every row

    # who learns in stage 2
    tr = pol.transformer
    assert nonzero_grad(tr.cond_emb.parameters()) and nonzero_grad(tr.head.parameters())
    assert nonzero_grad(p for blk in tr.blocks for p in blk.parameters())
    for p in [*tok.encoder.parameters(), *tok.quantizer.parameters(), tok.decoder.conv_in.weight]:
        assert not p.requires_grad and p.grad is None  # frozen backbone, every row
    adapters = tok.adapter_parameters()
    if name == "no_cond_decoder":
        assert adapters == [] and tok.cond_mlp is None
        assert not [n for n, _ in tok.named_parameters() if "adapter" in n or "cond_mlp" in n]
    elif name == "no_l_cond":
        assert adapters and all(
            not p.requires_grad and p.grad is None for p in adapters
        )  # D' kept, not trained
    else:
        # trained by L_cond, and for scheme A (no L_cond) by the generated-action readout's L_inv
        assert nonzero_grad(adapters)
    if cfg.policy.action_source == "generated":
        assert pol.inv is None and not [n for n, _ in pol.named_parameters() if n.startswith("inv.")]
    else:
        assert nonzero_grad(pol.inv.parameters())
    assert (tr.rtg_null is not None) == (name == "no_rtg_later_scales")
    if tr.rtg_null is not None:
        assert nonzero_grad([tr.rtg_null])
    assert (tr.uncond_1D is not None) == (name == "no_adaln_condition")


# ----------------------------------------------------------------------------------------------------------
# K = 1


def test_k1_is_a_single_full_resolution_scale():
    _, tok8, pol8 = build("ours", stage1_steps=0)
    _, tok1, pol1 = build("k1", stage1_steps=0)
    assert tok8.schedule == (1, 2, 3, 4, 5, 6, 7, 8) and pol8.transformer.L == 36
    assert tok1.schedule == (8,) and pol1.transformer.L == 8
    q = tok1.quantizer
    f = tok1.encoder(tok1.make_window(*(synthetic_batch()[k] for k in ("obs_HS", "act_HA", "rtg_H"))))
    idx = q.f_to_idx(f)
    assert len(idx) == 1 and q.teacher_forcing_inputs(idx).shape[1] == 0  # nothing coarser to condition on
    # one nearest-code lookup per latent step: no coarse-to-fine residual
    torch.testing.assert_close(idx[0], q.lookup(f.detach().transpose(1, 2)))
    torch.testing.assert_close(q.idx_to_fhat(idx), q.phi(0, q.codebook(idx[0]).transpose(1, 2)))
    with torch.inference_mode():
        _, plan_idx = plan(pol1.transformer, q, torch.zeros(2, tok1.cond_dim))
    assert [i.shape for i in plan_idx] == [(2, 8)]  # all 8 tokens from the start tokens, in one call


# ----------------------------------------------------------------------------------------------------------
# Generation schemes and the generated-action readout


def test_scheme_channels_and_what_l_cond_compares():
    batch = synthetic_batch()
    obs, act, rtg = batch["obs_HS"], batch["act_HA"], batch["rtg_H"]
    cond = make_cond(obs[:, 0], rtg[:, 0])
    rec = torch.randn(6, H, 1 + S + A)
    expect = {
        "ours": (torch.cat([rtg.unsqueeze(-1), obs], -1), F.mse_loss(rec[:, 0, : 1 + S], cond)),
        "scheme_rsa": (torch.cat([rtg.unsqueeze(-1), obs, act], -1), F.mse_loss(rec[:, 0, : 1 + S], cond)),
        "scheme_s": (obs, F.mse_loss(rec[:, 0, :S], cond[:, 1:])),
        "scheme_a": (act, torch.zeros(())),
    }
    for name, (window, l_cond) in expect.items():
        _, tok, _ = build(name, stage1_steps=0)
        torch.testing.assert_close(tok.make_window(obs, act, rtg), window)
        ci = window.shape[-1]
        torch.testing.assert_close(tok.cond_loss(rec[..., :ci], cond), l_cond)
        assert tok.has_cond_loss == (name != "scheme_a")
    _, tok_rsa, _ = build("scheme_rsa", stage1_steps=0)
    _, tok_a, _ = build("scheme_a", stage1_steps=0)
    assert tok_rsa.act_slice() == slice(1 + S, 1 + S + A) and tok_a.act_slice() == slice(0, A)
    _, tok_rs, _ = build("ours", stage1_steps=0)
    with pytest.raises(ValueError, match="generates no actions"):
        tok_rs.act_slice()
    with pytest.raises(ValueError, match="scheme RSA or A"):  # RS has no action channel: refused up front
        make_config("cpu", {**TINY, "policy.action_source": "generated"})
    cfg = make_config("cpu", TINY)
    with pytest.raises(ValueError, match="scheme RSA or A"):  # and by the model, for a config built by hand
        MagePolicy(cfg.transformer, replace(cfg.policy, action_source="generated"), tok_rs)


@pytest.mark.parametrize("name", ["scheme_rsa", "scheme_a"])
def test_generated_readout_returns_the_decoded_action_channel(name):
    cfg, tok, pol = build(name)
    stage2(cfg, tok, pol, steps=2)
    tok.eval(), pol.eval()
    g = torch.Generator().manual_seed(0)
    obs, rtg = torch.randn(5, S, generator=g), torch.rand(5, generator=g)
    with torch.inference_mode():
        f_hat, idx = plan(pol.transformer, tok.quantizer, pol.condition(obs, rtg, None))
        assert torch.cat(idx, 1).unique().numel() > 1  # a real plan, not a constant
        rec = tok.decode(f_hat, make_cond(obs, rtg))
        expect = rec[:, 0, tok.act_slice()]
        a_ref = pol.act(tok, obs, rtg, sampling=REF)
        a_fast = pol.act(tok, obs, rtg)  # full f_hat from plan_fast, then the same readout
    torch.testing.assert_close(a_ref, expect)
    torch.testing.assert_close(a_fast, expect, atol=1e-5, rtol=1e-5)
    # the same transformer and tokenizer with the latent head: another readout, other actions
    latent = MagePolicy(cfg.transformer, dataclasses.replace(cfg.policy, action_source="latent"), tok)
    missing = latent.load_state_dict(pol.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("inv.") for k in missing)
    with torch.inference_mode():
        assert not torch.allclose(latent.eval().act(tok, obs, rtg, sampling=REF), a_ref)


def test_agent_executes_the_generated_action_unnormalised(tiny_maze2d_path):
    from mage.data.prepare import prepare_data
    from mage.policy.checkpoint import Checkpoint
    from mage.policy.fit import fit_policy
    from mage.policy.mage_agent import MageAgent
    from mage.tokenizer.fit import fit_tokenizer

    small = {"train.batch_size": 8, "train.tokenizer_epochs": 1, "train.policy_epochs": 1}
    small |= {"train.steps_per_epoch": 2, "train.warmup_steps": 1, "train.val_batches": 1}
    cfg = make_config(
        "cpu",
        {
            **TINY,
            **small,
            **ABLATIONS["scheme_a"],
            "tokenizer.num_scales": 3,
            "data.path": str(tiny_maze2d_path),
        },
    )
    data = prepare_data(cfg)
    tok = fit_tokenizer(cfg, data)
    pol = fit_policy(cfg, data, tok)
    agent = MageAgent(
        Checkpoint(cfg, data.meta, data.normalizers, data.episode_returns, tok, pol, None),
        "cpu",
        target_return=40.0,
    )
    obs = np.array([[1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.5, -0.5]])
    agent.reset(2)
    a = agent.act(obs)
    o, r = agent._inputs(obs, None)[:2]
    with torch.inference_mode():
        f_hat, _ = plan(pol.transformer, tok.quantizer, pol.condition(o, r, None))
        a_n = tok.decode(f_hat, make_cond(o, r))[:, 0, tok.act_slice()]
        expect = torch.minimum(torch.maximum(agent._act.unnorm(a_n), agent.act_low), agent.act_high)
    np.testing.assert_allclose(a, expect.numpy(), atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------------------
# w/o D'


def test_no_cond_decoder_decodes_without_the_condition():
    _, tok, _ = build("no_cond_decoder")
    _, tok_d, _ = build("ours")
    f_hat = torch.randn(3, 8, 8)
    c1, c2 = torch.randn(3, 1 + S), torch.randn(3, 1 + S)
    torch.testing.assert_close(tok.decode(f_hat, c1), tok.decode(f_hat, c2))
    assert not torch.allclose(tok_d.decode(f_hat, c1), tok_d.decode(f_hat, c2))  # D' reads c


# ----------------------------------------------------------------------------------------------------------
# w/o L_cond: the same model, only the objective differs


def test_no_l_cond_keeps_the_model_and_drops_only_the_term():
    torch.manual_seed(0)
    cfg_o, cfg_n = row_cfg("ours"), row_cfg("no_l_cond")
    tok_o = TrajectoryTokenizer(cfg_o.tokenizer, S, A, H)
    tok_n = TrajectoryTokenizer(cfg_n.tokenizer, S, A, H)
    tok_n.load_state_dict(tok_o.state_dict())  # same architecture, strict
    pol_o, pol_n = (
        MagePolicy(cfg_o.transformer, cfg_o.policy, tok_o),
        MagePolicy(cfg_n.transformer, cfg_n.policy, tok_n),
    )
    pol_n.load_state_dict(pol_o.state_dict())
    batch = synthetic_batch()
    torch.manual_seed(5)
    lo = pol_o.losses(tok_o, batch)
    torch.manual_seed(5)
    ln = pol_n.losses(tok_n, batch)
    for k in ("ce", "inv", "acc"):
        torch.testing.assert_close(lo[k], ln[k])
    assert lo["cond"] > 0 and ln["cond"] == 0
    torch.testing.assert_close(ln["loss"], ln["ce"] + cfg_n.policy.lambda_inv * ln["inv"])


# ----------------------------------------------------------------------------------------------------------
# w/o RTG in m_{k>1}: per-token masking of R in the AdaLN condition

SCHED = (1, 2, 3, 5)


def _pair(zero_attention: bool = False) -> tuple[NextScaleTransformer, NextScaleTransformer]:
    """ours and the masked model with the same (randomised) weights; the masked one has rtg_null too."""
    torch.manual_seed(0)
    ours = NextScaleTransformer(TransformerConfig(depth=2, width=32, heads=2), SCHED, 8, 16, 1 + S)
    for p in ours.parameters():  # adaLN-Zero starts as identity; randomise so the test can fail
        torch.nn.init.normal_(p, std=0.2)
    masked = NextScaleTransformer(
        TransformerConfig(depth=2, width=32, heads=2, rtg_scales="first"), SCHED, 8, 16, 1 + S
    )
    assert masked.load_state_dict(ours.state_dict(), strict=False).missing_keys == ["rtg_null"]
    if zero_attention:  # then a token's output depends on its own input and its own AdaLN only
        for m in (ours, masked):
            for blk in m.blocks:
                torch.nn.init.zeros_(blk.attn.proj.weight), torch.nn.init.zeros_(blk.attn.proj.bias)
    return ours.eval(), masked.eval()


def _inputs(B: int = 3):
    g = torch.Generator().manual_seed(1)
    c = torch.randn(B, 1 + S, generator=g)
    c_r = c.clone()
    c_r[:, 0] += 1.0  # other R, same s
    c_s = c.clone()
    c_s[:, 1:] += 1.0  # same R, other s
    return c, c_r, c_s, torch.randn(B, sum(SCHED) - SCHED[0], 8, generator=g)


def test_rtg_masking_keeps_scale_one_and_changes_later_scales_for_the_same_weights():
    ours, masked = _pair()
    c, _, _, x = _inputs()
    lo, lm = ours(c, x), masked(c, x)
    l1 = SCHED[0]
    torch.testing.assert_close(lm[:, :l1], lo[:, :l1])  # scale 1 (start tokens) sees (s0, R0) in both
    assert (lm[:, l1:] - lo[:, l1:]).abs().amax(-1).min() > 1e-4  # every later token differs
    # with R equal to the null value the two models are the same function
    c_null = c.clone()
    c_null[:, 0] = masked.rtg_null.detach()
    torch.testing.assert_close(masked(c_null, x), ours(c_null, x))


def test_rtg_masking_is_per_token():
    """With attention switched off each token sees only its own AdaLN condition: in the masked model R moves
    the scale-1 logits and no later token's, s moves all of them; in ours R moves every token."""
    ours, masked = _pair(zero_attention=True)
    c, c_r, c_s, x = _inputs()
    l1 = SCHED[0]
    base, r, s = masked(c, x), masked(c_r, x), masked(c_s, x)
    assert (r[:, :l1] - base[:, :l1]).abs().amax() > 1e-3
    torch.testing.assert_close(r[:, l1:], base[:, l1:], rtol=0, atol=0)  # bit-identical: R never reaches them
    assert (s[:, l1:] - base[:, l1:]).abs().amax(-1).min() > 1e-4  # s still reaches every later token
    assert (ours(c_r, x)[:, l1:] - ours(c, x)[:, l1:]).abs().amax(-1).min() > 1e-4
    # the same at the modulation level, generation path: scale-1 AdaLN depends on R, the later one does not
    st, st_r = masked.start(c), masked.start(c_r)
    assert all(not torch.allclose(a, b) for m1, m2 in zip(st.mods, st_r.mods) for a, b in zip(m1, m2))
    for m1, m2 in zip([*st.mods_later, st.head_mod_later], [*st_r.mods_later, st_r.head_mod_later]):
        for a, b in zip(m1, m2):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def _cached(m, c, x, fast: bool):
    st = m.fast_start(c) if fast else m.start(c)
    outs, n = [], 0
    for k, lk in enumerate(SCHED):
        xk = None if k == 0 else x[:, n : n + lk]
        outs.append(m.fast_step(st, xk) if fast else m.step(st, xk))
        n += 0 if k == 0 else lk
    return torch.cat(outs, 1)


@pytest.mark.parametrize("B", [1, 3])
def test_rtg_masking_generation_paths_equal_the_teacher_forced_pass(B):
    _, masked = _pair()
    c, _, _, x = _inputs(B)
    full = masked(c, x)
    with torch.inference_mode():
        torch.testing.assert_close(_cached(masked, c, x, fast=False), full, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(_cached(masked, c, x, fast=True), full, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(_cached(masked, c, x, fast=True), full, atol=1e-5, rtol=1e-5)  # reused


def test_rtg_masked_policy_acts_the_same_with_both_planner_backends():
    cfg, tok, pol = build("no_rtg_later_scales")
    stage2(cfg, tok, pol, steps=2)
    tok.eval(), pol.eval()
    g = torch.Generator().manual_seed(0)
    obs, rtg = torch.randn(4, S, generator=g), torch.rand(4, generator=g)
    with torch.inference_mode():  # latent head: the fast path decodes only what reaches f_hat[:, :, 0]
        torch.testing.assert_close(
            pol.act(tok, obs, rtg), pol.act(tok, obs, rtg, sampling=REF), atol=1e-5, rtol=1e-5
        )


def test_rtg_scales_needs_an_adaln_condition():
    from mage.config import ConfigError

    with pytest.raises(ConfigError, match="rtg_scales='first'"):
        make_config("cpu", {"transformer.rtg_scales": "first", "transformer.cond_every_scale": False})
    with pytest.raises(ConfigError, match="rtg_scales"):
        make_config("cpu", {"transformer.rtg_scales": "later"})
    # configs of old checkpoints (no rtg_scales key) load as today's behaviour
    d = make_config("cpu").to_dict()
    del d["transformer"]["rtg_scales"]
    assert type(make_config("cpu")).from_dict(d).transformer.rtg_scales == "all"


def test_no_adaln_condition_removes_the_condition_from_every_block():
    """The old switch, kept as its own (non-paper) row: neither R nor s reaches the blocks' AdaLN."""
    torch.manual_seed(0)
    m = NextScaleTransformer(
        TransformerConfig(depth=2, width=32, heads=2, cond_every_scale=False), SCHED, 8, 16, 5
    )
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.2)
    c, c_r, c_s, _ = _inputs()
    for other in (c_r, c_s):
        st, st2 = m.start(c), m.start(other)
        for m1, m2 in zip([*st.mods, st.head_mod], [*st2.mods, st2.head_mod]):
            for a, b in zip(m1, m2):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert not torch.allclose(st.sos_BlD, st2.sos_BlD)  # only the start tokens' content sees c


# ----------------------------------------------------------------------------------------------------------
# The quantiser is residual


def _grid_vq(sched=(1, 2, 4, 8, 16, 32), quant_resi=0.0) -> MultiScaleResidualVQ:
    """A synthetic 2-D codebook: a fine grid over [-1.5, 1.5]^2 that contains 0."""
    g = torch.linspace(-1.5, 1.5, 31)
    grid = torch.cartesian_prod(g, g)
    q = MultiScaleResidualVQ(grid.shape[0], 2, sched, quant_resi=quant_resi)
    q.codebook.weight.data.copy_(grid)
    return q


def _smooth_f(B=4, C=2, h=32) -> torch.Tensor:
    torch.manual_seed(0)
    f = torch.cumsum(torch.randn(B, C, h) * 0.3, -1)
    return f - f.mean(-1, keepdim=True)


def _area(x_BCh: torch.Tensor, length: int) -> torch.Tensor:
    """Area downsampling to ``length`` steps, as (B, l, C) (the quantiser's lookup layout)."""
    return F.interpolate(x_BCh, size=length, mode="area").transpose(1, 2)


def test_scale_k_quantises_what_the_coarser_scales_left(monkeypatch):
    q = _grid_vq(quant_resi=0.5)
    for phi in q.phis:  # random phi, so "f minus the sum of the upsampled codes" is not the identity case
        torch.nn.init.normal_(phi.weight, std=0.3)
        torch.nn.init.normal_(phi.bias, std=0.1)
    f = _smooth_f()
    seen: list[torch.Tensor] = []
    lookup = q.lookup
    monkeypatch.setattr(q, "lookup", lambda x_BlC: (seen.append(x_BlC.clone()), lookup(x_BlC))[1])
    _, idx_list, _ = q._quantise(f)  # records each scale's lookup input
    assert len(seen) == q.num_scales
    done = torch.zeros_like(f)
    for k, lk in enumerate(q.schedule):
        residual = f - done  # f minus the sum of phi_j(up(z_j)) over the coarser scales j < k
        torch.testing.assert_close(seen[k], _area(residual, lk))
        done = done + q.upsample_code(k, q.codebook(idx_list[k]))


def _errors(q: MultiScaleResidualVQ, f: torch.Tensor, idx_list) -> list[float]:
    """mse(f, f_hat_<=k) for k = 0 (f_hat = 0) .. K."""
    f_hat, errs = torch.zeros_like(f), [float(F.mse_loss(torch.zeros_like(f), f))]
    for k, idx in enumerate(idx_list):
        f_hat = f_hat + q.upsample_code(k, q.codebook(idx))
        errs.append(float(F.mse_loss(f_hat, f)))
    return errs


def test_reconstruction_error_does_not_grow_with_k_and_a_non_residual_quantiser_fails_the_check():
    q, f = _grid_vq(), _smooth_f()
    with torch.no_grad():
        errs = _errors(q, f, q.f_to_idx(f))
        assert all(b <= a + 1e-7 for a, b in zip(errs, errs[1:])), errs
        assert errs[-1] < 0.01 * errs[0]
        # the bug this guards against: every scale quantising f itself instead of the residual
        flat = [q.lookup(_area(f, lk)) for lk in q.schedule]
        bad = _errors(q, f, flat)
        assert not all(b <= a + 1e-7 for a, b in zip(bad, bad[1:])) and bad[-1] > errs[0]


# ----------------------------------------------------------------------------------------------------------
# D' in stage 2: L_cond alone reads only the decoded first step; the reconstruction anchor keeps D' a decoder


def test_stage2_reconstruction_anchor_is_stage1_rec_and_reaches_only_the_adapters():
    cfg, tok, pol = build("ours")
    freeze_for_stage2(tok, True)
    batch = synthetic_batch(seed=1)
    out = pol.losses(tok, batch)
    x = tok.make_window(batch["obs_HS"], batch["act_HA"], batch["rtg_H"])
    with torch.no_grad():
        want = masked_mse(
            tok(x, make_cond(batch["obs_HS"][:, 0], batch["rtg_H"][:, 0])).rec_BHCi, x, batch["mask_H"]
        )
    torch.testing.assert_close(out["rec"], want)  # stage 1's L_rec, on the ground-truth codes
    out["rec"].backward()
    assert nonzero_grad(tok.adapter_parameters())
    assert all(p.grad is None for p in pol.parameters())  # f_gt carries no gradient into the transformer
    tok.zero_grad(set_to_none=True)
    freeze_for_stage2(tok, False)  # "w/o L_cond" and "w/o D'": nothing of D' trains, rec is only measured
    assert pol.losses(tok, batch)["rec"].grad_fn is None


def _decoder_error_after_stage2(lambda_rec: float) -> tuple[float, float]:
    """(masked reconstruction error of D' before, after) 60 stage-2 steps that train only D''s adapters."""
    cfg, tok, pol = build("ours", stage1_steps=60)
    pc = replace(cfg.policy, lambda_rec=lambda_rec, lambda_inv=0.0)  # lambda_cond: the default 0.1
    pol = MagePolicy(cfg.transformer, pc, tok, 0)
    freeze_for_stage2(tok, True)
    batch = synthetic_batch(seed=1)
    x = tok.make_window(batch["obs_HS"], batch["act_HA"], batch["rtg_H"])
    c = make_cond(batch["obs_HS"][:, 0], batch["rtg_H"][:, 0])

    def err() -> float:
        with torch.no_grad():
            return float(masked_mse(tok(x, c).rec_BHCi, x, batch["mask_H"]))

    before = err()
    opt = torch.optim.Adam(tok.adapter_parameters(), lr=1e-2)
    for i in range(60):
        torch.manual_seed(i)
        out = pol.losses(tok, batch)
        opt.zero_grad()
        (pc.lambda_cond * out["cond"] + pc.lambda_rec * out["rec"]).backward()
        opt.step()
    return before, err()


def test_stage2_without_the_anchor_wrecks_the_decoder_and_with_it_does_not():
    before, after_off = _decoder_error_after_stage2(0.0)
    _, after_on = _decoder_error_after_stage2(1.0)
    assert after_off > 2 * before  # L_cond alone: the adapters fit step 0, the window's error grows
    assert after_on <= 1.1 * before  # the anchor keeps it
