"""The evaluation protocol: what the agent is told (goal), how its decision becomes an action, and the hold.

Published Maze2D numbers (Diffuser, HD) give the planner the goal, follow its planned states with a tracking
controller and hold at the goal once there (``shared/spec/protocol.md``); reward-only methods act on state and
return alone. Every evaluation records these switches, so every table row can say what it measured:

- ``goal``: ``none`` (state and target return only: track **R**) or ``given`` (the env's goal is passed to the
  agent, the fixed 'G' in single-task, the sampled goal in Multi2D: track **G**);
- ``acting``: ``own`` (the agent's own action) or ``track`` (Diffuser's controller follows the agent's planned
  next state, ``a = (wp.xy - s.xy) + (wp.v - s.v)`` clipped to the action bounds; agents that plan states);
- ``hold``: once within the goal radius, act towards (goal, zero velocity) until the agent leaves it. It reads
  the goal, so it is privileged whatever ``goal`` says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from mage.config import EvalConfig
from mage.envs.maze2d import GOAL_RADIUS
from mage.envs.registry import TaskSpec


@dataclass(frozen=True)
class EvalProtocol:
    goal: Literal["none", "given"] = "none"  # what the agent sees besides state and target return
    acting: Literal["own", "track"] = "own"  # the agent's action, or track its planned next state
    hold: bool = False  # within the goal radius: drive to (goal, v = 0) instead of the agent's action

    def __post_init__(self) -> None:
        if self.goal not in ("none", "given"):
            raise ValueError(f"protocol goal={self.goal!r} must be 'none' (track R) or 'given' (track G)")
        if self.acting not in ("own", "track"):
            raise ValueError(
                f"protocol acting={self.acting!r} must be 'own' or 'track' (follow planned states)"
            )
        if not isinstance(self.hold, bool):
            raise ValueError(f"protocol hold={self.hold!r} must be true or false")

    @property
    def track(self) -> str:
        """The information track of a row: R (reward only) or G (goal given to the agent)."""
        return "G" if self.goal == "given" else "R"

    @property
    def label(self) -> str:
        """Short row label, e.g. ``R / own`` or ``G / track + hold``."""
        return f"{self.track} / {self.acting}" + (" + hold" if self.hold else "")

    def columns(self) -> dict[str, object]:
        """The columns every episode row and every table carries."""
        return {"track": self.track, "acting": self.acting, "hold": self.hold}

    def tags(self) -> dict[str, str]:
        """MLflow tags of an evaluation run."""
        return {"mage.track": self.track, "mage.acting": self.acting, "mage.hold": str(self.hold).lower()}

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_config(cls, ec: EvalConfig) -> EvalProtocol:
        """The protocol an ``EvalConfig`` declares (``eval.goal``, ``eval.acting``, ``eval.hold``)."""
        return cls(goal=ec.goal, acting=ec.acting, hold=ec.hold)


def check_applies(protocol: EvalProtocol, spec: TaskSpec) -> None:
    """Refuse a protocol whose switches do not apply to the task: ``goal='given'`` and ``hold`` need a task
    with a goal; ``hold`` and ``acting='track'`` need maze2d's [x, y, vx, vy] point mass (Diffuser's tracker
    drives it; AntMaze has a goal, so ``goal='given'`` applies there, but no hold)."""
    if not spec.has_goal and (protocol.goal == "given" or protocol.hold):
        used = ", ".join(
            s for s, on in (("goal='given'", protocol.goal == "given"), ("hold=true", protocol.hold)) if on
        )
        raise ValueError(
            f"task {spec.name} has no goal, so protocol {used} does not apply; evaluate it with goal='none', "
            "hold=false (--protocol pure: --goal none, no --hold)"
        )
    if protocol.hold and spec.family != "maze2d":
        raise ValueError(
            f"hold drives maze2d's point mass to the goal with Diffuser's controller; task {spec.name} is "
            f"{spec.family}, evaluate it with hold=false (goal='given' still applies to tasks with a goal)"
        )
    if protocol.acting == "track" and spec.family != "maze2d":
        raise ValueError(
            f"acting='track' follows planned (x, y, vx, vy) states with Diffuser's maze2d controller; task "
            f"{spec.name} is {spec.family}, use acting='own'"
        )


PURE = EvalProtocol()  # the paper's text: state + target return, own action, no hold
PAPER = EvalProtocol(
    goal="given", acting="track", hold=True
)  # how Diffuser / HD obtained their Maze2D numbers
PROTOCOLS = {"pure": PURE, "paper": PAPER}


def track_action(
    obs_BS: np.ndarray, target_BS: np.ndarray, low: float = -1.0, high: float = 1.0
) -> np.ndarray:
    """Diffuser's maze2d controller: ``a = (wp.xy - s.xy) + (wp.v - s.v)``, clipped to the action bounds."""
    a_BA = (target_BS[:, :2] - obs_BS[:, :2]) + (target_BS[:, 2:4] - obs_BS[:, 2:4])
    return np.clip(a_BA, low, high)


def at_goal(obs_BS: np.ndarray, goal_BG: np.ndarray) -> np.ndarray:
    """Within the sparse-reward / success radius of the goal."""
    return np.linalg.norm(obs_BS[:, :2] - goal_BG[:, :2], axis=1) <= GOAL_RADIUS


def hold_action(obs_BS: np.ndarray, goal_BG: np.ndarray) -> np.ndarray:
    """The tracker aimed at (goal, zero velocity)."""
    target_BS = np.concatenate([goal_BG[:, :2], np.zeros_like(goal_BG[:, :2])], axis=1)
    return track_action(obs_BS, target_BS)
