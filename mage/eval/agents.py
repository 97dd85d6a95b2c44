"""Reference agents implementing ``mage.agent.Agent``: uniform random actions and D4RL's waypoint controller."""

from __future__ import annotations

import numpy as np

from mage.envs.maze_layouts import get_maze
from mage.envs.registry import get_spec
from mage.envs.waypoint_controller import GridPlanner, WaypointController


class RandomAgent:
    """Uniform actions in [low, high]^act_dim (the REF_MIN policy); ``task`` takes them from its TaskSpec."""

    def __init__(
        self, act_dim: int = 2, seed: int = 0, task: str | None = None, low: float = -1.0, high: float = 1.0
    ) -> None:
        if task is not None:
            spec = get_spec(task)
            act_dim, low, high = spec.act_dim, spec.act_low, spec.act_high
        self.act_dim, self.low, self.high = act_dim, low, high
        self.rng = np.random.default_rng(seed)
        self.num_envs = 0

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        self.num_envs = num_envs

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        return self.rng.uniform(self.low, self.high, size=(len(obs_BS), self.act_dim))

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        pass


class WaypointAgent:
    """D4RL's noiseless waypoint controller driving to the goal the env reports (``goal_BG``).

    ``reuse_controller=True`` is D4RL's REF_MAX protocol (``scripts/reference_scores/maze2d_controller.py``):
    one controller per env slot is kept across episodes and never reset, so after its first episode it
    still sits on the last waypoint of the old plan (the fixed goal does not change, so it does not re-plan)
    and steers straight at the goal. Run it with ``num_envs=1`` to match D4RL's sequential loop.
    ``reuse_controller=False`` re-plans every episode (the stronger controller).
    """

    def __init__(self, task: str, seed: int = 0, reuse_controller: bool = False) -> None:
        maze = get_spec(task).maze
        if maze is None:
            raise ValueError(f"the waypoint controller drives maze2d tasks; {task} has no maze")
        self.maze_str = get_maze(maze)
        self.planner = GridPlanner(self.maze_str)
        self.rng = np.random.default_rng(seed)
        self.reuse_controller = reuse_controller
        self.controllers: list[WaypointController] = []

    def reset(self, num_envs: int, target_return: float | np.ndarray | None = None) -> None:
        keep = self.controllers[:num_envs] if self.reuse_controller else []
        self.controllers = keep + [
            WaypointController(self.maze_str, rng=self.rng, planner=self.planner)
            for _ in range(num_envs - len(keep))
        ]

    def act(self, obs_BS: np.ndarray, goal_BG: np.ndarray | None = None) -> np.ndarray:
        if goal_BG is None:
            raise ValueError("WaypointAgent.act needs goal_BG (the env's goal per env)")
        out_BA = np.zeros((len(obs_BS), 2))
        for i, c in enumerate(self.controllers):
            o, g = obs_BS[i], goal_BG[i]
            ax, ay, _ = c.act(float(o[0]), float(o[1]), float(o[2]), float(o[3]), float(g[0]), float(g[1]))
            out_BA[i] = (ax, ay)
        return out_BA

    def observe(self, reward_B: np.ndarray, done_B: np.ndarray) -> None:
        pass
