import pytest
import torch

from mage.config import TokenizerConfig
from mage.schedule import ScheduleError, scale_schedule
from mage.tokenizer.quantizer import MultiScaleResidualVQ
from mage.tokenizer.vqvae import TrajectoryTokenizer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _vq(sched=(1, 2, 4, 8), V=16, C=6, num_phi=4):
    torch.manual_seed(0)
    q = MultiScaleResidualVQ(V, C, sched, num_phi=num_phi)
    torch.nn.init.normal_(q.codebook.weight)
    return q


def test_schedules():
    assert scale_schedule(128, 8) == (1, 2, 4, 8, 16, 32, 64, 128)
    assert scale_schedule(128, 8, downsample=4) == (1, 2, 3, 4, 7, 12, 20, 32)
    assert scale_schedule(32, 1, downsample=4) == (8,)
    for H, K, ds in [(128, 8, 4), (120, 5, 8), (64, 6, 2)]:
        s = scale_schedule(H, K, ds)
        assert len(s) == K and s[-1] == H // ds and all(b > a for a, b in zip(s, s[1:]))


@pytest.mark.parametrize(
    "args, match",
    [
        ((30, 4, 4, None), "data.horizon=30 is not divisible"),
        ((32, 9, 4, None), "num_scales=9 needs at least 9"),
        ((32, 3, 4, (1, 2, 4)), "must end at"),
        ((32, 3, 4, (1, 4, 4)), "strictly increasing"),
    ],
)
def test_schedule_errors(args, match):
    with pytest.raises(ScheduleError, match=match):
        scale_schedule(*args)


def test_fhat_is_sum_of_phi_upsampled_codes_and_shapes():
    q = _vq()
    f = torch.randn(3, 6, 8)
    f_hat, idx_list, vq = q._quantise(f)
    assert [i.shape for i in idx_list] == [(3, 1), (3, 2), (3, 4), (3, 8)]
    assert all(i.max() < 16 for i in idx_list)
    manual = sum(
        q.phis[q.phi_of_scale[k]](
            torch.nn.functional.interpolate(q.codebook(i).transpose(1, 2), size=8, mode="linear")
            if i.shape[1] != 8
            else q.codebook(i).transpose(1, 2)
        )
        for k, i in enumerate(idx_list)
    )
    torch.testing.assert_close(f_hat, manual)
    torch.testing.assert_close(q.idx_to_fhat(idx_list), f_hat)
    assert vq.ndim == 0 and vq > 0


def test_indices_reproduce_encoder_path_and_inference_inputs():
    q = _vq()
    f = torch.randn(2, 6, 8)
    idx_list = q.f_to_idx(f)
    f_hat_fwd, idx_fwd, _ = q(f)  # STE output equals f_hat in value
    assert all(torch.equal(a, b) for a, b in zip(idx_list, idx_fwd))
    torch.testing.assert_close(f_hat_fwd, q.idx_to_fhat(idx_list))
    # teacher forcing inputs == what next_scale_input produces scale by scale
    x_BLC = q.teacher_forcing_inputs(idx_list)
    assert x_BLC.shape == (2, 2 + 4 + 8, 6)
    f_hat, xs = None, []
    for k, idx in enumerate(idx_list):
        f_hat, x = q.next_scale_input(k, f_hat, q.codebook(idx))
        if x is not None:
            xs.append(x)
    torch.testing.assert_close(torch.cat(xs, 1), x_BLC)
    torch.testing.assert_close(f_hat, f_hat_fwd)


def test_every_phi_is_used_and_ste_gradient_reaches_encoder_features():
    q = _vq(sched=(1, 2, 3, 5, 8), num_phi=4)
    assert sorted(set(q.phi_of_scale)) == [0, 1, 2, 3]
    f = torch.randn(2, 6, 8, requires_grad=True)
    f_hat, _, vq = q(f)
    (f_hat.sum() + vq).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    assert q.codebook.weight.grad.abs().sum() > 0


def test_dead_code_restart_reseeds_unused_codes():
    q = _vq(V=32)
    q.train()
    feats = torch.randn(50, 6) + 10.0
    q.usage_V.fill_(1.0)
    q.usage_V[:5] = 0.0
    n = q.restart_dead_codes(feats)
    assert n == 5
    assert (q.codebook.weight[:5].mean(-1) > 5).all() and (q.codebook.weight[5:].abs().mean(-1) < 5).all()


