"""The generic training loop both MAGE stages run: optimiser, lr schedule, loaders, per-epoch reporting.

It knows no model and no dataset format. A stage (``mage/tokenizer/fit.py``, ``mage/policy/fit.py``) injects
what is specific to it: the model, ``loss_fn(model, batch)``, its ``save_fn(dir, train_state)`` and optional
``after_step`` / ``epoch_metrics`` hooks. A distributed layer wraps the same loop without changes by passing
``TrainHooks``: ``wrap_model`` (DDP / ray.train.torch.prepare_model), ``wrap_loader`` (DistributedSampler /
prepare_data_loader), ``report(metrics, save_fn)`` called once per epoch by every rank, ``resume_state``
(``train_state.pt`` of a checkpoint) and ``is_main``. Models are always called through the wrapped module
(DDP hooks run in ``forward``) and unwrapped for saving.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from mage.checkpoint import unwrap
from mage.config import ExperimentConfig
from mage.errors import CliError
from mage.rng import rng_state, set_rng_state

SaveFn = Callable[[Path], None]


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or inf; the message names the stage, epoch, step and every loss term."""


class TimeLimitReached(CliError):
    """``TrainHooks.deadline`` stopped training between two epochs; the last epoch's state is saved, so the
    run continues with a resume. Exit status 75 (EX_TEMPFAIL: try again), so a script can loop on it."""

    interrupts_run = True  # its MLflow run ends KILLED (to be continued), not FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message, code=75)


def _identity(x: Any) -> Any:
    return x


def _no_report(metrics: dict[str, float], save_fn: SaveFn) -> None:
    pass


@dataclass
class TrainHooks:
    device: str | torch.device | None = None  # None: resolve cfg.train.device
    wrap_model: Callable[[nn.Module], nn.Module] = _identity  # Ray: ray.train.torch.prepare_model
    wrap_loader: Callable[[DataLoader], DataLoader] = _identity  # Ray: ray.train.torch.prepare_data_loader
    report: Callable[[dict[str, float], SaveFn], None] = _no_report  # once per epoch, every rank
    resume_state: dict[str, Any] | None = (
        None  # train_state.pt of a checkpoint: stage, epoch, optimizer, weights
    )
    is_main: bool = True  # rank 0 (only it logs)
    progress: bool = False  # a progress bar of optimiser steps (rate, ETA) on stderr, main rank only
    on_step: Callable[[int, int], None] | None = None  # (step, total) after every optimiser step (Ray's bar)
    # time.monotonic() by which training stops: no epoch starts that the last one's duration says would end
    # after it (single process only: ranks could disagree)
    deadline: float | None = None
    # the stage the deadline ends early instead of stopping the run (kept as trained so far: its last whole
    # epoch); the other stages still raise TimeLimitReached
    finish_stage: str | None = None
    # set by run_stage when the deadline ended ``finish_stage`` early: stage, epochs_done, epochs, steps
    cut: dict[str, Any] | None = None


AUTO_FIX = "use cpu, or auto (cuda when present)"


class DeviceError(RuntimeError):
    """A device this machine does not have (torch itself fails with an AssertionError deep inside)."""


def check_device(device: str | torch.device, what: str, fix: str = "use cpu") -> torch.device:
    """``torch.device(device)``, or one ``DeviceError`` naming ``what`` (the flag or key) and the ``fix``."""
    try:
        d = torch.device(device)
    except RuntimeError as e:
        raise DeviceError(f"{what}={device!r} is not a torch device ({e}); {fix}") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        build = f"torch {torch.__version__} " + (
            "has no CUDA" if torch.version.cuda is None else "sees no GPU"
        )
        raise DeviceError(f"{what}={device!r}: this machine has no usable CUDA GPU ({build}); {fix}")
    if d.type == "cuda" and d.index is not None and d.index >= torch.cuda.device_count():
        raise DeviceError(
            f"{what}={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s); {fix}"
        )
    return d


