"""Tokenizer sweep: stage 1 only over K, V, C, lambda_cond and the scale schedule; later sweeps reuse its tokenizers.

    python sweeps/tokenizer.py --smoke                                   # K in {1, 2}, tiny data/model
    python sweeps/tokenizer.py --K 4 8 --V 256 512 --lambda-cond 0.1 1.0 --datasets maze2d-umaze-v1
    python sweeps/search.py --tokenizers-from <this sweep's parent run id> ...   # stage 2 reuses them

The first level of a two-level sweep. Each trial trains the multi-scale residual-VQ tokenizer (stage 1) on Ray
Train and nothing else: no transformer, no evaluation. Its objective is the validation reconstruction error
``tok/val_rec`` (lower is better; the stage-1 loss itself is not comparable across lambda_cond). Every trial
run logs its tokenizer (``tokenizer/`` artifact) with the stage-1 key (``mage.tokenizer_key``: a hash of the
data, tokenizer and stage-1 training settings). A later transformer, policy or ablation sweep given
``--tokenizers-from <parent run id>`` trains stage 2 only for every trial whose stage-1 settings match one of
these tokenizers (tag ``mage.tokenizer_from`` on its run), so a tokenizer is trained once per config.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable (it is also pip-installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Any

from ray import tune

from mage.cli.errors import guarded
from sweeps.driver.cli import build_parser, resolve_defaults
from sweeps.driver.run import main
from sweeps.driver.spec import Sweep
from sweeps.hierarchy_depth import fit_horizon

SMOKE_K = (1, 2)
DEFAULT_K = (4, 8)


def fit_schedule(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """An explicit scale schedule sets K to its length; then the horizon must hold K scales (fit_horizon)."""
    sched = overrides.get("tokenizer.scale_schedule")
    if isinstance(sched, list):
        overrides = {**overrides, "tokenizer.num_scales": len(sched)}
    return fit_horizon(preset, overrides)


def make_sweep(
    datasets: list[str],
    seeds: list[int],
    ks: list[int],
    codebook_sizes: list[int] | None = None,
    code_dims: list[int] | None = None,
    lambda_conds: list[float] | None = None,
    schedules: list[list[int]] | None = None,
) -> Sweep:
    """A grid over the given stage-1 knobs (a knob left None keeps the preset's value); explicit schedules
    replace the K grid (K = a schedule's length)."""
    space: dict[str, Any] = {} if schedules else {"tokenizer.num_scales": tune.grid_search(ks)}
    for key, values in (
        ("tokenizer.codebook_size", codebook_sizes),
        ("tokenizer.code_dim", code_dims),
        ("tokenizer.lambda_cond", lambda_conds),
        ("tokenizer.scale_schedule", schedules),
    ):
        if values:
            space[key] = tune.grid_search(values)
    space["data.dataset"] = tune.grid_search(datasets)
    space["train.seed"] = tune.grid_search(seeds)
    return Sweep(
        name="tokenizer",
        experiment="mage-tokenizer",
        param_space=space,
        adjust=fit_schedule,
        description="tokenizer (stage 1) sweep",
        tokenizer_only=True,
    )


def make_parser() -> argparse.ArgumentParser:
    p = build_parser(__doc__.splitlines()[0], default_experiment="mage-tokenizer")
    p.add_argument(
        "--K", nargs="+", type=int, default=None, help=f"scales (default {DEFAULT_K}; --smoke {SMOKE_K})"
    )
    p.add_argument("--V", nargs="+", type=int, default=None, help="codebook sizes (default: the preset's)")
    p.add_argument("--C", nargs="+", type=int, default=None, help="code dims (default: the preset's)")
    p.add_argument("--lambda-cond", nargs="+", type=float, default=None, help="stage-1 L_cond weights")
    p.add_argument(
        "--schedule",
        nargs="+",
        type=json.loads,
        default=None,
        help="scale schedules as JSON lists, e.g. '[1,2,4,8]' (replaces --K; default: derived from K)",
    )
    return p


def cli(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    ks = args.K or list(SMOKE_K if args.smoke else DEFAULT_K)
    resolve_defaults(args)
    sweep = make_sweep(args.datasets, args.seeds, ks, args.V, args.C, args.lambda_cond, args.schedule)
    main(sweep, args)


if __name__ == "__main__":
    sys.exit(guarded("sweeps/tokenizer.py", cli))
