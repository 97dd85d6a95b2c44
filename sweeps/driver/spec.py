"""What a sweep script declares: the :class:`Sweep` (search space, searcher, named configs) and its size."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mage.distributed.train import TUNE_OBJECTIVE as OBJECTIVE
from mage.tracking.sweep_runs import METRIC

# METRIC (eval/norm_score) selects configs; OBJECTIVE is the Tune metric (TuneConfig, ASHA, Optuna): in every
# result, -pol/val_loss per stage-2 epoch and METRIC in a trial's last result.
FINAL = "mage/final"  # in a trial's last result: it ran to its end (scored), not stopped early or interrupted
TOKENIZER_METRIC = "tok/val_rec"  # what a tokenizer sweep (stage 1 only) selects on, lower is better

__all__ = [
    "FINAL",
    "METRIC",
    "OBJECTIVE",
    "TOKENIZER_METRIC",
    "Sweep",
    "describe_space",
    "expected_trials",
    "grid_points",
    "grid_values",
]


@dataclass
class Sweep:
    """A sweep: its name, MLflow experiment, search space and how to search it.

    Trial configs are flat: keys with a dot are ``ExperimentConfig`` overrides (``tokenizer.num_scales``); the
    key ``ablation`` names an entry of ``named_configs`` whose overrides are applied first; the key ``method``
    (default ``mage``) chooses MAGE or a d3rlpy baseline (``bc``, ``iql``, ...; ``sweeps.driver.trial``).
    """

    name: str  # mage.sweep tag and default Tune experiment name
    experiment: str  # default MLflow experiment
    param_space: dict[str, Any]  # flat trial config: dotted overrides and/or "ablation"
    num_samples: int = 1  # Tune num_samples (grids multiply it)
    search_alg: Any = None  # e.g. OptunaSearch; None = Tune's grid/random BasicVariantGenerator
    scheduler: Any = None  # e.g. ASHAScheduler; None = FIFO
    named_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ablation" name -> overrides
    # method -> overrides of its trials only, applied after the sweep-wide ones (e.g. MAGE's chosen config)
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Last per-trial fix-up of the overrides, (preset, overrides) -> overrides, applied before the config is
    # built and validated (e.g. raise the horizon so K scales fit); must be picklable.
    adjust: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
    description: str = ""
    # Trials train stage 1 only (a tokenizer sweep): objective -TOKENIZER_METRIC, no evaluation; later sweeps
    # reuse its tokenizers with --tokenizers-from <its parent run id>.
    tokenizer_only: bool = False

    @property
    def metric(self) -> str:
        """The MLflow metric the results table ranks finished trials by."""
        return TOKENIZER_METRIC if self.tokenizer_only else METRIC


def expected_trials(sweep: Sweep) -> int:
    """Trials a complete sweep has: num_samples times the product of the grid sizes."""
    n = sweep.num_samples
    for v in sweep.param_space.values():
        if isinstance(v, Mapping) and "grid_search" in v:
            n *= len(v["grid_search"])
    return n


def grid_values(sweep: Sweep, key: str, default: list[Any]) -> list[Any]:
    """The values a grid key of the search space takes (``default`` when the space does not have it)."""
    v = sweep.param_space.get(key)
    if isinstance(v, Mapping) and "grid_search" in v:
        return list(v["grid_search"])
    return default if v is None else [v]


def grid_points(space: Mapping[str, Any], skip: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every combination of the grid values of a search space, leaving out the ``skip`` keys (sampled keys
    are not grids: Tune draws them inside their bounds); ``[{}]`` when there is no grid."""
    grids = {
        k: list(v["grid_search"])
        for k, v in space.items()
        if k not in skip and isinstance(v, Mapping) and "grid_search" in v
    }
    return [dict(zip(grids, vals)) for vals in itertools.product(*grids.values())]


def describe_space(space: Mapping[str, Any]) -> dict[str, str]:
    """Human-readable search space: grid lists, choices and ranges instead of object reprs."""
    from ray.tune.search.sample import Categorical, Float, Integer

    out: dict[str, str] = {}
    for k, v in space.items():
        if isinstance(v, Mapping) and "grid_search" in v:
            out[k] = f"grid{list(v['grid_search'])}"
        elif isinstance(v, Categorical):
            out[k] = f"choice{list(v.categories)}"
        elif isinstance(v, (Float, Integer)):
            sampler = type(v.get_sampler()).__name__.lower().lstrip("_")
            kind = "log" if "log" in sampler else ""
            out[k] = f"{kind}{'int' if isinstance(v, Integer) else 'float'}[{v.lower}, {v.upper}]"
        else:
            out[k] = repr(v)
    return out
