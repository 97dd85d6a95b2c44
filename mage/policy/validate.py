"""Re-measure a checkpoint's validation numbers on its own held-out windows, with today's metrics.

A training logs its validation losses once per epoch with the metrics of its day; a study that adds a metric
(e.g. ``pol/val_plan_mse``, the one stage-2 number comparable across K) can measure its older checkpoints
here instead of retraining them. The split and the normalisers are rebuilt from the checkpoint's own config
(dataset, seed, val_fraction), so the windows are the ones the training held out; a data file that no longer
gives the checkpoint's normalisers is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mage.data.prepare import prepare_data
from mage.loop import TrainHooks, make_loader, validate
from mage.policy.checkpoint import load_checkpoint
from mage.policy.fit import Stage2Model
from mage.tokenizer.fit import tokenizer_losses


class DataChangedError(ValueError):
    """The dataset no longer rebuilds the checkpoint's training split (its normalisers differ)."""


def validate_checkpoint(
    ckpt_dir: str | Path, *, batches: int | None = None, device: str = "cpu"
) -> dict[str, float]:
    """``tok/val_*`` and (with a policy) ``pol/val_*`` over the first ``batches`` validation batches (default:
    the checkpoint's ``train.val_batches``, the number its training averaged)."""
    ck = load_checkpoint(ckpt_dir, device)
    cfg = ck.cfg
    data = prepare_data(cfg)
    for name in ("obs", "act", "rtg"):
        have, want = getattr(data.normalizers, name), getattr(ck.normalizers, name)
        if not (np.allclose(have.shift, want.shift) and np.allclose(have.div, want.div)):
            raise DataChangedError(
                f"{ckpt_dir}: the {name} normaliser of {cfg.data.dataset} ({cfg.data.path or 'default file'}) "
                "differs from the checkpoint's, so its validation split cannot be rebuilt; point "
                "data.path at the file the checkpoint was trained on"
            )
    dev = torch.device(device)
    n = cfg.train.val_batches if batches is None else batches
    loader = make_loader(cfg, data.val, TrainHooks(), shuffle=False, device=dev)
    lambda_cond = cfg.tokenizer.lambda_cond

    def tok_loss(m: torch.nn.Module, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = tokenizer_losses(m, b, lambda_cond)
        return {k: v for k, v in out.items() if not k.startswith("_")}

    metrics = validate(ck.tokenizer, tok_loss, loader, dev, n, "tok")
    if ck.policy is not None:
        metrics |= validate(Stage2Model(ck.policy, ck.tokenizer), lambda m, b: m(b), loader, dev, n, "pol")
    return metrics
