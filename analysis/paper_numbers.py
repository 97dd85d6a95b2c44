"""QUOTED numbers from the papers, never measured here. Every entry names its source.

Normalised scores (D4RL convention, 100 = expert reference). Values are copied from
shared/spec/baselines.md §6 and shared/spec/method.md §10, which cite:

- HD: Chen et al., "Simple Hierarchical Planning with Diffusion" (ICLR 2024), Table 1 (Maze2D, Multi2D,
  AntMaze) and Table 2 (Gym-MuJoCo, Kitchen). HD averages over 100 planning seeds (Maze2D), 5 (MuJoCo).
- MAGE: the MAGE paper (ICLR 2026), main results table; per-task Maze2D values were not retrieved, only the
  averages. Entries tagged "[S]" in the spec come from a secondary source and keep that tag here.
- Track-R (reward only) Maze2D numbers of DT, QDT and LPT: shared/spec/protocol.md §4.

Every row also says the protocol it was measured under (shared/spec/protocol.md), like our measured rows:
``track`` R (reward only) / G (goal given) and the switches (``own`` action or state ``track``ing, ``+ hold``).
Diffuser and HD give the planner the goal, track its planned states and hold at the goal, open loop (§1, §2);
IQL/CQL/DT/QDT/LPT on Maze2D get no goal and act themselves (§4); Multi2D IQL gets hindsight-relabelled goals
(§4); MAGE's protocol is not published (§6): ``G?``. Rows the spec does not cover say ``?`` / not stated.
"""

from __future__ import annotations

from dataclasses import dataclass

HD_SOURCE = "HD paper (Chen et al., ICLR 2024), Table 1"
HD_T2_SOURCE = "HD paper (Chen et al., ICLR 2024), Table 2"
MAGE_SOURCE = "MAGE paper (ICLR 2026), main results [S]"
DF_SOURCE = "Diffusion Forcing paper, as reproduced [S]"
CQL_SOURCE = "Diffuser table as reproduced in the Diffusion-Forcing paper [S]"
DT_QDT_SOURCE = "QDT paper, via LPT paper Table 2 (shared/spec/protocol.md §4)"
LPT_SOURCE = "LPT paper, target returns 165/280/275, no goal input (shared/spec/protocol.md §4)"

# Column order of the Maze2D/Multi2D tables.
MAZES = ("umaze", "medium", "large")
MAZE_TITLES = {"umaze": "U-Maze", "medium": "Medium", "large": "Large"}


@dataclass(frozen=True)
class Protocol:
    """How a quoted number was measured: track R / G (G?: not published, ?: not stated) and the switches;
    `acting` / `hold` are None when unknown, `note` qualifies them (open loop, hindsight goals, ...)."""

    track: str
    acting: str | None
    hold: bool | None
    note: str = ""

    @property
    def switches(self) -> str:
        if self.acting is None:
            return self.note or "not stated"
        text = f"{self.acting}{' + hold' if self.hold else ''}"
        return f"{text} ({self.note})" if self.note else text

    @property
    def label(self) -> str:
        return f"{self.track} / {self.switches}"


# Diffuser / HD harness: goal inpainted, planned states tracked by a controller, hold at the goal (§1, §2).
PLANNER_G = Protocol("G", "track", True, "open loop")
REWARD_R = Protocol("R", "own", False)  # reward only: state (+ return), no goal, own action, no hold (§4)
HINDSIGHT_G = Protocol("G", "own", False, "hindsight goals")  # Multi2D IQL (§4)
UNPUBLISHED = Protocol("G?", None, None, "not published")  # MAGE (§6): very likely the HD harness [I]
UNSTATED = Protocol("?", None, None, "not stated")  # not covered by shared/spec/protocol.md


@dataclass(frozen=True)
class QuotedRow:
    """One method's reported scores on a suite; `per_task` maps maze -> (mean, std or None)."""

    method: str
    suite: str  # "maze2d" | "multi2d"
    per_task: dict[str, tuple[float, float | None]]
    average: float | None
    source: str
    protocol: Protocol = UNSTATED

    @property
    def track(self) -> str:
        return self.protocol.track

    @property
    def switches(self) -> str:
        return self.protocol.switches


def _row(
    method: str,
    suite: str,
    u,
    m,
    lg,
    avg: float | None,
    source: str = HD_SOURCE,
    protocol: Protocol = UNSTATED,
) -> QuotedRow:
    def cell(v):
        return v if isinstance(v, tuple) else (v, None)

    per = {k: cell(v) for k, v in zip(MAZES, (u, m, lg)) if v is not None}
    return QuotedRow(method, suite, per, avg, source, protocol)