def test_data_init_puts_every_code_on_an_encoder_feature():
    q = _vq(V=32)
    feats = torch.randn(50, 6) * 3 + 10.0
    q.usage_V.fill_(0.0)
    q.init_codebook(feats)
    nearest_V = torch.cdist(q.codebook.weight.detach(), feats).min(-1).values
    assert (nearest_V < 0.1 * feats.std()).all()  # a feature plus 1 % noise each
    assert (
        len({tuple(r) for r in q.codebook.weight.detach().round(decimals=4).tolist()}) == 32
    )  # noise splits twins
    assert (q.usage_V == 0.1).all()  # the restart's grace period, not dead on the first check


@pytest.mark.parametrize("scheme, ci", [("RS", 5), ("RSA", 7), ("S", 4), ("A", 2)])
def test_tokenizer_shapes_per_scheme(scheme, ci):
    tok = TrajectoryTokenizer(
        TokenizerConfig(scheme=scheme, num_scales=3, hidden=16, code_dim=8, codebook_size=16), 4, 2, 16
    )
    assert tok.schedule == (1, 2, 4) and tok.in_ch == ci
    x = torch.randn(2, 16, ci)
    out = tok(x, torch.randn(2, 5))
    assert out.rec_BHCi.shape == x.shape
    assert [i.shape[1] for i in tok.encode(x)] == [1, 2, 4]


@pytest.mark.parametrize("sched", [(1, 2, 4, 8), (1, 2, 3, 5, 8), (8,), (1, 3, 8)])
def test_inference_tables_reproduce_next_scale_input_and_follow_weight_changes(sched):
    q = _vq(sched=sched)
    for phi in q.phis:  # phi starts near identity; randomise so the test can fail
        torch.nn.init.normal_(phi.weight, std=0.3)
        torch.nn.init.normal_(phi.bias, std=0.3)
    for rnd in range(2):
        tabs = q.inference_tables()
        f_ref, f_BhC = None, torch.zeros(3, q.h, 6)
        for k, lk in enumerate(sched):
            z_BlC = torch.randn(3, lk, 6)
            f_ref, x_ref = q.next_scale_input(k, f_ref, z_BlC)
            t = tabs[k]
            f_BhC = f_BhC + (t.G_3hl @ z_BlC).view(3, q.h, 18) @ t.W_3CC + t.b_C
            torch.testing.assert_close(f_BhC.transpose(1, 2), f_ref)
            if x_ref is None:
                assert t.down_lh is None
            else:
                torch.testing.assert_close(t.down_lh @ f_BhC, x_ref)
            # t = 0 only from the first rows0 tokens (what the latent action head reads)
            h0 = (t.G0_3l @ z_BlC[:, : t.rows0]).view(3, 18) @ t.W_3CC + t.b_C
            torch.testing.assert_close(h0, ((t.G_3hl @ z_BlC).view(3, q.h, 18) @ t.W_3CC + t.b_C)[:, 0])
        with torch.no_grad():  # an in-place update (optimizer step, load_state_dict) must rebuild the tables
            q.phis[0].weight.add_(0.1)
        assert q.inference_tables() is not tabs or rnd == 1


def test_each_scale_quantises_what_the_coarser_scales_left_and_the_error_shrinks():
    """Residuality: idx_k is the nearest code to area(f - f_hat_<k, l_k). A quantiser that coded f itself at
    every scale (or skipped subtracting a scale) fails the first check; the error check needs phi = identity
    (quant_resi = 0) and a zero code, so the finest scale can never make the error worse."""
    from mage.tokenizer.quantizer import _resample

    torch.manual_seed(0)
    sched = (1, 2, 4, 8)
    q = MultiScaleResidualVQ(vocab_size=128, code_dim=4, schedule=sched, quant_resi=0.0)
    f_BCh = torch.randn(16, 4, sched[-1])
    with torch.no_grad():  # codes drawn from the features' own scale, plus the zero vector
        q.codebook.weight.copy_(torch.randn(128, 4))
        q.codebook.weight[0].zero_()
    idx_list = q.f_to_idx(f_BCh)
    f_hat = torch.zeros_like(f_BCh)
    errors = [f_BCh.pow(2).mean().item()]
    for k, lk in enumerate(sched):
        rest_BlC = _resample(f_BCh - f_hat, lk, "area").transpose(1, 2)
        assert torch.equal(idx_list[k], q.lookup(rest_BlC)), f"scale {k + 1} did not code the residual"
        f_hat = f_hat + q.upsample_code(k, q.codebook(idx_list[k]))
        errors.append((f_BCh - f_hat).pow(2).mean().item())
    assert errors[-1] <= errors[-2] + 1e-6  # the finest scale codes the residual exactly where it can
    assert errors[-1] < 0.5 * errors[0]  # and all scales together remove most of it
    torch.testing.assert_close(q.idx_to_fhat(idx_list), f_hat)
