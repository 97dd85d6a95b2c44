"""D4RL's maze2d ``WaypointController`` (``d4rl/pointmaze/waypoint_controller.py``), re-implemented.

Planner: tabular Q-iteration on the maze grid (5 actions NOOP, UP (0,-1), DOWN (0,+1), LEFT (-1,0),
RIGHT (+1,0) in D4RL's order, deterministic moves, reward 1 for acting from the target cell, 50 iterations,
γ = 0.99), then a greedy rollout of at most 100 cells. Ties go to the first action, as ``np.argmax`` does
in D4RL. The iteration is vectorised over all cells and the cell path is cached per (start, target) cell,
so re-planning costs a dict lookup; only the waypoint jitter is drawn per plan.

Controller: every intermediate waypoint is jittered by ``-U(0,1)*0.2`` per axis (the final one is the
exact target cell); ``a = 10*(wp - pos) - 1*vel`` clipped to [-1, 1]; the next waypoint is taken when within
0.1 of the current one and slow, where "speed" is the position change since the last call (D4RL's quirk:
with the ±5 velocity clip and dt 0.01 that change is always < 0.1, so effectively only distance counts);
``done`` when within 0.1 of the (grid-rounded) target and slow. The per-step code is plain Python floats:
it runs a million times per dataset, and small-numpy calls would dominate the run time.
"""

from __future__ import annotations

import math

import numpy as np

from mage.envs.maze_layouts import WALL, parse_maze

# D4RL gridcraft ACT_DICT order: NOOP, UP, DOWN, LEFT, RIGHT.
_MOVES = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))


class GridPlanner:
    """Q-iteration shortest paths on a maze grid, cached per (start cell, target cell)."""

    def __init__(self, maze_str: str, num_itrs: int = 50, discount: float = 0.99, max_ts: int = 100) -> None:
        self.arr_RC = parse_maze(maze_str)
        self.rows, self.cols = self.arr_RC.shape
        self.num_itrs, self.discount, self.max_ts = num_itrs, discount, max_ts
        n = self.rows * self.cols
        # next_SA[s, a]: cell index after action a from cell s (illegal moves -> stay, D4RL's NOOP fallback).
        next_SA = np.empty((n, len(_MOVES)), dtype=np.int64)
        for i in range(self.rows):
            for j in range(self.cols):
                s = self.index(i, j)
                for a, (di, dj) in enumerate(_MOVES):
                    ni, nj = i + di, j + dj
                    legal = 0 <= ni < self.rows and 0 <= nj < self.cols and self.arr_RC[ni, nj] != WALL
                    next_SA[s, a] = self.index(ni, nj) if legal else s
        self.next_SA = next_SA
        self._paths: dict[tuple[int, int, int, int], list[tuple[int, int]]] = {}

    def index(self, i: int, j: int) -> int:
        return i * self.cols + j

    def q_values(self, target: tuple[int, int]) -> np.ndarray:
        """Q (cells, 5) after ``num_itrs`` sweeps of q = r + γ max_a' q(s', a')."""
        r_S = np.zeros(self.rows * self.cols)
        r_S[self.index(*target)] = 1.0
        q_SA = np.zeros_like(self.next_SA, dtype=np.float64)
        for _ in range(self.num_itrs):
            v_S = q_SA.max(axis=1)
            q_SA = r_S[:, None] + self.discount * v_S[self.next_SA]
        return q_SA

    def steps_to(self, target: tuple[int, int]) -> np.ndarray:
        """Exact moves from every cell to ``target`` (rows, cols) by breadth-first search over ``next_SA``; -1 for
        walls and cells that cannot reach it (all -1 when ``target`` is a wall). Moves are symmetric, so this is
        also the distance from ``target``. Unlike ``path`` it has no iteration or length cap."""
        dist_S = np.full(self.rows * self.cols, -1, dtype=np.int64)
        i, j = target
        if 0 <= i < self.rows and 0 <= j < self.cols and self.arr_RC[i, j] != WALL:
            dist_S[self.index(i, j)] = 0
            frontier = [self.index(i, j)]
            while frontier:
                nxt = []
                for s in frontier:
                    for s2 in self.next_SA[s]:
                        if dist_S[s2] < 0:
                            dist_S[s2] = dist_S[s] + 1
                            nxt.append(s2)
                frontier = nxt
        return dist_S.reshape(self.rows, self.cols)

    def path(self, start: tuple[int, int], target: tuple[int, int]) -> list[tuple[int, int]]:
        """Cells visited by the greedy rollout from ``start`` (excluded) to ``target`` (included)."""
        key = (*start, *target)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        for name, (i, j) in (("start", start), ("target", target)):
            if not (0 <= i < self.rows and 0 <= j < self.cols):
                raise ValueError(f"{name} cell {(i, j)} is outside the {self.rows}x{self.cols} maze")
        q_SA = self.q_values(target)
        s, t = self.index(*start), self.index(*target)
        cells = []
        for _ in range(self.max_ts):
            s = int(self.next_SA[s, int(np.argmax(q_SA[s]))])
            cells.append(divmod(s, self.cols))
            if s == t:
                break
        self._paths[key] = cells
        return cells


