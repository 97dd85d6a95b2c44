"""MageAgent.act wall time per env step on CPU, beside a Decision-Transformer-sized causal transformer.

    .venv/bin/python bench/latency.py [--threads 1] [--iters 50] [--repeats 1] [--preset cpu]
                                      [--scales 1,4,8] [--batches 1,64] [--no-reference]
                                      [--baselines bc,iql,td3bc,dt | all]

MAGE replans every step: K cached transformer calls + tokenizer code updates + inverse dynamics, measured
through the full ``MageAgent.act`` (numpy in, numpy out), with the planner backend ``fast`` (``plan_fast``,
the default) and, unless --no-reference, the ``reference`` backend (``plan``) beside it on the same weights;
the reference / fast ratio is printed per repeat and summarised at the end (the fast backend is kept only
while it is >= 1.4x at batch 1: mage/policy/planner.py). DT: same width and depth, context 20 timesteps x 3
tokens (R, s, a), one KV-less causal forward over all 60 tokens per step as DT does, also numpy in (the new
state rolled into the context) and numpy out. Models are randomly initialised (latency does not depend on
the weights). All rows of one batch size are timed round-robin in the same loop (shared, noisy CPUs load
them alike); medians of wall time and of this thread's CPU time (time.thread_time: time spent waiting for
a CPU does not count) are printed per call and per env step (call / batch), and the ratio to DT (wall).
--threads 0 keeps torch's default thread count. --baselines adds d3rlpy baselines at their default sizes,
acting through the evaluation registry (the rollout actors' path), to the same round-robin: "x DT" for
them is also relative to the DT-sized reference row.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mage.checkpoint import DataMeta
from mage.config import ExperimentConfig, make_config
from mage.data.normalization import DatasetNormalizers, Normalizer
from mage.policy.checkpoint import Checkpoint, build_models
from mage.policy.mage_agent import MageAgent
from mage.policy.planner import BACKENDS, SamplingConfig

TASK = "maze2d-umaze-v1"


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


def _time_round_robin(fns: list, iters: int, warmup: int = 5) -> list[tuple[float, float]]:
    """(median wall s, median thread-CPU s) per fn; one call of each fn per round."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(iters):
        for i, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            wall[i].append(time.perf_counter() - t0)
            cpu[i].append(time.thread_time() - c0)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu)]


class _DTAgent:
    """DT's act(): numpy state in, roll it into the 20-step context, full causal forward, numpy action out."""

    def __init__(self, dt: DecisionTransformer, B: int, obs_dim: int, act_dim: int):
        self.dt = dt
        self.rtg_BT1, self.obs_BTS = torch.randn(B, dt.T, 1), torch.randn(B, dt.T, obs_dim)
        self.act_BTA, self.t_BT = torch.randn(B, dt.T, act_dim), torch.arange(dt.T).expand(B, -1)

    @torch.inference_mode()
    def act(self, obs_BS: np.ndarray) -> np.ndarray:
        s_B1S = torch.as_tensor(obs_BS, dtype=torch.float32).unsqueeze(1)
        self.obs_BTS = torch.cat([self.obs_BTS[:, 1:], s_B1S], dim=1)
        return self.dt(self.rtg_BT1, self.obs_BTS, self.act_BTA, self.t_BT).numpy()


