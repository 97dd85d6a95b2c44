import torch

from mage.transformer.masks import block_causal_mask, level_ids


def test_level_ids():
    assert level_ids((1, 2, 3)).tolist() == [0, 1, 1, 2, 2, 2]


def test_scale_k_attends_exactly_to_scales_up_to_k():
    sched = (1, 2, 4, 8)
    allowed = block_causal_mask(sched)
    lvl = level_ids(sched)
    L = sum(sched)
    assert allowed.shape == (L, L) and allowed.dtype == torch.bool
    for i in range(L):
        for j in range(L):
            assert bool(allowed[i, j]) == (lvl[j] <= lvl[i])
    # full attention inside a scale: the last scale's block is all True
    assert allowed[-8:, -8:].all()
