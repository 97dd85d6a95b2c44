"""Train one diffusion planner (diffuser, hd, dd) on our episodes and save it: ``train_diffusion``.

One loop for the three (Diffuser's ``utils/training.py`` Trainer, written anew): per optimiser step,
``grad_accumulate`` batches of full windows (``batches.Windows``; HD samples one batch per level) and
``planner.loss``; AdamW (weight decay 0 = the sources' Adam); every ``ema_every`` steps the EMA copy is
updated, or set to the weights before ``ema_start``. The EMA weights are what is saved and what plans. If a run
ends before ``ema_start`` the saved weights are the final ones (the EMA would copy them at its next update).

Metrics leave through ``log_fn(metrics, step)`` every ``steps_per_epoch`` steps and at the last step:
``loss`` (the mean over those steps) and ``time_step`` (seconds per optimiser step).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mage.baselines.checkpoint import BaselineMeta
from mage.baselines.diffusion.batches import PlanNormalizers, Windows, discounted_returns
from mage.baselines.diffusion.checkpoint import build_planner, save_diffusion
from mage.baselines.diffusion.configs import DDConfig, DiffusionConfig, native_config_for
from mage.baselines.methods import get_method
from mage.baselines.resume import clear_state, data_key, fit_key, load_state, save_state
from mage.config import ConfigError
from mage.data.episodes import Episodes
from mage.rng import seed_everything

LogFn = Callable[[dict[str, float], int], None]


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - decay)


def training_windows(
    planner: nn.Module, cfg: DiffusionConfig, episodes: Episodes, norm: PlanNormalizers, device: str
) -> tuple[dict[str, Windows], DiffusionConfig]:
    """The planner's windows by name, and ``cfg`` with DD's ``returns_scale`` resolved from the data."""
    returns_N = None
    if isinstance(cfg, DDConfig):  # the return condition, as a fraction of the best one
        g_N = discounted_returns(episodes, cfg.discount)
        scale = cfg.returns_scale or max(float(g_N.max(initial=0.0)), 1e-6)
        cfg = replace(cfg, returns_scale=scale)
        returns_N = g_N / scale
    wins = {k: Windows(episodes, norm, n, device, returns_N) for k, n in planner.windows().items()}
    return wins, cfg


def train_diffusion(
    method: str,
    cfg_or_overrides: DiffusionConfig | Mapping[str, Any] | None,
    episodes: Episodes,
    *,
    out_dir: str | Path,
    steps: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    log_fn: LogFn | None = None,
    dataset: str | None = None,
    state_dir: str | Path | None = None,
) -> Path:
    """Fit the planner ``method`` for ``steps`` optimiser steps (default: the config's) and save it to
    ``out_dir`` (``mage.baselines.diffusion.checkpoint``). ``dataset``: the dataset name, for the per-maze
    defaults. ``state_dir``: keep the training state there after every epoch and continue from it
    (``mage.baselines.resume``). Returns ``out_dir``."""
    m = get_method(method)
    if m.kind != "diffusion":
        raise ValueError(
            f"{method!r} is a {m.kind} baseline: train it with mage.baselines.train.train_baseline"
        )
    overrides = dict(cfg_or_overrides) if isinstance(cfg_or_overrides, Mapping) else cfg_or_overrides
    cfg = native_config_for(m.algo, dataset, overrides)
    n = int(steps if steps is not None else cfg.steps)
    if n < 1:
        raise ConfigError(f"steps={n} must be >= 1")
    key = fit_key(method=m.name, cfg=cfg.to_dict(), steps=n, seed=seed, data=data_key(episodes))
    seed_everything(seed)
    norm = PlanNormalizers.fit(episodes, cfg.normalizer)
    planner = build_planner(m.algo, cfg, episodes.obs_dim, episodes.act_dim).to(device)
    wins, cfg = training_windows(planner, cfg, episodes, norm, device)
    ema = copy.deepcopy(planner).requires_grad_(False)
    opt = torch.optim.AdamW(planner.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    planner.train()
    start, train_before = 0, 0.0
    state = load_state(state_dir, key)  # after every draw of the set-up, so the RNGs continue where they were
    if state is not None:
        planner.load_state_dict(state["planner"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        start, train_before = state["step"], state["train_s"]
        print(f"[{m.name}] continuing from step {start}/{n} ({state_dir})", flush=True)
    t0 = t_log = time.perf_counter()
    loss_sum, since = 0.0, 0
    for step in range(start, n):
        for _ in range(cfg.grad_accumulate):
            loss = planner.loss({k: w.sample(cfg.batch_size) for k, w in wins.items()}) / cfg.grad_accumulate
            loss.backward()
            loss_sum += float(loss.detach())
        opt.step()
        opt.zero_grad(set_to_none=True)
        since += 1
        if step % cfg.ema_every == 0:
            if step < cfg.ema_start:
                ema.load_state_dict(planner.state_dict())
            else:
                ema_update(ema, planner, cfg.ema_decay)
        if (step + 1) % cfg.steps_per_epoch == 0 or step + 1 == n:
            now = time.perf_counter()
            if state_dir is not None:  # first: a stop while logging loses nothing
                payload = {"planner": planner.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict()}
                save_state(state_dir, key, step + 1, {**payload, "train_s": train_before + now - t0})
            metrics = {"loss": loss_sum / since, "time_step": (now - t_log) / since}
            # One line per epoch: a sweep's log shows a 30-minute fit moving (d3rlpy's methods print theirs).
            eta_min = metrics["time_step"] * (n - step - 1) / 60
            print(f"[{m.name}] step {step + 1}/{n} loss {metrics['loss']:.4f} "
                  f"{metrics['time_step']:.2f} s/step, about {eta_min:.0f} min left", flush=True)  # fmt: skip
            if log_fn is not None:
                log_fn(metrics, step + 1)
            loss_sum, since, t_log = 0.0, 0, now
    if n - 1 < cfg.ema_start:
        ema.load_state_dict(planner.state_dict())
    train_s = train_before + time.perf_counter() - t0
    first = next(iter(wins.values()))
    meta = BaselineMeta(
        method=m.name,
        algo=m.algo,
        d3rlpy_class="",
        d3rlpy_version="",
        dataset=dataset,
        obs_dim=episodes.obs_dim,
        act_dim=episodes.act_dim,
        goal_dim=0,
        goal_relabel=None,
        track=m.track,
        plans_states=m.plans_states,
        transformer=False,
        act_low=episodes.act_NA.min(0).astype(float).tolist(),
        act_high=episodes.act_NA.max(0).astype(float).tolist(),
        observation_scaler=cfg.normalizer,
        reward_scaler="none",
        steps=n,
        seed=seed,
        episodes=first.episodes,
        transitions=len(first),
        train_s=round(train_s, 3),
        kind="diffusion",
    )
    saved = save_diffusion(out_dir, ema, cfg, meta, norm, episodes.returns_E)
    clear_state(state_dir)
    return saved
