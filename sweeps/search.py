"""Hyper-parameter search: Ray Tune + OptunaSearch (TPE) + ASHA over K, V, depth, lambda_cond and the learning rate.

    python sweeps/search.py --smoke                                 # 2 trials, tiny data/model
    python sweeps/search.py --datasets maze2d-medium-v1 --num-samples 64 --max-concurrent 4 --gpus-per-trial 0.5
    python sweeps/search.py --preset demo --space cpu --num-samples 8 --set eval.probe_every=2   # a 2-core box
    python sweeps/search.py ... --scheduler fifo     # the same configs without pruning (analysis/pruning.py)

The objective is ``eval/norm_score`` of one dataset and one seed (the first of --datasets/--seeds): TPE learns
from one comparable number, and scores of different mazes are not. Re-run the best configs with more seeds via
hierarchy_depth.py / --set.

ASHA: every trial reports each stage-2 epoch to Tune while it trains (``tune/objective`` = -pol/val_loss) and its
``eval/norm_score`` last (the objective then, and the score TPE learns from). ASHA compares trials at rungs of
``--grace-period`` x ``--reduction-factor``^k epochs and stops those below the top 1/``--reduction-factor``; a
stopped trial is not evaluated, its MLflow run ends KILLED with ``mage.stopped_early``, and Optuna records it as
PRUNED with its intermediate values. With ``eval.probe_every=N`` every Nth epoch reports a rollout score instead
(``probe/norm_score``), so the rungs compare what the final evaluation measures.

``--scheduler fifo`` runs every trial to its end. With the same ``--sampler-seed`` and at most 10 samples (TPE's
random start-up) it proposes the same configs as the ASHA run: ``analysis/pruning.py`` pairs the two sweeps and
reports the trial-seconds ASHA saved and whether it kept the best config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable (it is also pip-installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from mage.cli.errors import guarded
from mage.config import ConfigError, make_config
from sweeps.driver.cli import build_parser, resolve_defaults
from sweeps.driver.run import main
from sweeps.driver.searchers import optuna_search
from sweeps.driver.spec import Sweep

SPACES = ("paper", "cpu")


def search_space(smoke: bool, dataset: str, seed: int, space: str = "paper") -> dict:
    # Optuna distributions only: OptunaSearch rejects tune.grid_search (spec platform.md §1.2).
    if smoke:
        return {
            "tokenizer.num_scales": tune.choice([1, 2]),
            "tokenizer.codebook_size": tune.choice([32, 64]),
            "transformer.depth": tune.choice([1, 2]),
            "policy.lambda_cond": tune.uniform(0.0, 0.5),
            "train.policy_lr": tune.loguniform(3e-4, 3e-3),
            "data.dataset": dataset,
            "train.seed": seed,
        }
    if space == "cpu":  # around the `demo` preset (H = 128, stride 8: 16 latent steps), minutes per trial
        return {
            "tokenizer.num_scales": tune.choice([1, 3, 5]),
            "tokenizer.codebook_size": tune.choice([64, 256]),
            "transformer.depth": tune.choice([2, 3]),
            "policy.lambda_cond": tune.uniform(0.0, 0.5),
            "train.policy_lr": tune.loguniform(3e-4, 3e-3),
            "data.dataset": dataset,
            "train.seed": seed,
        }
    return {
        "tokenizer.num_scales": tune.choice([2, 4, 6, 8]),
        "tokenizer.codebook_size": tune.choice([128, 256, 512, 1024]),
        "transformer.depth": tune.choice([2, 4, 6, 8]),
        "tokenizer.lambda_cond": tune.uniform(0.0, 2.0),
        "policy.lambda_cond": tune.uniform(0.0, 0.5),
        "train.policy_lr": tune.loguniform(1e-4, 3e-3),
        "data.dataset": dataset,
        "train.seed": seed,
    }


def make_sweep(
    smoke: bool,
    dataset: str,
    seed: int,
    num_samples: int,
    sampler_seed: int,
    max_t: int,
    grace_period: int = 1,
    reduction_factor: int = 3,
    space: str = "paper",
    scheduler: str = "asha",
) -> Sweep:
    asha = ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=grace_period,
                         reduction_factor=reduction_factor)  # fmt: skip
    return Sweep(
        name="search",
        experiment="mage-search",
        param_space=search_space(smoke, dataset, seed, space),
        num_samples=num_samples,
        # metric/mode live in TuneConfig only (spec platform.md §1.1); concurrency via max_concurrent_trials.
        search_alg=optuna_search(sampler_seed),
        # Rungs in reports (= stage-2 epochs); max_t = epochs + 1 (the final evaluation) lets every
        # surviving trial finish. Stopped trials reach Optuna as PRUNED (sweeps.driver.searchers).
        scheduler=asha if scheduler == "asha" else None,  # None: Tune's FIFO, every trial to its end
        description=f"TPE + {scheduler.upper()} over K, V, depth, lambda_cond, lr ({space} space)",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = build_parser(__doc__.splitlines()[0], default_experiment="mage-search")
    parser.add_argument("--sampler-seed", type=int, default=0, help="TPESampler seed")
    parser.add_argument(
        "--max-t",
        type=int,
        default=None,
        help="ASHA max_t in reports per trial (default: the stage-2 epochs + 1, the final evaluation)",
    )
    parser.add_argument(
        "--grace-period", type=int, default=1, help="ASHA: stage-2 epochs every trial runs before a rung"
    )
    parser.add_argument(
        "--reduction-factor", type=int, default=3, help="ASHA: keep the top 1/N of the trials at each rung"
    )
    parser.add_argument(
        "--scheduler", choices=["asha", "fifo"], default="asha", help="fifo: no pruning (the control run)"
    )
    parser.add_argument(
        "--space",
        choices=SPACES,
        default="paper",
        help="paper: the paper's ranges; cpu: around the demo preset",
    )
    return parser


def cli(argv: list[str] | None = None) -> None:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.datasets is None:
        args.datasets = ["maze2d-umaze-v1"]
    if len(args.datasets) != 1:
        parser.error("search.py optimises one dataset at a time; pass one name to --datasets")
    resolve_defaults(args)
    num_samples = args.num_samples or (2 if args.smoke else 32)
    args.num_samples = num_samples
    if args.grace_period < 1 or args.reduction_factor < 2:
        parser.error("--grace-period must be >= 1 and --reduction-factor >= 2")
    try:
        max_t = args.max_t or make_config(args.preset, args.overrides).train.policy_epochs + 1
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    sweep = make_sweep(
        args.smoke, args.datasets[0], args.seeds[0], num_samples, args.sampler_seed, max_t,
        args.grace_period, args.reduction_factor, args.space, args.scheduler,
    )  # fmt: skip
    main(sweep, args)


if __name__ == "__main__":
    sys.exit(guarded("sweeps/search.py", cli))
