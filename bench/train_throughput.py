"""Training throughput of both MAGE stages: windows/s and achieved GFLOP/s beside the measured matmul peak.

    .venv/bin/python bench/train_throughput.py [--dataset maze2d-umaze-v1] [--preset cpu] [--steps 30]
                                               [--device auto] [--compile] [--set KEY=VALUE ...]

Rows, measured one after the other in this one process on the same data and model sizes:
- ``dataloader``: the per-item ``torch.utils.data.DataLoader`` path (``train.loader=dataloader``, the old one),
- ``device``: batches gathered from tensors on the training device (``train.loader=device``, the default),
- on CUDA also ``device+bf16`` (``train.precision=bf16``) and, with ``--compile``, ``device+bf16+compile``.
Each row runs the real stage functions (``fit_tokenizer``, ``fit_policy``) for two epochs of ``--steps``
optimiser steps and reports the second epoch (warm: allocator, cuDNN and compile caches). FLOPs per window
are counted once per stage with ``torch.utils.flop_counter`` on a forward + backward of the stage's loss;
achieved GFLOP/s = FLOPs per window x windows/s. The peak is a timed square matmul (fp32; and bf16 on CUDA).
Ratios are to the ``dataloader`` row of the same stage. The dataset file must exist (``mage data generate``).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mage.config import ExperimentConfig, make_config, parse_overrides
from mage.data.prepare import PreparedData, prepare_data
from mage.loop import TrainHooks, resolve_device
from mage.policy.fit import Stage2Model, fit_policy, freeze_for_stage2
from mage.policy.model import MagePolicy
from mage.tokenizer.fit import fit_tokenizer, tokenizer_losses
from mage.tokenizer.vqvae import TrajectoryTokenizer


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, n: int, iters: int = 10) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        a @ b
    _sync(device)
    return 2 * n**3 * iters / (time.perf_counter() - t) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_window(cfg: ExperimentConfig, data: PreparedData, device: torch.device) -> dict[str, float]:
    """Forward + backward FLOPs of one window for each stage (fresh models; FLOPs do not depend on weights)."""
    batch = {k: v.to(device) for k, v in data.train.get_batch(list(range(8))).items()}
    tok = TrajectoryTokenizer(cfg.tokenizer, data.meta.obs_dim, data.meta.act_dim, cfg.data.horizon).to(
        device
    )
    with FlopCounterMode(display=False) as fc:
        tokenizer_losses(tok, batch, cfg.tokenizer.lambda_cond)["loss"].backward()
    tok_flops = fc.get_total_flops() / 8
    policy = MagePolicy(cfg.transformer, cfg.policy, tok, data.meta.goal_dim).to(device)
    freeze_for_stage2(tok, tok.cfg.cond_decoder and cfg.policy.lambda_cond > 0)
    with FlopCounterMode(display=False) as fc:
        Stage2Model(policy, tok)(batch)["loss"].backward()
    return {"tokenizer": tok_flops, "policy": fc.get_total_flops() / 8}


def measure(cfg: ExperimentConfig, data: PreparedData, device: torch.device) -> dict[str, float]:
    """Windows/s of the second epoch of each stage."""
    seen: list[dict[str, float]] = []
    hooks = TrainHooks(device=device, report=lambda m, save_fn: seen.append(m))
    tok = fit_tokenizer(cfg, data, hooks)
    fit_policy(cfg, data, tok, hooks)
    tok_rate = [m["throughput/windows_per_s"] for m in seen if "tok/loss" in m][-1]
    pol_rate = [m["throughput/windows_per_s"] for m in seen if "pol/loss" in m][-1]
    return {"tokenizer": tok_rate, "policy": pol_rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="maze2d-umaze-v1")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=30, help="optimiser steps per timed epoch")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--compile", action="store_true", help="also a torch.compile row (CUDA)")
    ap.add_argument("--json", default=None, help="also write the rows (windows/s per stage) to this file")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    base = {
        "data.dataset": args.dataset,
        "train.device": args.device,
        "train.tokenizer_epochs": 2,
        "train.policy_epochs": 2,
        "train.steps_per_epoch": args.steps,
        "train.val_batches": 0,
        **parse_overrides(args.overrides),
    }
    cfg0 = make_config(args.preset, base)
    device = resolve_device(cfg0, TrainHooks())
    data = prepare_data(cfg0)
    rows: dict[str, dict[str, str | bool]] = {
        "dataloader": {"train.loader": "dataloader"},
        "device": {"train.loader": "device"},
    }
    if device.type == "cuda":
        rows["device+bf16"] = {"train.loader": "device", "train.precision": "bf16"}
        if args.compile:
            rows["device+bf16+compile"] = {
                "train.loader": "device",
                "train.precision": "bf16",
                "train.compile": True,
            }
    peak = {"fp32": matmul_peak_gflops(device, torch.float32, 4096 if device.type == "cuda" else 1024)}
    if device.type == "cuda":
        peak["bf16"] = matmul_peak_gflops(device, torch.bfloat16, 8192)
    flops = flops_per_window(cfg0, data, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    print(
        f"# {args.dataset} preset={args.preset} H={cfg0.data.horizon} batch={cfg0.train.batch_size} "
        f"steps/epoch={args.steps} device={name} torch={torch.__version__}"
    )
    print("# matmul peak: " + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peak.items()))
    print("# FLOPs per window (fwd+bwd): " + ", ".join(f"{k} {v / 1e6:,.1f} M" for k, v in flops.items()))
    print(f"{'row':<22}{'stage':<11}{'windows/s':>11}{'GFLOP/s':>10}{'% peak':>8}{'x dataloader':>14}")
    results: dict[str, dict[str, float]] = {}
    for row, over in rows.items():
        try:
            results[row] = measure(make_config(args.preset, {**base, **over}), data, device)
        except Exception as e:  # a compile failure must not cost the other rows
            print(f"{row:<22}failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
            continue
        for stage, rate in results[row].items():
            gflops = flops[stage] * rate / 1e9
            ref_peak = peak["bf16" if "bf16" in row else "fp32"]
            ratio = rate / results["dataloader"][stage]
            print(
                f"{row:<22}{stage:<11}{rate:>11,.0f}{gflops:>10,.1f}{100 * gflops / ref_peak:>7.1f}%"
                f"{ratio:>13.2f}x",
                flush=True,
            )
    if args.json:
        facts = {"device": name, "horizon": cfg0.data.horizon, "batch": cfg0.train.batch_size, "peak": peak}
        with open(args.json, "w") as f:
            json.dump({**facts, "flops_per_window": flops, "windows_per_s": results}, f, indent=1)


if __name__ == "__main__":
    main()
