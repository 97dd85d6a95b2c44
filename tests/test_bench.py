"""The benchmarks run end to end on tiny inputs (their numbers are for docs/results.md, not for tests)."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_train_throughput_prints_both_input_paths_and_writes_json(tiny_maze2d_path, tmp_path) -> None:
    out = tmp_path / "tp.json"
    text = _run(
        str(ROOT / "bench/train_throughput.py"),
        "--preset",
        "smoke",
        "--steps",
        "2",
        "--device",
        "cpu",
        "--json",
        str(out),
        "--set",
        f"data.path={tiny_maze2d_path}",
        "--set",
        "data.max_steps=null",
        cwd=tmp_path,
    )
    assert "matmul peak" in text and "x dataloader" in text
    rows = json.loads(out.read_text())["windows_per_s"]
    assert set(rows) == {"dataloader", "device"}  # bf16 / compile rows are CUDA-only
    assert all(r[stage] > 0 for r in rows.values() for stage in ("tokenizer", "policy"))


@pytest.mark.slow
def test_latency_times_a_baseline_beside_mage(tmp_path) -> None:
    text = _run(
        str(ROOT / "bench/latency.py"),
        "--preset",
        "smoke",
        "--iters",
        "2",
        "--scales",
        "2",
        "--batches",
        "1",
        "--no-reference",
        "--baselines",
        "bc",
        cwd=tmp_path,  # d3rlpy may write here; never into the checkout
    )
    assert "MAGE K=2 fast" in text and "bc (d3rlpy)" in text and "DT (60 tokens)" in text


@pytest.fixture(scope="module")
def latency():
    spec = importlib.util.spec_from_file_location("bench_latency", ROOT / "bench" / "latency.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up there
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


_NET = {"dim": 8, "dim_mults": [1, 2]}
TINY = {  # the smallest settings: the bench's defaults are the methods' own sizes
    "diffuser": {**_NET, "horizon": 8, "n_diffusion_steps": 2},
    "hd": {**_NET, "jump": 2, "hl_horizon": 4, "hl_diffusion_steps": 2, "ll_diffusion_steps": 2},
    "dd": {**_NET, "horizon": 8, "n_diffusion_steps": 2, "inv_hidden": 8},
    "mppi": {"samples": 2, "horizon": 4},
}


def test_latency_times_the_diffusion_planners_and_mppi(latency) -> None:
    """Built through the registry as the bench builds them (MPPI and Diffuser / HD with the env's goal: MPPI
    raises without it), timed round-robin; slow rows get --slow-iters calls; a once-per-episode planner is
    timed over a whole episode with one plan."""
    methods = latency.baseline_methods("diffuser,hd,dd,mppi")
    assert set(methods) <= set(latency.baseline_methods("all"))
    obs_BS, goal_BG = latency.make_batched_env(latency.TASK, 2).reset([0, 1])
    rows = latency.baseline_rows(latency.baseline_agents(methods, sizes=TINY), obs_BS, goal_BG)
    assert [r.name.split()[0] for r in rows] == methods and all(r.steps == 1 for r in rows)
    assert [r.quoted for r in rows] == [None, 1480.0, 2339.0, None]  # the paper's HD and DD, quoted
    fns = [r.fn for r in rows]
    for slow_s, n in ((float("inf"), 2), (0.0, 1)):  # no row slow: --iters; every row slow: --slow-iters
        res = latency._time_round_robin(fns, iters=2, slow_iters=1, warmup=1, slow_s=slow_s)
        assert all(math.isfinite(w) and w > 0 and c >= 0 and k == n for w, c, k in res), res
    agent = latency.baseline_agents(["diffuser"], replan_every=0, sizes=TINY)["diffuser"]
    (row,) = latency.baseline_rows({"diffuser": agent}, obs_BS, goal_BG)
    assert row.steps == 300 and "amortised" in row.name  # maze2d-umaze's horizon
    plans = agent.plans
    row.fn()
    assert agent.plans == plans + 1
