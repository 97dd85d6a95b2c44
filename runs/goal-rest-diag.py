"""Issue 14 §3: what the goal model's own action does at rest, per start cell of umaze (goal (1, 1)).

python runs/goal-rest-diag.py runs/multi/NAME/checkpoint
1. the own action a0 = I(z, s0) beside the tracker's action (plan 8 steps ahead) from rest in each cell;
2. the own action at four starts for R0 from 1 to 100;
3. the decoded plan (x, y, vx, vy at steps 0..16) from (1, 2), (1, 3) and (3, 3).
"""

import sys

import numpy as np
import torch

from mage.eval.protocol import track_action
from mage.policy.mage_agent import MageAgent

torch.set_num_threads(1)
CELLS = [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)]


def at_rest(cells: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    obs = np.array([[x, y, 0.0, 0.0] for x, y in cells], dtype=np.float32)
    return obs, np.ones((len(cells), 2), dtype=np.float32)  # goal 'G' = (1, 1)


def agent(ckpt: str, r0: float) -> MageAgent:
    ag = MageAgent.from_checkpoint(ckpt, target_return=r0, rtg_update="hold")
    ag.track_lookahead = 8
    return ag


ckpt = sys.argv[1]
ag = agent(ckpt, 27.0)  # R0 = the 50th percentile of the relabelled returns
obs, goal = at_rest(CELLS)
ag.reset(len(CELLS))
a_own, nxt = ag.act(obs, goal), ag.plan_next_state(obs, goal)
for c, ao, at, n in zip(CELLS, a_own, track_action(obs, nxt), nxt):
    print(c, "own", np.round(ao, 2), "track", np.round(at, 2), "plan s8", np.round(n[:2], 2))
moving = np.array([[1.0, 2.0, 0.0, -1.0], [1.0, 2.0, 0.0, 1.0]], dtype=np.float32)
ag.reset(2)
print("(1, 2) moving v = (0, -1) / (0, 1): own", np.round(ag.act(moving, goal[:2]), 2))

starts = [(1, 2), (1, 3), (2, 3), (3, 3)]
obs, goal = at_rest(starts)
for r0 in (1, 5, 10, 20, 27, 50, 100):
    a = agent(ckpt, float(r0))
    a.reset(len(starts))
    print("R0", r0, " ".join(f"{c}:{np.round(x, 2)}" for c, x in zip(starts, a.act(obs, goal))))

starts = [(1, 2), (1, 3), (3, 3)]
obs, goal = at_rest(starts)
ag.reset(len(starts))
o, r, g = ag._inputs(obs, goal)
with torch.inference_mode():
    plan = ag.policy.plan_states(ag.tokenizer, o, r, g, ag.sampling, torch.Generator().manual_seed(0))
    s_BHS = ag._obs.unnorm(plan).numpy()
for i, c in enumerate(starts):
    print(c, "plan")
    for t in (0, 1, 2, 4, 8, 16):
        print("   t", t, np.round(s_BHS[i, t], 2))
