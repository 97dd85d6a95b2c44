"""MageAgent.act wall time per env step on CPU, beside a Decision-Transformer-sized causal transformer.

    .venv/bin/python bench/latency.py [--threads 1] [--iters 50] [--preset paper]

MAGE replans every step: K cached transformer calls + tokenizer code updates + inverse dynamics, measured
through the full ``MageAgent.act`` (numpy in, numpy out). DT: same width and depth, context 20 timesteps x
3 tokens (R, s, a), one KV-less causal forward per step as DT does. Models are randomly initialised
(latency does not depend on the weights). Prints the config, a table and the MAGE/DT ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mage.checkpoint import Checkpoint, DataMeta, build_models
from mage.config import ExperimentConfig, make_config
from mage.data.normalization import DatasetNormalizers, Normalizer
from mage.policy.mage_agent import MageAgent


class _DTBlock(nn.Module):
    def __init__(self, D: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x_BLD: torch.Tensor) -> torch.Tensor:
        B, L, D = x_BLD.shape
        q, k, v = self.qkv(self.ln1(x_BLD)).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, L, D)
        x_BLD = x_BLD + self.proj(y)
        return x_BLD + self.mlp(self.ln2(x_BLD))


class DecisionTransformer(nn.Module):
    """DT-sized reference: (R, s, a) tokens x T steps, timestep embedding, causal GPT, action from s tokens."""

    def __init__(self, obs_dim: int, act_dim: int, width: int, depth: int, heads: int, context: int = 20):
        super().__init__()
        self.T = context
        self.emb_r, self.emb_s, self.emb_a = (
            nn.Linear(1, width),
            nn.Linear(obs_dim, width),
            nn.Linear(act_dim, width),
        )
        self.emb_t = nn.Embedding(1000, width)
        self.ln = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(_DTBlock(width, heads) for _ in range(depth))
        self.head = nn.Sequential(nn.Linear(width, act_dim), nn.Tanh())

    def forward(
        self, rtg_BT1: torch.Tensor, obs_BTS: torch.Tensor, act_BTA: torch.Tensor, t_BT: torch.Tensor
    ) -> torch.Tensor:
        B, T = t_BT.shape
        te = self.emb_t(t_BT)
        x = torch.stack(
            [self.emb_r(rtg_BT1) + te, self.emb_s(obs_BTS) + te, self.emb_a(act_BTA) + te], 2
        ).reshape(B, 3 * T, -1)
        x = self.ln(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x[:, 1::3])[:, -1]


def _synthetic_checkpoint(cfg: ExperimentConfig) -> Checkpoint:
    meta = DataMeta("maze2d-umaze-v1", 4, 2, 2, [-1.0, -1.0], [1.0, 1.0])
    tok, pol = build_models(cfg, meta)
    n = DatasetNormalizers(
        obs=Normalizer("standard", np.zeros(4), np.ones(4)),
        act=Normalizer("identity"),
        rtg=Normalizer("scale", 0.0, 100.0),
        goal=Normalizer("standard", np.zeros(2), np.ones(2)),
    )
    return Checkpoint(cfg, meta, n, np.array([10.0, 50.0, 100.0]), tok.eval(), pol.eval(), None)


def _time(fn, iters: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (shared CPUs: keep small)")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--scales", default="1,4,8")
    ap.add_argument("--batches", default="1,64")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = make_config(args.preset)
    tcfg = base.transformer
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, device=cpu, preset={args.preset}")
    print(
        f"data.horizon={base.data.horizon} tokenizer: downsample={base.tokenizer.downsample} V={base.tokenizer.codebook_size} "
        f"C={base.tokenizer.code_dim} | transformer: depth={tcfg.depth} width={tcfg.width} heads={tcfg.heads} | "
        f"action_source={base.policy.action_source} sampling={base.eval.sampling}"
    )
    dt = DecisionTransformer(4, 2, tcfg.width, tcfg.depth, tcfg.heads).eval()
    rows = []
    for B in (int(b) for b in args.batches.split(",")):
        rtg, obs = torch.randn(B, dt.T, 1), torch.randn(B, dt.T, 4)
        act, t = torch.randn(B, dt.T, 2), torch.arange(dt.T).expand(B, -1)
        with torch.inference_mode():
            dt_s = _time(lambda a=(rtg, obs, act, t): dt(*a).numpy(), args.iters)
        rows.append(("DT (60 tokens)", "-", B, "-", dt_s))
        for K in (int(k) for k in args.scales.split(",")):
            cfg = base.with_overrides({"tokenizer.num_scales": K})
            agent = MageAgent(_synthetic_checkpoint(cfg))
            agent.reset(B)
            obs_np = np.random.default_rng(0).normal(size=(B, 4))
            s = _time(lambda ag=agent, o=obs_np: ag.act(o), args.iters)
            rows.append((f"MAGE K={K}", str(agent.tokenizer.schedule), B, s / dt_s, s))
    print(f"\n{'model':<16}{'schedule':<34}{'batch':>6}{'ms/call':>10}{'ms/env-step':>13}{'x DT':>8}")
    for name, sched, B, ratio, s in rows:
        r = f"{ratio:.2f}" if isinstance(ratio, float) else "-"
        print(f"{name:<16}{sched:<34}{B:>6}{s * 1e3:>10.3f}{s * 1e3 / B:>13.4f}{r:>8}")


if __name__ == "__main__":
    main()
