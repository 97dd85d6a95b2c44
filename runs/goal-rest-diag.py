import numpy as np, torch, sys
torch.set_num_threads(1)
from mage.policy.mage_agent import MageAgent
from mage.eval.protocol import track_action
ck = sys.argv[1]
ag = MageAgent.from_checkpoint(ck, target_return=27.0, rtg_update="hold")
ag.track_lookahead = 8
goal = np.array([[1.0, 1.0]] * 7, dtype=np.float32)
cells = [(1,1),(1,2),(1,3),(2,3),(3,3),(3,2),(3,1)]
obs = np.array([[x, y, 0.0, 0.0] for x, y in cells], dtype=np.float32)
ag.reset(7)
a_own = ag.act(obs, goal)
nxt = ag.plan_next_state(obs, goal)
a_trk = track_action(obs, nxt)
for c, ao, at, n in zip(cells, a_own, a_trk, nxt):
    print(c, "own", np.round(ao, 2), "track", np.round(at, 2), "plan s8", np.round(n[:2], 2))
# also a moving state: (1,2) moving towards goal
obs2 = np.array([[1.0, 2.0, 0.0, -1.0], [1.0, 2.0, 0.0, 1.0]], dtype=np.float32)
ag.reset(2); print("moving (1,2) v=(0,-1) / (0,1):", np.round(ag.act(obs2, goal[:2]), 2), np.round(track_action(obs2, ag.plan_next_state(obs2, goal[:2])),2))
