"""Baselines: d3rlpy methods and diffusion planners x datasets x seeds on Ray Tune (grid), each trained in a Ray
worker and evaluated on the rollout actors.

    python sweeps/baselines.py --smoke                               # bc, iql; 20 steps, 2 episodes, embedded Ray
    python sweeps/baselines.py --methods bc iql td3bc --datasets maze2d-umaze-v1 --seeds 0 --steps 10000
    python sweeps/baselines.py --methods iql-goal --datasets maze2d-umaze-multi-v1 --also-hold
    python sweeps/baselines.py --methods diffuser hd --set eval.goal=given --set eval.acting=track --also-hold
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python sweeps/baselines.py --smoke

Each trial trains one baseline of ``mage.baselines`` (``train_baseline``, GPU when the cluster has one) with its
per-epoch losses logged to its MLflow child run, then evaluates it as ``eval.*`` says (``--set eval.hold=true``,
...; a ``-goal`` method always gets the goal) on the rollout actors; ``--also-hold`` adds a ``+ hold``
evaluation of the same model. One parent run per sweep in the experiment ``mage-baselines``, one child per
trial tagged ``mage.method``. Baseline config fields: ``--set baseline.KEY=VALUE`` (every method) or
``--set baseline.METHOD.KEY=VALUE``; unknown keys are rejected before Ray starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable (it is also pip-installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray import tune

from mage.baselines.methods import METHODS
from mage.cli.errors import guarded
from sweeps.driver.run import method_grid_parser, run_method_grid
from sweeps.driver.spec import Sweep

# the 11 track-R d3rlpy methods; the diffusion planners (diffuser, hd, dd) are chosen with --methods
DEFAULT_METHODS = tuple(m for m, b in METHODS.items() if b.kind == "d3rlpy" and not b.goal_conditioned)
SMOKE_METHODS = ("bc", "iql")


def make_sweep(methods: list[str], datasets: list[str], seeds: list[int]) -> Sweep:
    return Sweep(
        name="baselines",
        experiment="mage-baselines",
        param_space={
            "method": tune.grid_search(methods),
            "data.dataset": tune.grid_search(datasets),
            "train.seed": tune.grid_search(seeds),
        },
        description="baselines: method x dataset x seed",
    )


def make_parser() -> argparse.ArgumentParser:
    return method_grid_parser(
        __doc__, experiment="mage-baselines", methods=DEFAULT_METHODS, smoke_methods=SMOKE_METHODS
    )


def cli(argv: list[str] | None = None) -> None:
    run_method_grid(make_parser().parse_args(argv), make_sweep, DEFAULT_METHODS, SMOKE_METHODS)


if __name__ == "__main__":
    sys.exit(guarded("sweeps/baselines.py", cli))
