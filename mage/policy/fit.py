"""Stage 2: train the next-scale transformer + inverse dynamics (+ the tokenizer's D' adapters) with
L_CE + lambda_inv L_inv + lambda_cond L_cond + lambda_rec L_rec (the last keeps D' a decoder); encoder,
codebook, phi and decoder backbone stay frozen."""

from __future__ import annotations

import torch
from torch import nn

from mage.checkpoint import stage_saver
from mage.config import ExperimentConfig
from mage.data.prepare import PreparedData
from mage.loop import TrainHooks, make_loader, resolve_device, run_stage, unwrap
from mage.policy.model import MagePolicy, stage2_trains_adapters
from mage.rng import seed_everything
from mage.tokenizer.vqvae import TrajectoryTokenizer


class Stage2Model(nn.Module):
    """Policy + tokenizer in one module so DDP sees every trainable parameter (incl. D' adapters)."""

    def __init__(self, policy: MagePolicy, tokenizer: TrajectoryTokenizer):
        super().__init__()
        self.policy, self.tokenizer = policy, tokenizer

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.policy.losses(self.tokenizer, batch)


def freeze_for_stage2(tokenizer: TrajectoryTokenizer, train_adapters: bool) -> None:
    for p in tokenizer.parameters():
        p.requires_grad_(False)
    for p in tokenizer.adapter_parameters() if train_adapters else []:
        p.requires_grad_(True)


def fit_policy(
    cfg: ExperimentConfig,
    data: PreparedData,
    tokenizer: TrajectoryTokenizer,
    hooks: TrainHooks | None = None,
) -> MagePolicy:
    hooks = hooks or TrainHooks()
    seed_everything(cfg.train.seed + 1)
    device = resolve_device(cfg, hooks)
    tokenizer = unwrap(tokenizer).to(device)
    policy = MagePolicy(cfg.transformer, cfg.policy, tokenizer, data.meta.goal_dim).to(device)
    rs = hooks.resume_state
    if rs is not None and rs.get("stage") == "policy":
        tokenizer.load_state_dict(rs["tokenizer"])
        policy.load_state_dict(rs["policy"])
    freeze_for_stage2(tokenizer, stage2_trains_adapters(tokenizer, cfg.policy))
    model = hooks.wrap_model(Stage2Model(policy, tokenizer))
    run_stage(
        cfg=cfg,
        hooks=hooks,
        stage="policy",
        model=model,
        loss_fn=lambda m, batch: m(batch),
        train_loader=make_loader(cfg, data.train, hooks, device=device),
        val_loader=make_loader(cfg, data.val, hooks, shuffle=False, device=device),
        device=device,
        lr=cfg.train.policy_lr,
        epochs=cfg.train.policy_epochs,
        prefix="pol",
        epoch_offset=cfg.train.tokenizer_epochs,
        save_fn=stage_saver(cfg, data.meta, data.normalizers, data.episode_returns, tokenizer, policy),
    )
    tokenizer.eval()
    return policy.eval()
