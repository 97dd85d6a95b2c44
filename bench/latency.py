"""MageAgent.act wall time per env step on CPU, beside a DT-sized causal transformer and the baselines.

    .venv/bin/python bench/latency.py [--threads 1] [--iters 50] [--repeats 1] [--preset cpu]
                                      [--scales 1,4,8] [--batches 1,64] [--no-reference]
                                      [--baselines bc,iql,dt,diffuser,hd,dd,mppi | all] [--slow-iters 3]
                                      [--replan-every N]

MAGE replans every step: K cached transformer calls + tokenizer code updates + inverse dynamics, measured
through the full ``MageAgent.act`` (numpy in, numpy out), with the planner backend ``fast`` (``plan_fast``,
the default) and, unless --no-reference, the ``reference`` backend (``plan``) beside it on the same weights;
the reference / fast ratio is printed per repeat and summarised at the end (the fast backend is kept only
while it is >= 1.4x at batch 1: mage/policy/planner.py). DT: same width and depth, context 20 timesteps x 3
tokens (R, s, a), one KV-less causal forward over all 60 tokens per step as DT does, also numpy in (the new
state rolled into the context) and numpy out. Models are randomly initialised (latency does not depend on
the weights); observations and goals are those of B maze2d-umaze envs after reset. All rows of one batch
size are timed round-robin in the same loop (shared, noisy CPUs load them alike); medians of wall time and
of this thread's CPU time (time.thread_time: time spent waiting for a CPU does not count) are printed per
call and per env step (call / batch / env steps per call), with the ratio to DT per env step (wall). A row
whose first (warm-up) call takes over SLOW_S (0.5 s) gets no more warm-up and --slow-iters timed calls
instead of --iters; the "iters" column says which. --threads 0 keeps torch's default thread count.

--baselines (comma list, or ``all``: every d3rlpy method without its ``-goal`` twin, Diffuser ``diffuser``,
Hierarchical Diffuser ``hd``, Decision Diffuser ``dd`` and ``mppi``) adds baselines at their default sizes to
the same round-robin, built by the evaluation registry (``make_agent``, the rollout actors' path). Trainable
ones are fitted for one optimiser step of batch 8 on random episodes (the diffusion planners without gradient
accumulation; latency depends on the network size and the denoising steps, not on the weights); MPPI needs
no training and rolls out its configured samples x horizon on the true MuJoCo model every call. The
goal-given (track G) methods (Diffuser, HD, MPPI, ``-goal``) get the env's goal, as under goal='given'.
Diffusion planners replan every ``replan_every`` calls (their config's, 1 = every step; --replan-every
overrides it, 0 = once per episode, Diffuser's plan_maze2d.py protocol): with a period k > 1 one timed call
is reset + k ``act`` calls, so the per-env-step column is the plan's cost amortised over the period (the row
label says so). On CPU one DD call (200 denoising steps x 2 guided passes of a width-128 U-Net) takes tens of
seconds at batch 1 and grows with the batch: time it at --batches 1.

The "quoted" columns are the paper's GPU table (MAGE 27.3, DT 6.5, DD 2339, HD 1480 ms per env step) and its
ratio to DT, beside the rows that have one (MAGE at the preset's K with the fast backend; both DT rows); they
are copied, not measured, and are not comparable in absolute terms with these CPU numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mage.checkpoint import DataMeta
from mage.config import ExperimentConfig, make_config
from mage.data.normalization import DatasetNormalizers, Normalizer
from mage.envs.make import make_batched_env
from mage.policy.checkpoint import Checkpoint, build_models
from mage.policy.mage_agent import MageAgent
from mage.policy.planner import BACKENDS, SamplingConfig

TASK = "maze2d-umaze-v1"
SLOW_S = 0.5  # a row whose first (warm-up) call takes longer is timed --slow-iters times
QUOTED_MS = {"dt": 6.5, "mage": 27.3, "dd": 2339.0, "hd": 1480.0}  # the paper's GPU table: ms per env step


@dataclass
class Row:
    """One timed agent: a call of ``fn`` is ``steps`` env steps of every env (1, or a replanning period)."""

    name: str
    fn: Callable[[], Any]
    steps: int = 1
    sched: str = "-"
    quoted: float | None = None  # the paper's GPU ms per env step (quoted, not measured here)


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


def _time_round_robin(
    fns: list, iters: int, slow_iters: int = 3, warmup: int = 5, slow_s: float = SLOW_S
) -> list[tuple[float, float, int]]:
    """(median wall s, median thread-CPU s, calls timed) per fn; one call of each fn per round. The first
    warm-up call is timed: a fn slower than ``slow_s`` gets no more warm-up and only ``slow_iters`` calls."""
    n = []
    for fn in fns:
        t0 = time.perf_counter()
        fn()
        slow = time.perf_counter() - t0 > slow_s
        for _ in range(0 if slow else warmup - 1):
            fn()
        n.append(slow_iters if slow else iters)
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for r in range(max(n)):
        for i, fn in enumerate(fns):
            if r < n[i]:
                t0, c0 = time.perf_counter(), time.thread_time()
                fn()
                wall[i].append(time.perf_counter() - t0)
                cpu[i].append(time.thread_time() - c0)
    return [(statistics.median(w), statistics.median(c), k) for w, c, k in zip(wall, cpu, n)]


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


def baseline_methods(names: str) -> list[str]:
    """``all``: every baseline the registry builds for a maze2d task (the d3rlpy methods, their ``-goal``
    twins left out: the same networks with 2 more inputs; the diffusion planners; MPPI); else the comma list,
    checked."""
    from mage.baselines.methods import D3RLPY_METHODS, DIFFUSION_METHODS, METHODS

    if names == "all":
        return [m for m in D3RLPY_METHODS if not m.endswith("-goal")] + [*DIFFUSION_METHODS, "mppi"]
    chosen = [m for m in names.split(",") if m]
    bad = [m for m in chosen if m not in METHODS and m != "mppi"]
    if bad:
        raise SystemExit(f"unknown baselines {bad}; choose from {', '.join([*METHODS, 'mppi'])} or 'all'")
    return chosen


def baseline_agents(
    methods: list[str], replan_every: int | None = None, sizes: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Baselines at their default network sizes (``sizes``: config overrides per method, for tests), fitted
    for one optimiser step on random episodes (latency does not depend on the weights) and loaded through the
    evaluation registry: the same ``act`` the rollout actors call. MPPI needs no training (true simulator).
    ``replan_every``: the diffusion planners' (None: their config's, 1 = every step)."""
    import tempfile

    from mage.baselines.methods import METHODS
    from mage.baselines.train import train_baseline
    from mage.data.episodes import split_episodes
    from mage.eval.registry import make_agent

    sizes = sizes or {}
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
    for method in methods:
        if method == "mppi":
            out[method] = make_agent(method, None, TASK, "cpu", mppi=sizes.get(method))
            continue
        diffusion = METHODS[method].kind == "diffusion"
        over = {"batch_size": 8, **({"grad_accumulate": 1} if diffusion else {})}  # seconds (DT: 4096)
        d = train_baseline(
            method, {**over, **sizes.get(method, {})}, eps, out_dir=root / method, steps=1, dataset=TASK
        )
        kw = {"replan_every": replan_every} if diffusion else {}
        out[method] = make_agent(method, str(d), TASK, "cpu", **kw)
    return out