# HD Table 1, Maze2D single task (IQL: the Diffuser authors' runs), then the track-R numbers of protocol.md §4
# (same reward and normalisation, no goal, no hold; the papers give no three-maze average).
MAZE2D: tuple[QuotedRow, ...] = (
    _row("MPPI", "maze2d", 33.2, 10.2, 5.1, 16.2),
    _row("CQL", "maze2d", 5.7, 5.0, 12.5, 7.7, CQL_SOURCE, REWARD_R),
    _row("IQL", "maze2d", 47.4, 34.9, 58.6, 47.0, protocol=REWARD_R),
    _row("DT", "maze2d", 31.0, 8.2, 2.3, None, DT_QDT_SOURCE, REWARD_R),
    _row("QDT", "maze2d", 57.3, 13.3, 31.0, None, DT_QDT_SOURCE, REWARD_R),
    _row("LPT", "maze2d", 65.4, 20.6, 37.2, None, LPT_SOURCE, REWARD_R),
    _row("Diffuser", "maze2d", (113.9, 3.1), (121.5, 2.7), (123.0, 6.4), 119.5, protocol=PLANNER_G),
    _row("HDMI", "maze2d", (120.1, 2.5), (121.8, 1.6), (128.6, 2.9), 123.5),
    _row("HD", "maze2d", (128.4, 3.6), (135.6, 3.0), (155.8, 2.5), 139.9, protocol=PLANNER_G),
    _row("Diffusion Forcing", "maze2d", 116.7, 149.4, 159.0, 141.7, DF_SOURCE),
    _row("MAGE (paper)", "maze2d", None, None, None, 153.3, MAGE_SOURCE, UNPUBLISHED),
)

# HD Table 1, Multi2D (random goal per episode: every method needs the goal, protocol.md §5).
MULTI2D: tuple[QuotedRow, ...] = (
    _row("MPPI", "multi2d", 41.2, 15.4, 8.0, 21.5),
    _row("IQL", "multi2d", 24.8, 12.1, 13.9, 16.9, protocol=HINDSIGHT_G),
    _row("Diffuser", "multi2d", (128.9, 1.8), (127.2, 3.4), (132.1, 5.8), 129.4, protocol=PLANNER_G),
    _row("HDMI", "multi2d", (131.3, 1.8), (131.6, 1.9), (135.4, 2.5), 132.8),
    _row("HD", "multi2d", (144.1, 1.2), (140.2, 1.6), (165.5, 0.6), 149.9, protocol=PLANNER_G),
    _row("MAGE (paper)", "multi2d", None, None, None, 155.0, MAGE_SOURCE, UNPUBLISHED),
)

# Suites the platform does not run yet, kept for reference in reports (averages only).
OTHER_AVERAGES: dict[str, dict[str, tuple[float, str]]] = {
    "antmaze": {"HD": (88.8, HD_SOURCE), "ADT": (78.1, MAGE_SOURCE), "MAGE (paper)": (89.7, MAGE_SOURCE)},
    "kitchen": {"HD-DA": (72.5, HD_T2_SOURCE), "MAGE (paper)": (88.8, MAGE_SOURCE)},
    "mujoco-9": {
        "BC": (51.9, HD_T2_SOURCE),
        "CQL": (77.6, HD_T2_SOURCE),
        "IQL": (77.0, HD_T2_SOURCE),
        "DT": (74.7, HD_T2_SOURCE),
        "TT": (78.9, HD_T2_SOURCE),
        "MOReL": (72.9, HD_T2_SOURCE),
        "Diffuser": (77.5, HD_T2_SOURCE),
        "HDMI": (82.6, HD_T2_SOURCE),
        "HD-DA": (84.6, HD_T2_SOURCE),
    },
}

SUITES: dict[str, tuple[QuotedRow, ...]] = {"maze2d": MAZE2D, "multi2d": MULTI2D}

# The MAGE paper's ablation table (shared/spec/method.md §10.3, a secondary source [S]): Adroit pen-expert and
# door-cloned, datasets this platform does not run (ours are Maze2D), so a report marks them as other datasets.
# Keyed by our row name (sweeps/ablations.py; "a_cql" is our reading of A + CQL, mage.eval.critic). The states-only
# and actions-only rows were not retrieved.
ABLATION_SOURCE = "MAGE paper (ICLR 2026), ablation table [S] (shared/spec/method.md §10.3)"
ABLATION_DATASETS = ("pen-expert", "door-cloned")


@dataclass(frozen=True)
class QuotedAblation:
    """One row of the paper's ablation table: our row name, the paper's label, scores per paper dataset."""

    row: str
    label: str
    scores: dict[str, float]
    source: str = ABLATION_SOURCE


def _abl(row: str, label: str, pen: float, door: float) -> QuotedAblation:
    return QuotedAblation(row, label, dict(zip(ABLATION_DATASETS, (pen, door))))


ABLATIONS: tuple[QuotedAblation, ...] = (
    _abl("ours", "K = 8 (ours)", 147.8, 20.5),
    _abl("k1", "K = 1 (single scale)", 123.5, 5.2),
    _abl("a_cql", "gen. scheme A + CQL", 127.6, 4.9),
    _abl("scheme_rsa", "gen. scheme (R, S, A)", 124.9, 17.2),
    _abl("no_cond_decoder", "w/o D' (condition-guided decoder)", 140.3, 12.3),
    _abl("no_rtg_later_scales", "w/o RTG in m_{k>1}", 139.5, 16.3),
    _abl("no_l_cond", "w/o L_cond", 139.9, 17.1),
)
