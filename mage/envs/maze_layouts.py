"""D4RL maze layouts, verbatim from ``d4rl/pointmaze/maze_model.py`` (rows separated by ``\\``), plus OGBench's
giant layout in the same notation.

Grid convention (D4RL's): ``maze_arr[i, j]`` is row ``i`` (the i-th line) and column ``j``; the point
mass at qpos ``(x, y) = (i, j)`` is at the centre of cell ``(i, j)``. Observations are in these grid
coordinates, so the U-maze goal 'G' at line 1, column 1 is ``(1.0, 1.0)``.
"""

from __future__ import annotations

import numpy as np

WALL, EMPTY, GOAL = 10, 11, 12

U_MAZE = "#####\\#GOO#\\###O#\\#OOO#\\#####"

MEDIUM_MAZE = "########\\#OO##OO#\\#OO#OOO#\\##OOO###\\#OO#OOO#\\#O#OO#O#\\#OOO#OG#\\########"

LARGE_MAZE = (
    "############\\"
    "#OOOO#OOOOO#\\"
    "#O##O#O#O#O#\\"
    "#OOOOOO#OOO#\\"
    "#O####O###O#\\"
    "#OO#O#OOOOO#\\"
    "##O#O#O#O###\\"
    "#OO#OOO#OGO#\\"
    "############"
)

# OGBench's ``giant`` maze map (``ogbench/locomaze/maze.py``, maze_type='giant', seohongpark/ogbench@1d41409;
# 1 = wall -> '#', 0 = free -> 'O'), 12 rows x 16 columns, 86 free cells, longest shortest path 31 cells (large:
# 19). OGBench has no single goal; 'G' marks the goal cell (10, 14) of its default evaluation task ``task1``
# (start (1, 1) -> goal (10, 14), 30 cells apart), so the single-task env has D4RL's fixed-goal semantics.
# Geometry is D4RL's (one unit per cell, the point mass of maze2d), not OGBench's (4 units per cell).
GIANT_MAZE = (
    "################\\"
    "#O#OOOOOO##OOOO#\\"
    "#O#O##O#O#OO##O#\\"
    "#OOO#OO#OOO#OOO#\\"
    "#O###O######O#O#\\"
    "#OOO#OOO#OOOO#O#\\"
    "###O#O#OO#O#O###\\"
    "#OOO#OO#OOO#OOO#\\"
    "#O#O#O######O#O#\\"
    "#O###OOO#OOO##O#\\"
    "#OOOOO#OOO#OOOG#\\"
    "################"
)

MAZES: dict[str, str] = {"umaze": U_MAZE, "medium": MEDIUM_MAZE, "large": LARGE_MAZE, "giant": GIANT_MAZE}


def parse_maze(maze_str: str) -> np.ndarray:
    """Maze string -> int array (rows, cols) of WALL / EMPTY / GOAL, like D4RL's ``parse_maze``."""
    lines = maze_str.strip().split("\\")
    if len({len(line) for line in lines}) != 1:
        raise ValueError(f"maze rows have different lengths: {lines!r}")
    codes = {"#": WALL, "G": GOAL, " ": EMPTY, "O": EMPTY, "0": EMPTY}
    arr_RC = np.zeros((len(lines), len(lines[0])), dtype=np.int32)
    for i, line in enumerate(lines):
        for j, tile in enumerate(line):
            if tile not in codes:
                raise ValueError(f"unknown maze tile {tile!r} at row {i}, column {j}; use '#', 'O' or 'G'")
            arr_RC[i, j] = codes[tile]
    return arr_RC


def get_maze(maze: str) -> str:
    """Maze string for a layout name (``umaze``, ``medium``, ``large``, ``giant``)."""
    if maze not in MAZES:
        raise KeyError(f"unknown maze {maze!r}; choose one of {', '.join(MAZES)}")
    return MAZES[maze]


def reset_cells(maze_str: str) -> np.ndarray:
    """D4RL's ``empty_and_goal_locations``: sorted EMPTY cells, then the GOAL cell; (n, 2) float64."""
    arr = parse_maze(maze_str)
    empty = sorted(zip(*np.where(arr == EMPTY), strict=True))
    goal = list(zip(*np.where(arr == GOAL), strict=True))
    return np.array(empty + goal, dtype=np.float64)


def goal_cell(maze_str: str) -> np.ndarray:
    """The fixed evaluation goal (the single 'G' cell) as float (x, y)."""
    arr = parse_maze(maze_str)
    cells = np.argwhere(arr == GOAL)
    if len(cells) != 1:
        raise ValueError(f"maze must have exactly one 'G' cell, found {len(cells)}")
    return cells[0].astype(np.float64)
