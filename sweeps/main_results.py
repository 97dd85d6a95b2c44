"""Main results: MAGE's chosen config and the baselines over datasets x seeds, the runs behind the main table.

    python sweeps/main_results.py --smoke                      # mage (smoke preset) and bc; tiny, embedded Ray
    python sweeps/main_results.py --methods mage bc iql dt --datasets maze2d-umaze-v1 --seeds 0 1 2 --also-hold
    python analysis/main_table.py --experiment mage-main-results

MAGE trials use the cpu preset (``--preset``) with the setting we measured best on maze2d
(``data.rtg_horizon=128``, ``eval.rtg_update=hold``; docs/results.md) on top; baseline trials use their
typed configs (``--set baseline.KEY=VALUE``) and ``--steps``. Every trial evaluates on the rollout actors
under the sweep's protocol (``--set eval.goal=given`` ...); ``--also-hold`` adds ``+ hold`` evaluations. One
parent run in the experiment ``mage-main-results``, one child per trial tagged ``mage.method``.
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
from sweeps.driver.run import method_grid_parser, run_method_grid
from sweeps.driver.spec import Sweep

# MAGE's chosen config on maze2d (docs/results.md): reward of the next 128 steps as the condition, R̂ held.
MAGE_CHOSEN: dict[str, Any] = {"data.rtg_horizon": 128, "eval.rtg_update": "hold"}
DEFAULT_METHODS = ("mage", "bc", "cql", "iql", "td3bc", "awac", "bcq", "bear", "crr", "rebrac", "plas", "dt")
SMOKE_METHODS = ("mage", "bc")


def make_sweep(methods: list[str], datasets: list[str], seeds: list[int]) -> Sweep:
    return Sweep(
        name="main-results",
        experiment="mage-main-results",
        param_space={
            "method": tune.grid_search(methods),
            "data.dataset": tune.grid_search(datasets),
            "train.seed": tune.grid_search(seeds),
        },
        method_overrides={"mage": dict(MAGE_CHOSEN)},
        description="main table: MAGE (chosen config) and the baselines, method x dataset x seed",
    )


def make_parser() -> argparse.ArgumentParser:
    return method_grid_parser(
        __doc__, experiment="mage-main-results", methods=DEFAULT_METHODS, smoke_methods=SMOKE_METHODS
    )


def cli(argv: list[str] | None = None) -> None:
    run_method_grid(make_parser().parse_args(argv), make_sweep, DEFAULT_METHODS, SMOKE_METHODS)


if __name__ == "__main__":
    sys.exit(guarded("sweeps/main_results.py", cli))