def resolve_device(cfg: ExperimentConfig, hooks: TrainHooks) -> torch.device:
    if hooks.device is not None:
        return torch.device(hooks.device)
    if cfg.train.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_device(cfg.train.device, "train.device", AUTO_FIX)


def world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def world_rank() -> int:
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class DeviceBatches:
    """Batches indexed from tensors that live on the training device: one gather per batch, no per-item
    Python, no host-to-device copy. Needs a dataset with ``to(device)`` and ``get_batch(idx_B)`` (the
    ``WindowDataset`` contract). Shuffled passes come from a seeded permutation per pass; ranks of a
    distributed run draw from differently seeded permutations (each sees ``batch_size / world`` windows)."""

    def __init__(self, ds: Any, batch_size: int, device: torch.device, seed: int, shuffle: bool) -> None:
        self.ds, self.bs, self.device, self.shuffle = ds.to(device), batch_size, device, shuffle
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.n = len(ds)
        self.drop_last = self.n >= batch_size
        self.skip = 0  # batches the next passes leave out: a resumed stage continues the interrupted order

    def __len__(self) -> int:
        return self.n // self.bs if self.drop_last else math.ceil(self.n / self.bs)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order_N = self._order()
        while self.skip >= len(self):  # whole passes left out still draw their order: the generator moves on
            self.skip -= len(self)
            order_N = self._order()
        start, self.skip = self.skip, 0
        for i in range(start, len(self)):
            yield self.ds.get_batch(order_N[i * self.bs : (i + 1) * self.bs])

    def _order(self) -> torch.Tensor:
        weight_N = getattr(self.ds, "weight_W", None)
        if self.shuffle and weight_N is not None:  # a pass of n draws, with replacement, by window weight
            return torch.multinomial(weight_N, self.n, replacement=True, generator=self.gen)
        if self.shuffle:
            return torch.randperm(self.n, generator=self.gen, device=self.device)
        return torch.arange(self.n, device=self.device)


