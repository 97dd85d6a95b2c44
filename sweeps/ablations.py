"""The paper's ablation rows as named configs, x seeds x datasets (grid); one child run per row, tag mage.ablation.

python sweeps/ablations.py --smoke                               # ours + K=1, tiny data/model
python sweeps/ablations.py --ablations ours no_cond_decoder no_l_cond --datasets maze2d-large-v1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable (it is also pip-installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray import tune

from sweeps.driver.cli import build_parser, resolve_defaults
from sweeps.driver.run import main
from sweeps.driver.spec import Sweep

# Row name -> overrides on the preset ("ours" = the defaults). docs/method.md has the paper's table.
ABLATIONS: dict[str, dict] = {
    "ours": {},
    "k1": {"tokenizer.num_scales": 1},  # a single scale: no coarse-to-fine hierarchy
    "scheme_rsa": {"tokenizer.scheme": "RSA"},  # generate RTG, states and actions
    "scheme_s": {"tokenizer.scheme": "S"},  # states only
    "scheme_a": {"tokenizer.scheme": "A"},  # actions only
    # w/o the condition-guided decoder D'; L_cond needs D', so its weights go to 0 too.
    "no_cond_decoder": {
        "tokenizer.cond_decoder": False,
        "tokenizer.lambda_cond": 0.0,
        "policy.lambda_cond": 0.0,
    },
    "rtg_first_scale_only": {"transformer.cond_every_scale": False},  # w/o RTG beyond the first scale
    "no_l_cond": {"tokenizer.lambda_cond": 0.0, "policy.lambda_cond": 0.0},  # w/o L_cond (D' kept)
    "decoded_actions": {"policy.action_source": "decoded"},  # a0 from decoded states, not the latent
}
SMOKE_ABLATIONS = ["ours", "k1"]


def make_sweep(names: list[str], datasets: list[str], seeds: list[int]) -> Sweep:
    return Sweep(
        name="ablations",
        experiment="mage-ablations",
        param_space={
            "ablation": tune.grid_search(names),
            "data.dataset": tune.grid_search(datasets),
            "train.seed": tune.grid_search(seeds),
        },
        named_configs={n: ABLATIONS[n] for n in names},
        description="paper ablation rows",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = build_parser(__doc__.splitlines()[0], default_experiment="mage-ablations")
    parser.add_argument(
        "--ablations",
        nargs="+",
        choices=list(ABLATIONS),
        default=None,
        help=f"rows to run (default: all; --smoke: {' '.join(SMOKE_ABLATIONS)})",
    )
    return parser


def cli(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    names = args.ablations or (SMOKE_ABLATIONS if args.smoke else list(ABLATIONS))
    resolve_defaults(args)
    main(make_sweep(names, args.datasets, args.seeds), args)


if __name__ == "__main__":
    cli()
