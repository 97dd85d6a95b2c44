"""The baselines: one row per evaluated method name (no d3rlpy or torch import here).

A method is either a wrapped d3rlpy algorithm (``kind='d3rlpy'``; ``algo`` is the key of
``mage.baselines.configs.CONFIGS``) or a diffusion planner written here (``kind='diffusion'``; ``algo`` is the
key of ``mage.baselines.diffusion.configs.CONFIGS``).

- d3rlpy ``-goal`` variants append the goal to the observation (hindsight-relabelled from the data); they need
  the env's goal (protocol goal='given', track G). No d3rlpy policy produces a state plan, so the harness's
  ``acting='track'`` does not apply to them.
- The diffusion planners plan states (``plans_states``: ``acting='track'`` applies). Diffuser and HD inpaint
  the goal when the protocol gives it (their published track G, ``uses_goal``) and plan from the state alone
  otherwise; DD is return-conditioned (track R).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GOAL_DIM = 2  # the appended goal is a position (x, y), as the env's goal_BG


@dataclass(frozen=True)
class BaselineMethod:
    name: str  # registry key, e.g. "iql-goal"
    algo: str  # algorithm key of its config table, e.g. "iql"
    d3rlpy_class: str  # class in d3rlpy.algos, e.g. "IQL" (config: "IQLConfig"); "" for a diffusion planner
    goal_conditioned: bool  # needs the env's goal: (x, y) appended to the observation
    transformer: bool  # sequence model (Decision Transformer): stateful, return-conditioned
    kind: Literal["d3rlpy", "diffusion"] = (
        "d3rlpy"  # wrapped d3rlpy, or written here (mage.baselines.diffusion)
    )
    plans_states: bool = False  # produces a state plan (the harness's acting='track' applies)
    uses_goal: bool = False  # inpaints the env's goal when the protocol gives it, acts without it too

    @property
    def track(self) -> str:
        """The information track it is published in: R (state + reward) or G (goal given)."""
        return "G" if self.goal_conditioned or self.uses_goal else "R"


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

D3RLPY_METHODS: dict[str, BaselineMethod] = {
    **{a: BaselineMethod(a, a, cls, False, tr) for a, (cls, tr) in _ALGOS.items()},
    **{f"{a}-goal": BaselineMethod(f"{a}-goal", a, _ALGOS[a][0], True, _ALGOS[a][1]) for a in GOAL_VARIANTS},
}
DIFFUSION_METHODS: dict[str, BaselineMethod] = {
    name: BaselineMethod(name, name, "", False, False, kind="diffusion", plans_states=True, uses_goal=goal)
    for name, goal in (("diffuser", True), ("hd", True), ("dd", False))
}
METHODS: dict[str, BaselineMethod] = {**D3RLPY_METHODS, **DIFFUSION_METHODS}


def get_method(name: str) -> BaselineMethod:
    if name not in METHODS:
        raise ValueError(f"unknown baseline method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]
