"""The paper's ablation rows as named configs, x seeds x datasets (grid); one child run per row, tag mage.ablation.

python sweeps/ablations.py --smoke                               # ours + K=1, tiny data/model
python sweeps/ablations.py --ablations ours no_cond_decoder no_l_cond --datasets maze2d-large-v1

Each row changes one thing against "ours" (the preset's defaults: K = 8, scheme (R, S), latent actions).
tests/test_ablations.py proves each row acts (gradients, loss terms, outputs); docs/method.md has the reading.

| row                 | paper row (§10.3)     | overrides                                                |
|---------------------|-----------------------|----------------------------------------------------------|
| ours                | K = 8, (R, S) [ours]  | none                                                     |
| k1                  | K = 1                 | tokenizer.num_scales=1                                   |
| scheme_rsa          | gen. scheme (R, S, A) | tokenizer.scheme=RSA, policy.action_source=generated     |
| scheme_s            | S only                | tokenizer.scheme=S (actions: the latent head, as ours)   |
| scheme_a            | A only                | tokenizer.scheme=A, policy.action_source=generated       |
| no_cond_decoder     | w/o D'                | tokenizer.cond_decoder=false (L_cond goes with D')       |
| no_rtg_later_scales | w/o RTG in m_{k>1}    | transformer.rtg_scales=first                             |
| no_l_cond           | w/o L_cond            | tokenizer.lambda_cond=0, policy.lambda_cond=0            |
| a_cql               | A + CQL               | scheme_a + eval.critic=cql, eval.sampling=sample         |

Scheme A has no L_cond (its reconstruction has no R or s channel to tie to (R_0, s_0)), so "A only" cannot
keep it; the row changes nothing else, and "no_l_cond" is the only row that sets lambda_cond. "A + CQL" is
our reading of that row (docs/method.md): MAGE generates the actions (scheme A, generated channel) and a CQL
critic, d3rlpy's, trained on the same data in the same trial, picks the best of eval.critic_candidates sampled
plans' first actions each step (mage.eval.critic). Extra rows (not in the paper's table; run them by name):

| row                | what it ablates                          | overrides                          |
|--------------------|------------------------------------------|------------------------------------|
| decoded_actions    | a_0 = f(s_0, decoded s_1) (DD), not I    | policy.action_source=decoded       |
| no_adaln_condition | AdaLN condition: only start tokens see c | transformer.cond_every_scale=false |
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable (it is also pip-installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray import tune

from mage.cli.errors import guarded
from sweeps.driver.cli import build_parser, resolve_defaults
from sweeps.driver.run import main
from sweeps.driver.spec import Sweep

# Row name -> overrides on the preset ("ours" = the defaults); the tables above.
PAPER_ROWS: dict[str, dict] = {
    "ours": {},
    "k1": {"tokenizer.num_scales": 1},  # a single scale: no coarse-to-fine hierarchy
    # generate RTG, states and actions; act with the generated action channel
    "scheme_rsa": {"tokenizer.scheme": "RSA", "policy.action_source": "generated"},
    "scheme_s": {"tokenizer.scheme": "S"},  # states only (no R channel)
    "scheme_a": {"tokenizer.scheme": "A", "policy.action_source": "generated"},  # actions only
    "no_cond_decoder": {"tokenizer.cond_decoder": False},  # w/o the condition-guided decoder D'
    "no_rtg_later_scales": {"transformer.rtg_scales": "first"},  # scales > 1 see s_0 but not R_0
    "no_l_cond": {"tokenizer.lambda_cond": 0.0, "policy.lambda_cond": 0.0},  # w/o L_cond (D' kept)
    # actions only, generated; a CQL critic picks among sampled plans' actions (mage.eval.critic)
    "a_cql": {
        "tokenizer.scheme": "A",
        "policy.action_source": "generated",
        "eval.critic": "cql",
        "eval.sampling": "sample",
    },
}
EXTRA_ROWS: dict[str, dict] = {
    "decoded_actions": {"policy.action_source": "decoded"},  # a0 = f(s0, decoded s1), not the latent head
    "no_adaln_condition": {"transformer.cond_every_scale": False},  # only the start tokens see (R, s)
}
ABLATIONS: dict[str, dict] = {**PAPER_ROWS, **EXTRA_ROWS}
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
        help=f"rows to run (default: the paper's rows; --smoke: {' '.join(SMOKE_ABLATIONS)})",
    )
    return parser


def cli(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    names = args.ablations or (SMOKE_ABLATIONS if args.smoke else list(PAPER_ROWS))
    resolve_defaults(args)
    main(make_sweep(names, args.datasets, args.seeds), args)


if __name__ == "__main__":
    sys.exit(guarded("sweeps/ablations.py", cli))
