"""Stage 1: train the tokenizer with L_rec + L_vq (+ lambda_cond L_cond); codebook usage and restarts."""

from __future__ import annotations

import torch

from mage.checkpoint import stage_saver
from mage.config import ExperimentConfig
from mage.data.prepare import PreparedData
from mage.loop import TrainHooks, make_loader, resolve_device, run_stage, unwrap
from mage.rng import seed_everything
from mage.tokenizer.vqvae import TrajectoryTokenizer, make_cond, masked_mse


def feature_rows(f_BCh: torch.Tensor) -> torch.Tensor:
    """Encoder features as one row per latent step, f_NC (N = B * h): what codes are seeded from."""
    return f_BCh.detach().transpose(1, 2).reshape(-1, f_BCh.shape[1])


@torch.no_grad()
def first_batch_features(
    cfg: ExperimentConfig,
    data: PreparedData,
    hooks: TrainHooks,
    tok: TrajectoryTokenizer,
    device: torch.device,
) -> torch.Tensor:
    """f_NC of one training batch, from a loader of its own (the training loader's order stays the same)."""
    b = {k: v.to(device) for k, v in next(iter(make_loader(cfg, data.train, hooks, device=device))).items()}
    return feature_rows(tok.encoder(tok.make_window(b["obs_HS"], b["act_HA"], b["rtg_H"])))


def tokenizer_losses(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], lambda_cond: float
) -> dict[str, torch.Tensor]:
    """Masked reconstruction MSE + VQ loss + lambda_cond * L_cond; also returns the outputs' f and idx."""
    tok: TrajectoryTokenizer = unwrap(model)
    x_BHCi = tok.make_window(batch["obs_HS"], batch["act_HA"], batch["rtg_H"])
    cond_BCc = make_cond(batch["obs_HS"][:, 0], batch["rtg_H"][:, 0])
    out = model(x_BHCi, cond_BCc)
    rec = masked_mse(out.rec_BHCi, x_BHCi, batch["mask_H"])
    cond = tok.cond_loss(out.rec_BHCi, cond_BCc) if tok.cfg.cond_decoder else rec.new_zeros(())
    loss = rec + out.vq_loss + lambda_cond * cond
    return {"loss": loss, "rec": rec, "vq": out.vq_loss, "cond": cond, "_f": out.f_BCh, "_idx": out.idx_list}


def fit_tokenizer(
    cfg: ExperimentConfig, data: PreparedData, hooks: TrainHooks | None = None
) -> TrajectoryTokenizer:
    hooks = hooks or TrainHooks()
    seed_everything(cfg.train.seed)
    device = resolve_device(cfg, hooks)
    tc = cfg.tokenizer
    tok = TrajectoryTokenizer(tc, data.meta.obs_dim, data.meta.act_dim, cfg.data.horizon)
    rs = hooks.resume_state
    if rs is not None:
        tok.load_state_dict(rs["tokenizer"])
        if rs.get("stage") == "policy":  # stage 1 finished before the interruption
            return tok.to(device).eval()
    tok.to(device)
    q = tok.quantizer
    if tc.codebook_init == "data" and rs is None:  # before wrap_model: DDP then broadcasts rank 0's codebook
        q.init_codebook(first_batch_features(cfg, data, hooks, tok, device))
    model = hooks.wrap_model(tok)
    K, V = q.num_scales, q.vocab_size
    used_KV = torch.zeros(K, V, dtype=torch.bool, device=device)
    recent: dict[str, torch.Tensor] = {}

    def loss_fn(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = tokenizer_losses(m, batch, tc.lambda_cond)
        f_BCh, idx_list = out.pop("_f"), out.pop("_idx")
        if m.training:
            for k, idx_Bl in enumerate(idx_list):
                used_KV[k, idx_Bl.flatten()] = True
            recent["f_NC"] = feature_rows(f_BCh)
        return out

    total = cfg.train.tokenizer_epochs * cfg.train.steps_per_epoch

    def after_step(step: int, out: dict[str, torch.Tensor]) -> None:
        # not in the last dead_code_every steps: re-seeded codes that no step trains any more break the decoder
        # (K = 1 on maze2d-large: validation reconstruction 0.09 before a restart at the final step, 0.37 after)
        due = step % tc.dead_code_every == 0 and step + tc.dead_code_every <= total
        if tc.dead_code_restart and due and "f_NC" in recent:
            q.restart_dead_codes(recent["f_NC"])
            dist = torch.distributed
            if dist.is_available() and dist.is_initialized():  # keep every rank's codebook identical
                dist.broadcast(q.codebook.weight.data, 0)
                dist.broadcast(q.usage_V, 0)

    def epoch_metrics() -> dict[str, float]:
        m = {f"tok/usage_k{k + 1}": float(used_KV[k].float().mean()) for k in range(K)}
        m["tok/dead_codes"] = float((~used_KV.any(0)).sum())
        used_KV.zero_()
        return m

    run_stage(
        cfg=cfg,
        hooks=hooks,
        stage="tokenizer",
        model=model,
        loss_fn=loss_fn,
        train_loader=make_loader(cfg, data.train, hooks, device=device),
        val_loader=make_loader(cfg, data.val, hooks, shuffle=False, device=device),
        device=device,
        lr=cfg.train.tokenizer_lr,
        epochs=cfg.train.tokenizer_epochs,
        prefix="tok",
        epoch_offset=0,
        save_fn=stage_saver(cfg, data.meta, data.normalizers, data.episode_returns, tok, None),
        after_step=after_step,
        epoch_metrics=epoch_metrics,
    )
    return tok.eval()
