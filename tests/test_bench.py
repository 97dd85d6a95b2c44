"""The benchmarks run end to end on tiny inputs (their numbers are for docs/results.md, not for tests)."""

import json
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