def baseline_rows(agents: dict[str, Any], obs_BS: np.ndarray, goal_BG: np.ndarray) -> list[Row]:
    """One row per baseline; the goal is passed to the track-G ones (MPPI, Diffuser, HD, ``-goal``) as the
    harness does under goal='given'. A planner that does not plan every call is timed over one replanning
    period (reset, then ``replan_every`` calls, or the task's horizon for once per episode)."""
    from mage.baselines.methods import METHODS
    from mage.envs.registry import get_spec
    from mage.eval.registry import needs_goal

    rows, B = [], len(obs_BS)
    for method, agent in agents.items():
        goal = goal_BG if needs_goal(method) or METHODS[method].track == "G" else None
        every = getattr(agent, "replan_every", 1)
        k = every or get_spec(TASK).horizon
        if method == "mppi":
            c = agent.cfg
            name = f"mppi ({c.samples} samples x {c.horizon} sim steps)"
        elif METHODS[method].kind == "d3rlpy":
            name = f"{method} (d3rlpy)"
        elif every == 1:
            name = f"{method} (plans every step)"
        elif every == 0:
            name = f"{method} (plans once/{k}-step ep., amortised)"
        else:
            name = f"{method} (plans every {k} steps, amortised)"

        def fn(ag=agent, g=goal, k=k) -> None:
            if k > 1:
                ag.reset(B)  # the first call plans
            for _ in range(k):
                ag.act(obs_BS, g)

        agent.reset(B)
        rows.append(Row(name, fn, k, quoted=QUOTED_MS.get(method)))
    return rows


