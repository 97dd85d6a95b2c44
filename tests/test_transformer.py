import pytest
import torch

from mage.config import TransformerConfig
from mage.transformer.model import NextScaleTransformer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


SCHED = (1, 2, 3, 5)


def _model(**kw) -> NextScaleTransformer:
    torch.manual_seed(0)
    m = NextScaleTransformer(TransformerConfig(depth=2, width=32, heads=2, **kw), SCHED, 8, 16, 5)
    for p in m.parameters():  # adaLN-Zero starts as identity; randomise so the test can fail
        torch.nn.init.normal_(p, std=0.2)
    return m.eval()


def _cached_logits(m, c, x_BLC):
    st, outs, n = m.start(c), [], 0
    for k, lk in enumerate(SCHED):
        outs.append(m.step(st, None if k == 0 else x_BLC[:, n : n + lk]))
        n += 0 if k == 0 else lk
    return torch.cat(outs, 1)


@pytest.mark.parametrize("every", [True, False])
def test_kv_cache_generation_equals_teacher_forced_pass(every):
    m = _model(cond_every_scale=every)
    c, x = torch.randn(3, 5), torch.randn(3, sum(SCHED) - SCHED[0], 8)
    full = m(c, x)
    assert full.shape == (3, sum(SCHED), 16)
    with torch.inference_mode():
        torch.testing.assert_close(_cached_logits(m, c, x), full, atol=1e-5, rtol=1e-5)


def test_block_causality_finer_inputs_do_not_change_coarser_logits():
    m = _model()
    c, x = torch.randn(2, 5), torch.randn(2, sum(SCHED) - SCHED[0], 8)
    x2 = x.clone()
    x2[:, -5:] += 1.0  # perturb the last scale's inputs
    a, b = m(c, x), m(c, x2)
    torch.testing.assert_close(a[:, :-5], b[:, :-5])
    assert (a[:, -5:] - b[:, -5:]).abs().max() > 1e-3


def test_condition_modulates_every_block_only_with_adaln():
    c1, c2 = torch.randn(2, 5), torch.randn(2, 5)
    for every in (True, False):
        m = _model(cond_every_scale=every)
        s1, s2 = m.start(c1), m.start(c2)
        differs = [not torch.allclose(a, b) for ma, mb in zip(s1.mods, s2.mods) for a, b in zip(ma, mb)]
        assert all(differs) if every else not any(differs)
        assert not torch.allclose(s1.sos_BlD, s2.sos_BlD)  # the start token always sees c


def _fast_logits(m, c, x_BLC, rows=None):
    st, outs, n = m.fast_start(c), [], 0
    for k, lk in enumerate(SCHED):
        last = k + 1 == len(SCHED)
        outs.append(m.fast_step(st, None if k == 0 else x_BLC[:, n : n + lk], rows if last else None))
        n += 0 if k == 0 else lk
    return torch.cat(outs, 1)


@pytest.mark.parametrize("every", [True, False])
@pytest.mark.parametrize("B", [1, 3])
def test_fast_path_equals_reference_steps_and_truncated_last_scale(every, B):
    m = _model(cond_every_scale=every)
    c, x = torch.randn(B, 5), torch.randn(B, sum(SCHED) - SCHED[0], 8)
    with torch.inference_mode():
        ref = _cached_logits(m, c, x)
        torch.testing.assert_close(_fast_logits(m, c, x), ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(_fast_logits(m, c, x), ref, atol=1e-5, rtol=1e-5)  # reused KV buffer
        part = _fast_logits(m, c, x, rows=2)  # last scale: only its first 2 tokens' logits
        torch.testing.assert_close(part, ref[:, : sum(SCHED) - SCHED[-1] + 2], atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="last scale"):
            m.fast_step(m.fast_start(c), None, rows=1)


def test_fast_path_caches_are_runtime_only_and_follow_weight_changes():
    m = _model()
    keys = {k: v.shape for k, v in m.state_dict().items()}
    c, x = torch.randn(2, 5), torch.randn(2, sum(SCHED) - SCHED[0], 8)
    with torch.inference_mode():
        _fast_logits(m, c, x)
    assert {k: v.shape for k, v in m.state_dict().items()} == keys  # no fused weights in the checkpoint
    other = _model()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    m.load_state_dict(other.state_dict())  # in-place copies: the cached fused weights must be rebuilt
    with torch.inference_mode():
        torch.testing.assert_close(_fast_logits(m, c, x), _cached_logits(other, c, x), atol=1e-5, rtol=1e-5)
    m.train()
    assert m._fast is None and not m._kv_pool
