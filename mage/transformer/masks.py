"""Level ids and the block-causal mask from the scale schedule (VAR: ``where(d >= d.T, 0, -inf)``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def level_ids(schedule: Sequence[int]) -> torch.Tensor:
    """lvl_L: the scale index (0 = coarsest) of every token, in generation order."""
    return torch.cat([torch.full((lk,), k, dtype=torch.long) for k, lk in enumerate(schedule)])


def block_causal_mask(schedule: Sequence[int]) -> torch.Tensor:
    """allowed_LL[i, j] = True when token i may attend to token j: full inside a scale, all coarser scales."""
    lvl_L = level_ids(schedule)
    return lvl_L.unsqueeze(1) >= lvl_L.unsqueeze(0)