def make_loader(
    cfg: ExperimentConfig,
    ds: Dataset,
    hooks: TrainHooks,
    shuffle: bool = True,
    device: torch.device | None = None,
) -> DataLoader | DeviceBatches:
    """Per-rank batch = global batch / world size. ``train.loader=device`` (and a dataset with
    ``get_batch``) gives ``DeviceBatches`` on ``device``; otherwise a DataLoader through ``hooks.wrap_loader``."""
    bs = max(1, cfg.train.batch_size // world_size())
    if cfg.train.loader == "device" and hasattr(ds, "get_batch"):
        dev = device if device is not None else resolve_device(cfg, hooks)
        return DeviceBatches(ds, bs, dev, seed=cfg.train.seed + 7919 * world_rank(), shuffle=shuffle)
    if getattr(ds, "weight_W", None) is not None:
        raise ValueError(
            "weighted windows (data.rest_weight != 1) are drawn by train.loader=device only; "
            "set train.loader=device or data.rest_weight=1"
        )
    g = torch.Generator().manual_seed(cfg.train.seed)
    dl = DataLoader(
        ds,
        batch_size=bs,
        shuffle=shuffle,
        drop_last=len(ds) >= bs,
        num_workers=cfg.train.num_workers,
        generator=g,
    )
    return hooks.wrap_loader(dl)


def batches(
    loader: DataLoader | DeviceBatches, device: torch.device, skip: int = 0
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches; re-seeds a DistributedSampler every pass. ``skip``: the batches a resumed stage had
    already trained on (``DeviceBatches`` only draws their order; a DataLoader loads and drops them)."""
    if isinstance(loader, DeviceBatches):
        loader.skip, skip = skip, 0
    n = 0
    while True:
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(n)
        for b in loader:
            if skip:
                skip -= 1
                continue
            yield {k: v.to(device, non_blocking=True) for k, v in b.items()}
        n += 1


def make_optimizer(
    params: list[tuple[str, nn.Parameter]], lr: float, weight_decay: float
) -> torch.optim.AdamW:
    """AdamW (0.9, 0.95) as VAR; no decay on biases, norms, embeddings, positions and the codebook."""

    def no_decay(name: str, p: nn.Parameter) -> bool:
        return p.ndim < 2 or any(s in name for s in ("embed", "pos_", "codebook", "uncond"))

    decay = [p for n, p in params if p.requires_grad and not no_decay(n, p)]
    other = [p for n, p in params if p.requires_grad and no_decay(n, p)]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.95))


def lr_factor(step: int, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warm-up, then cosine from 1 to ``floor``."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def run_stage(
    *,
    cfg: ExperimentConfig,
    hooks: TrainHooks,
    stage: str,
    model: nn.Module,
    loss_fn: Callable[[nn.Module, dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    train_loader: DataLoader,
    val_loader: DataLoader,
    device: torch.device,
    lr: float,
    epochs: int,
    prefix: str,
    epoch_offset: int,
    save_fn: Callable[[Path, dict[str, Any]], None],
    after_step: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
    epoch_metrics: Callable[[], dict[str, float]] | None = None,
) -> nn.Module:
    """One stage: AdamW + warm-up/cosine + grad clip; per epoch mean losses, val losses, report(metrics, save).

    ``model`` is the wrapped module (always called, never its ``.module``); ``loss_fn(model, batch)`` returns
    a dict with ``loss`` and the metric terms. Resumes from ``hooks.resume_state`` when it is this stage's.
    """
    tc = cfg.train
    params = [(n, p) for n, p in unwrap(model).named_parameters() if p.requires_grad]
    opt = make_optimizer(params, lr, tc.weight_decay)
    total = epochs * tc.steps_per_epoch
    start_epoch = 0
    rs = hooks.resume_state
    resumed = rs is not None and rs.get("stage") == stage
    if resumed:
        opt.load_state_dict(rs["optimizer"])
        start_epoch = int(rs["epoch"])
    trainable = [p for _, p in params]
    if tc.compile:
        model = torch.compile(model)
    autocast = _autocast(tc.precision, device)
    step = start_epoch * tc.steps_per_epoch
    it = batches(train_loader, device, skip=step)
    if resumed and rs.get("rng") is not None and world_size() == 1:  # ranks > 0 keep their own seeds
        set_rng_state(rs["rng"])  # dropout, dead-code restarts: as if never stopped
    bar = tqdm(
        total=total,
        initial=step,
        desc=f"train {stage}",
        unit="step",
        disable=not (hooks.progress and hooks.is_main),
        dynamic_ncols=True,
    )
    if hooks.deadline is not None and start_epoch < epochs and time.monotonic() >= hooks.deadline:
        bar.close()
        raise TimeLimitReached(f"the time limit ran out before stage {stage} (epoch {start_epoch}/{epochs})")
    for epoch in range(start_epoch, epochs):
        model.train()
        sums: dict[str, Any] = defaultdict(float)
        n_windows, t0 = 0, time.perf_counter()
        for _ in range(tc.steps_per_epoch):
            batch = next(it)
            for g in opt.param_groups:  # set from the step count, so a resume needs no scheduler state
                g["lr"] = lr * lr_factor(step, tc.warmup_steps, total)
            with autocast():
                out = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, tc.grad_clip)
            # A NaN/inf loss or gradient stops the stage before it reaches the weights, the optimiser state or
            # a checkpoint. After backward, so every DDP rank has joined the gradient all-reduce (and sees the
            # same non-finite norm: the ranks stop together). The one host sync per step.
            if not bool(torch.isfinite(torch.stack([out["loss"].detach().float(), grad_norm.float()])).all()):
                _raise_non_finite(stage, epoch, epochs, step + 1, out, grad_norm)
            opt.step()
            step += 1
            bar.update(1)
            if hooks.on_step is not None:
                hooks.on_step(step, total)
            for k, v in out.items():  # summed on the device: no extra sync per step and term
                sums[k] = sums[k] + v.detach().float()
            n_windows += batch["obs_HS"].shape[0]
            if after_step is not None:
                after_step(step, out)
        dt = time.perf_counter() - t0
        metrics = {f"{prefix}/{k}": float(v) / tc.steps_per_epoch for k, v in sums.items()}
        with autocast():
            metrics.update(validate(model, loss_fn, val_loader, device, tc.val_batches, prefix))
        if epoch_metrics is not None:
            metrics.update(epoch_metrics())
        bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
        if bad:  # e.g. a model that outputs NaN on held-out windows: nothing from this epoch is saved
            raise NonFiniteLossError(
                f"stage {stage}: epoch {epoch + 1}/{epochs} ended with non-finite metrics "
                f"({', '.join(f'{k}={v}' for k, v in sorted(bad.items()))}) although every training step was "
                "finite; nothing was saved from this epoch. Check the validation data for extreme values, "
                "lower the learning rate, or resume from the last checkpoint"
            )
        metrics.update(
            {
                "lr": opt.param_groups[0]["lr"],
                "throughput/windows_per_s": n_windows * world_size() / dt,
                "epoch": epoch_offset + epoch + 1,
            }
        )
        state = {"stage": stage, "epoch": epoch + 1, "optimizer": opt.state_dict(), "rng": rng_state()}
        bar.set_postfix({"loss": f"{metrics[f'{prefix}/loss']:.3g}"}, refresh=False)
        hooks.report(metrics, lambda d, state=state: save_fn(Path(d), state))
        took = time.perf_counter() - t0  # training, validation and the save: what the next epoch will cost
        if hooks.deadline is not None and epoch + 1 < epochs and time.monotonic() + took > hooks.deadline:
            bar.close()
            if stage == hooks.finish_stage:  # the last whole epoch is the model (the cosine never reached 0)
                hooks.cut = {"stage": stage, "epochs_done": epoch + 1, "epochs": epochs, "steps": step}
                return model
            raise TimeLimitReached(
                f"the time limit stopped stage {stage} after epoch {epoch + 1}/{epochs} (the next would have "
                f"ended {time.monotonic() + took - hooks.deadline:.0f} s after it)"
            )
    bar.close()
    return model


def _autocast(precision: str, device: torch.device) -> Callable[[], Any]:
    """A context factory: bf16 autocast on ``device`` for ``precision=bf16``, else a no-op."""
    enabled = precision == "bf16"
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _raise_non_finite(
    stage: str, epoch: int, epochs: int, step: int, out: dict[str, torch.Tensor], grad_norm: torch.Tensor
) -> None:
    terms = ", ".join(f"{k}={float(v.detach().float().mean()):.4g}" for k, v in out.items())
    what = "loss" if not math.isfinite(float(out["loss"].detach())) else "gradient norm"
    raise NonFiniteLossError(
        f"stage {stage}: the training {what} is not finite at epoch {epoch + 1}/{epochs}, step {step} "
        f"(optimiser step within the stage; terms: {terms}, grad_norm={float(grad_norm):.4g}); the step was "
        "not applied and nothing was saved from it. Lower the learning rate or raise warm-up, check the data "
        "for extreme values, or resume from the last checkpoint"
    )


@torch.no_grad()
def validate(
    model: nn.Module, loss_fn: Callable, loader: DataLoader, device: torch.device, n: int, prefix: str
) -> dict[str, float]:
    """``{prefix}/val_<term>``: the mean of each term of ``loss_fn`` over the first ``n`` batches of ``loader``
    in eval mode (the model is back in train mode after). Terms that draw noise (stage 2's Gumbel tokens) draw
    it from a fixed seed on a forked RNG: the same weights give the same numbers, and training's own random
    stream is left as it was."""
    if n <= 0:
        return {}
    model.eval()
    sums: dict[str, float] = defaultdict(float)
    count = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        for b in loader:
            out = loss_fn(model, {k: v.to(device) for k, v in b.items()})
            for k, v in out.items():
                sums[k] += float(v)
            count += 1
            if count >= n:
                break
    model.train()
    return {f"{prefix}/val_{k}": v / max(count, 1) for k, v in sums.items()}
