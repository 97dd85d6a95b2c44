"""Issue 14: closed loop from the goal. For each K-medium model, 16 episodes start at rest within U(+-0.1) of the
goal and run 256 steps in R / track (R0 = the eval's, hold, lookahead 8). Reports the dwell (share of steps within
0.5), the first step outside, the tracker's waypoint at rest on the goal
(d = s_8 - s_0 of the plan; sampling is greedy, so
all samples agree) and where the episodes end.

python runs/dwell-diag2.py [K,SEED ...]   # e.g. 1,0 8,2; default every model
"""

import glob
import sys

import numpy as np
import torch

from mage.envs.make import make_env
from mage.envs.maze_layouts import get_maze, goal_cell
from mage.eval.protocol import track_action
from mage.eval.rtg import resolve_target_return
from mage.policy.mage_agent import MageAgent

torch.set_num_threads(1)
ROOT = "runs/ray_kdepth_medium/train/k-medium-demo_e7a69_000{:02d}-train"
MODELS = {
    (1, 0): 0,
    (1, 1): 4,
    (1, 2): 8,
    (2, 0): 1,
    (2, 1): 5,
    (2, 2): 9,
    (4, 0): 2,
    (4, 1): 6,
    (4, 2): 10,
    (8, 0): 3,
    (8, 1): 7,
    (8, 2): 11,
}
goal = goal_cell(get_maze("medium"))
N, T = 16, 256

for (k, seed), trial in MODELS.items():
    if sys.argv[1:] and f"{k},{seed}" not in sys.argv[1:]:
        continue
    ckpt = sorted(glob.glob(ROOT.format(trial) + "/checkpoint_2*"))[-1]
    probe = MageAgent.from_checkpoint(ckpt, target_return=0.0)
    ec = probe.cfg.eval
    r0 = resolve_target_return(
        probe.episode_returns, target_return=ec.target_return, rtg_percentile=ec.rtg_percentile
    )
    ag = MageAgent.from_checkpoint(ckpt, target_return=r0, rtg_update="hold", seed=0)
    ag.track_lookahead = 8
    # waypoint direction at rest on the goal
    ag.reset(32)
    rest = np.repeat(np.r_[goal, 0, 0][None].astype(np.float32), 32, 0)
    d = ag.plan_next_state(rest)[:, :2] - goal
    # closed loop
    envs = [make_env("maze2d-medium-v1") for _ in range(N)]
    rng = np.random.default_rng(0)
    obs = []
    for e in envs:
        e.reset(seed=0)
        e.unwrapped.set_state(goal + rng.uniform(-0.1, 0.1, 2), np.zeros(2))
        obs.append(e.unwrapped._obs())
    obs = np.array(obs, dtype=np.float32)
    ag.reset(N)
    near = np.zeros((N, T), bool)
    for t in range(T):
        near[:, t] = np.linalg.norm(obs[:, :2] - goal, axis=1) <= 0.5
        act = track_action(obs, ag.plan_next_state(obs))
        obs = np.array([e.step(a)[0] for e, a in zip(envs, act)], dtype=np.float32)
    left = np.where(near.all(1), T, np.argmin(near, 1))
    tail = (
        f"final xy {np.round(obs[:, :2].mean(0), 2)} speed {np.linalg.norm(obs[:, 2:4], axis=1).mean():.2f}"
    )
    print(
        f"K={k} seed={seed} R0={r0:.0f}: {tail}, dwell {near.mean():.2f}, first step outside median {np.median(left):.0f} "
        f"(stayed all {T}: {int((left == T).sum())}/{N}), waypoint |d| {np.linalg.norm(d, axis=1).mean():.2f}, "
        f"mean d {np.round(d.mean(0), 2)}",
        flush=True,
    )
