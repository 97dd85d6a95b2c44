"""The wrapped d3rlpy baselines: one row per evaluated method name (no d3rlpy import here).

A method is an algorithm (``algo``, the key of ``mage.baselines.configs.CONFIGS``) plus whether the goal is
appended to the observation (``-goal`` variants, hindsight-relabelled from the data; they need the env's goal
at evaluation, i.e. protocol goal='given', track G). None of them produces a state plan, so the harness's
``acting='track'`` does not apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass

GOAL_DIM = 2  # the appended goal is a position (x, y), as the env's goal_BG


@dataclass(frozen=True)
class BaselineMethod:
    name: str  # registry key, e.g. "iql-goal"
    algo: str  # algorithm key of mage.baselines.configs.CONFIGS, e.g. "iql"
    d3rlpy_class: str  # class in d3rlpy.algos, e.g. "IQL" (config: "IQLConfig")
    goal_conditioned: bool  # the env's goal (x, y) is appended to the observation
    transformer: bool  # sequence model (Decision Transformer): stateful, return-conditioned

    @property
    def track(self) -> str:
        """The information track it is evaluated in: R (state + reward) or G (goal given)."""
        return "G" if self.goal_conditioned else "R"

    @property
    def plans_states(self) -> bool:
        """d3rlpy policies output actions only; no state plan to track."""
        return False


_ALGOS: dict[str, tuple[str, bool]] = {  # algo -> (d3rlpy class, transformer)
    "bc": ("BC", False),
    "cql": ("CQL", False),
    "iql": ("IQL", False),
    "td3bc": ("TD3PlusBC", False),
    "awac": ("AWAC", False),
    "bcq": ("BCQ", False),
    "bear": ("BEAR", False),
    "crr": ("CRR", False),
    "rebrac": ("ReBRAC", False),
    "plas": ("PLAS", False),
    "dt": ("DecisionTransformer", True),
}
GOAL_VARIANTS = ("bc", "iql", "dt")  # algorithms also registered as "<algo>-goal"

METHODS: dict[str, BaselineMethod] = {
    **{a: BaselineMethod(a, a, cls, False, tr) for a, (cls, tr) in _ALGOS.items()},
    **{f"{a}-goal": BaselineMethod(f"{a}-goal", a, _ALGOS[a][0], True, _ALGOS[a][1]) for a in GOAL_VARIANTS},
}


def get_method(name: str) -> BaselineMethod:
    if name not in METHODS:
        raise ValueError(f"unknown baseline method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]