class WaypointController:
    """D4RL's waypoint PD controller; one instance per env (it remembers its waypoints)."""

    def __init__(
        self,
        maze_str: str,
        solve_thresh: float = 0.1,
        p_gain: float = 10.0,
        d_gain: float = -1.0,
        rng: np.random.Generator | None = None,
        planner: GridPlanner | None = None,
    ) -> None:
        self.planner = planner or GridPlanner(maze_str)
        self.solve_thresh, self.p_gain, self.d_gain, self.vel_thresh = solve_thresh, p_gain, d_gain, 0.1
        self.rng = rng if rng is not None else np.random.default_rng()
        self.reset()

    def reset(self) -> None:
        """Forget the plan (D4RL's initial ``_target`` is (0, 0), a wall cell, so the first call plans)."""
        self._tx, self._ty = 0, 0
        self._wps: list[tuple[float, float]] = []
        self._wp_idx = 0
        self._prev_x, self._prev_y = 0.0, 0.0
        self._planned = False

    def _new_target(self, x: float, y: float, ti: int, tj: int) -> None:
        si, sj = round(x), round(y)
        cells = self.planner.path((si, sj), (ti, tj))
        jitter = self.rng.uniform(size=(len(cells), 2)) * 0.2
        self._wps = [
            (float(ci), float(cj)) if (ci, cj) == (ti, tj) else (ci - jitter[k, 0], cj - jitter[k, 1])
            for k, (ci, cj) in enumerate(cells)
        ]
        self._wp_idx = 0
        self._prev_x, self._prev_y = float(si), float(sj)  # D4RL stores the rounded start cell here
        self._tx, self._ty = ti, tj
        self._planned = True

    def act(
        self, x: float, y: float, vx: float, vy: float, gx: float, gy: float
    ) -> tuple[float, float, bool]:
        """Action (ax, ay) and ``done`` for position, velocity and target, all plain floats."""
        ti, tj = round(gx), round(gy)
        if not self._planned or ti != self._tx or tj != self._ty:
            self._new_target(x, y, ti, tj)
        dist = math.hypot(x - self._tx, y - self._ty)
        vel_norm = math.hypot(self._prev_x - x, self._prev_y - y)
        not_solved = dist >= self.solve_thresh or vel_norm >= self.vel_thresh
        if not_solved:
            wx, wy = self._wps[self._wp_idx]
        else:
            wx, wy = float(self._tx), float(self._ty)
        ax = self.p_gain * (wx - x) + self.d_gain * vx
        ay = self.p_gain * (wy - y) + self.d_gain * vy
        if (
            not_solved
            and math.hypot(x - wx, y - wy) < self.solve_thresh
            and vel_norm < self.vel_thresh
            and self._wp_idx < len(self._wps) - 1
        ):
            self._wp_idx += 1
        self._prev_x, self._prev_y = x, y
        ax = -1.0 if ax < -1.0 else (1.0 if ax > 1.0 else ax)
        ay = -1.0 if ay < -1.0 else (1.0 if ay > 1.0 else ay)
        return ax, ay, not not_solved

    def get_action(
        self, pos_2: np.ndarray, vel_2: np.ndarray, target_2: np.ndarray
    ) -> tuple[np.ndarray, bool]:
        """D4RL's signature: ``(action (2,), done)``."""
        ax, ay, done = self.act(
            float(pos_2[0]),
            float(pos_2[1]),
            float(vel_2[0]),
            float(vel_2[1]),
            float(target_2[0]),
            float(target_2[1]),
        )
        return np.array([ax, ay]), done