def _ratio(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


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
        help="comma-separated baselines beside MAGE (e.g. bc,iql,dt,diffuser,hd,dd,mppi; 'all': every one)",
    )
    ap.add_argument(
        "--slow-iters", type=int, default=3, help=f"timed calls of rows whose one call exceeds {SLOW_S} s"
    )
    ap.add_argument(
        "--replan-every",
        type=int,
        default=None,
        help="diffusion planners' replanning period (default: their config's, 1; 0: once per episode)",
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
        f"action_source={base.policy.action_source} sampling={ec.sampling} | iters={args.iters}, rows over "
        f"{SLOW_S} s per call: {args.slow_iters} (medians)"
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
    baselines = baseline_agents(baseline_methods(args.baselines), args.replan_every)
    ratios: dict[tuple[int, int], list[float]] = {}
    for B in (int(b) for b in args.batches.split(",")):
        obs_np, goal_np = make_batched_env(TASK, B).reset(list(range(B)))  # what the harness's agents see
        dt_agent = _DTAgent(dt, B, 4, 2)
        rows = [Row("DT (60 tokens)", lambda d=dt_agent, o=obs_np: d.act(o), quoted=QUOTED_MS["dt"])]
        for (K, b), agent in agents.items():
            agent.reset(B)
            paper = base.tokenizer.num_scales == K and b == "fast"  # the paper's MAGE: its default K
            sched = str(agent.tokenizer.schedule)
            fn = lambda ag=agent, o=obs_np: ag.act(o)  # noqa: E731
            rows.append(Row(f"MAGE K={K} {b}", fn, 1, sched, QUOTED_MS["mage"] if paper else None))
        rows += baseline_rows(baselines, obs_np, goal_np)
        for rep in range(args.repeats):
            print(
                f"\n{'model':<46}{'schedule':<30}{'batch':>6}{'iters':>6}{'ms/call':>11}{'ms/env-step':>13}"
                f"{'cpu ms/call':>13}{'x DT':>9} | {'quoted GPU ms/step':>18}{'quoted x DT':>12}"
                f"   repeat {rep + 1}/{args.repeats}"
            )
            res = _time_round_robin([r.fn for r in rows], args.iters, args.slow_iters)
            dt_s = res[0][0]
            wall = {r.name: w / r.steps for r, (w, _, _) in zip(rows, res)}  # per env step of B envs
            for i, (row, (w, c, n)) in enumerate(zip(rows, res)):
                x = "-" if i == 0 else _ratio(w / row.steps / dt_s)  # per env step, against DT's
                q = "-" if row.quoted is None else f"{row.quoted:.1f}"
                qx = "-" if row.quoted is None or i == 0 else _ratio(row.quoted / QUOTED_MS["dt"])
                print(
                    f"{row.name:<46}{row.sched:<30}{B:>6}{n:>6}{w * 1e3:>11.3f}"
                    f"{w * 1e3 / B / row.steps:>13.4f}{c * 1e3:>13.3f}{x:>9} | {q:>18}{qx:>12}"
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
