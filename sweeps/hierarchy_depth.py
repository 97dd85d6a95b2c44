"""Hierarchy depth: MAGE with K scales, K in {1, 2, 4, 6, 8, 10}, x seeds x datasets (grid, Tune's default searcher).

    python sweeps/hierarchy_depth.py --smoke                       # K in {1, 2}, tiny data/model, embedded Ray
    python sweeps/hierarchy_depth.py --K 1 2 4 8 --datasets maze2d-umaze-v1 --seeds 0
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python sweeps/hierarchy_depth.py --smoke

Each trial trains both stages and evaluates on the rollout actors; one MLflow child run per trial under one
parent run in the experiment ``mage-hierarchy-depth``. The scale schedule is derived from H and K
(``mage.schedule``, dyadic when H / downsample = 2^(K-1), VAR-like otherwise); a K that needs more
latent steps than H / downsample gets the smallest power-of-two horizon that fits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable (it is also pip-installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Any

from ray import tune

from mage.cli.errors import guarded
from mage.config import ExperimentConfig, preset_overrides
from sweeps.driver.cli import build_parser, resolve_defaults
from sweeps.driver.run import main
from sweeps.driver.spec import Sweep

DEFAULT_K = (1, 2, 4, 6, 8, 10)
SMOKE_K = (1, 2)


def fit_horizon(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Raise data.horizon to the smallest power of two whose latent length H / downsample holds K scales
    (on the overrides, so that the config validates as adjusted)."""
    flat = {**ExperimentConfig().flatten(), **preset_overrides(preset, overrides)}
    need = int(flat["tokenizer.num_scales"]) * int(flat["tokenizer.downsample"])
    if int(flat["data.horizon"]) >= need:
        return overrides
    return {**overrides, "data.horizon": 1 << (need - 1).bit_length()}


def make_sweep(ks: list[int], datasets: list[str], seeds: list[int]) -> Sweep:
    return Sweep(
        name="hierarchy-depth",
        experiment="mage-hierarchy-depth",
        param_space={
            "tokenizer.num_scales": tune.grid_search(ks),
            "data.dataset": tune.grid_search(datasets),
            "train.seed": tune.grid_search(seeds),
        },
        adjust=fit_horizon,
        description="K sweep",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = build_parser(__doc__.splitlines()[0], default_experiment="mage-hierarchy-depth")
    parser.add_argument(
        "--K",
        nargs="+",
        type=int,
        default=None,
        help=f"numbers of scales (default {DEFAULT_K}; --smoke: {SMOKE_K})",
    )
    return parser


def cli(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    ks = args.K or list(SMOKE_K if args.smoke else DEFAULT_K)
    resolve_defaults(args)
    main(make_sweep(ks, args.datasets, args.seeds), args)


if __name__ == "__main__":
    sys.exit(guarded("sweeps/hierarchy_depth.py", cli))
