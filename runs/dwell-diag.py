"""Issue 14: why staying at the goal is seed-dependent (the K-medium models, docs/results.md).

python runs/dwell-diag.py
For each model: put the point mass at rest on the goal and plan (32 samples per R0, the eval's sampling). Report
the fraction of the H planned steps within 0.5 of the goal (planned dwell) and the return the plan would collect,
for R0 from 10 to 256. Then the data: what 256-step windows that start at the goal do in maze2d-medium-v1.
"""

import glob

import numpy as np
import torch

from mage.data.d4rl_io import load_dataset
from mage.envs.maze_layouts import get_maze, goal_cell
from mage.policy.mage_agent import MageAgent

torch.set_num_threads(1)
ROOT = "runs/ray_kdepth_medium/train/k-medium-demo_e7a69_000{:02d}-train"
MODELS = {(1, 0): 0, (1, 1): 4, (1, 2): 8, (8, 0): 3, (8, 1): 7, (8, 2): 11}
R0S = (10, 30, 58, 100, 256)
N = 32
goal = goal_cell(get_maze("medium"))


def planned(ckpt: str, r0: float, obs: np.ndarray) -> np.ndarray:
    ag = MageAgent.from_checkpoint(ckpt, target_return=r0, rtg_update="hold", seed=0)
    ag.reset(len(obs))
    o, r, g = ag._inputs(obs, None)
    with torch.inference_mode():
        s = ag.policy.plan_states(ag.tokenizer, o, r, g, ag.sampling, ag.generator)
        s = ag._obs.unnorm(s).numpy()
    return obs[:, None, :2] + s[:, :, :2] - s[:, :1, :2]  # the tracker's reading: s_t + (ŝ_k - ŝ_0)


print("goal", goal)
for (k, seed), trial in MODELS.items():
    ckpt = sorted(glob.glob(ROOT.format(trial) + "/checkpoint_2*"))[-1]
    for label, start in (("at goal", np.r_[goal, 0, 0]), ("0.4 off", np.r_[goal + [0.4, 0], 0, 0])):
        obs = np.repeat(start[None].astype(np.float32), N, 0)
        row = []
        for r0 in R0S:
            xy = planned(ckpt, r0, obs)
            near = np.linalg.norm(xy - goal, axis=-1) <= 0.5
            row.append(f"R0={r0}: {near.mean():.2f} (leave@{np.median(np.argmin(near, 1)):.0f})")
        print(f"K={k} seed={seed} {label}: " + "  ".join(row))

data = load_dataset("maze2d-medium-v1")
obs, rew = data["observations"], data["rewards"]
H = 256
csum = np.concatenate([[0.0], np.cumsum(rew)])
win = csum[H:] - csum[:-H]
at = np.linalg.norm(obs[: len(win), :2] - goal, axis=1) <= 0.5
print(
    f"data: {at.sum()} windows start at the goal; their {H}-step return: mean {win[at].mean():.1f}, "
    f"max {win[at].max():.0f}, all windows max {win.max():.0f}"
)
stay = np.array(
    [np.argmin(np.linalg.norm(obs[i : i + H, :2] - goal, axis=1) <= 0.5) for i in np.where(at)[0][::50]]
)
print(
    f"data: steps until leaving the goal from a window that starts there: median {np.median(stay):.0f}, "
    f"90th pct {np.percentile(stay, 90):.0f}"
)