def _baseline_agents(names: str) -> dict[str, Any]:
    """Baselines at their default network sizes, fitted for 10 steps on random episodes (latency does not depend
    on the weights), loaded through the evaluation registry: the same ``act`` the rollout actors call."""
    if not names:
        return {}
    import tempfile

    from mage.baselines.methods import D3RLPY_METHODS
    from mage.baselines.train import train_baseline
    from mage.data.episodes import split_episodes
    from mage.eval.registry import make_agent

    chosen = [m for m in D3RLPY_METHODS if not m.endswith("-goal")] if names == "all" else names.split(",")
    rng = np.random.default_rng(0)
    n = 2000
    term = np.zeros(n, bool)
    term[199::200] = True
    eps = split_episodes(
        {
            "observations": rng.normal(size=(n, 4)).astype(np.float32),
            "actions": rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
            "rewards": (rng.random(n) < 0.1).astype(np.float32),
            "terminals": term,
        }
    )
    out, root = {}, Path(tempfile.mkdtemp(prefix="latency-baselines-"))
    for method in chosen:
        d = train_baseline(
            method, {"steps_per_epoch": 10}, eps, out_dir=root / method, steps=10, dataset=TASK
        )
        out[method] = make_agent(method, str(d), TASK, "cpu")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads, 0: torch's default (shared CPUs: keep small)",
    )
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=1, help="repeat the whole timing (noisy machines)")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--scales", default="1,4,8")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference backend's rows")
    ap.add_argument(
        "--baselines",
        default="",
        help="comma-separated d3rlpy baselines timed beside MAGE (e.g. bc,iql,td3bc,dt; 'all': every one)",
    )
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = make_config(args.preset)
    tcfg, ec = base.transformer, base.eval
    print(
        f"torch {torch.__version__}, torch.get_num_threads()={torch.get_num_threads()}, device=cpu, preset={args.preset}"
    )
    print(
        f"data.horizon={base.data.horizon} tokenizer: downsample={base.tokenizer.downsample} V={base.tokenizer.codebook_size} "
        f"C={base.tokenizer.code_dim} | transformer: depth={tcfg.depth} width={tcfg.width} heads={tcfg.heads} | "
        f"action_source={base.policy.action_source} sampling={ec.sampling} | iters={args.iters} (medians)"
    )
    dt = DecisionTransformer(4, 2, tcfg.width, tcfg.depth, tcfg.heads).eval()
    backends = ("fast",) if args.no_reference else BACKENDS
    agents: dict[tuple[int, str], MageAgent] = {}
    for K in (int(k) for k in args.scales.split(",")):
        ckpt = _synthetic_checkpoint(base.with_overrides({"tokenizer.num_scales": K}))
        for b in backends:  # one set of weights per K, one agent per backend
            sampling = SamplingConfig(
                greedy=ec.sampling == "greedy", temperature=ec.temperature, top_k=ec.top_k, backend=b
            )
            agents[K, b] = MageAgent(ckpt, "cpu", target_return=50.0, sampling=sampling)
    baselines = _baseline_agents(args.baselines)
    ratios: dict[tuple[int, int], list[float]] = {}
    for B in (int(b) for b in args.batches.split(",")):
        obs_np = np.random.default_rng(0).normal(size=(B, 4))
        dt_agent = _DTAgent(dt, B, 4, 2)
        names, fns = ["DT (60 tokens)"], [lambda d=dt_agent, o=obs_np: d.act(o)]
        for (K, b), agent in agents.items():
            agent.reset(B)
            names.append(f"MAGE K={K} {b}")
            fns.append(lambda ag=agent, o=obs_np: ag.act(o))
        for method, agent in baselines.items():
            agent.reset(B)
            names.append(f"{method} (d3rlpy)")
            fns.append(lambda ag=agent, o=obs_np: ag.act(o))
        for rep in range(args.repeats):
            print(
                f"\n{'model':<24}{'schedule':<30}{'batch':>6}{'ms/call':>10}{'ms/env-step':>13}"
                f"{'cpu ms/call':>13}{'x DT':>7}   repeat {rep + 1}/{args.repeats}"
            )
            res = _time_round_robin(fns, args.iters)
            dt_s = res[0][0]
            wall = dict(zip(names, (w for w, _ in res)))
            for name, (w, c) in zip(names, res):
                K = int(name.split("K=")[1].split()[0]) if "K=" in name else None
                sched = str(agents[K, backends[0]].tokenizer.schedule) if K else "-"
                r = "-" if name.startswith("DT ") else f"{w / dt_s:.2f}"
                print(
                    f"{name:<24}{sched:<30}{B:>6}{w * 1e3:>10.3f}{w * 1e3 / B:>13.4f}{c * 1e3:>13.3f}{r:>7}"
                )
            if len(backends) == 2:
                for K in dict.fromkeys(k for k, _ in agents):
                    ratio = wall[f"MAGE K={K} reference"] / wall[f"MAGE K={K} fast"]
                    ratios.setdefault((B, K), []).append(ratio)
                    print(f"  K={K}: reference / fast = {ratio:.2f}x")
    if ratios:
        print("\nreference / fast wall time per env step (keep 'fast' only while >= 1.4x at batch 1):")
        for (B, K), rs in ratios.items():
            print(
                f"  batch {B:>3} K={K}: "
                + " ".join(f"{r:.2f}x" for r in rs)
                + f"  median {statistics.median(rs):.2f}x"
            )


if __name__ == "__main__":
    main()
