import numpy as np, torch, sys
torch.set_num_threads(1)
from mage.policy.mage_agent import MageAgent
ck = sys.argv[1]
cells = [(1,2),(1,3),(3,3)]
obs = np.array([[x, y, 0.0, 0.0] for x, y in cells], dtype=np.float32)
goal = np.array([[1.0, 1.0]] * len(cells), dtype=np.float32)
ag = MageAgent.from_checkpoint(ck, target_return=27.0, rtg_update="hold")
ag.reset(len(cells))
o, r, g = ag._inputs(obs, goal)
gen = torch.Generator().manual_seed(0)
with torch.inference_mode():
    s = ag._obs.unnorm(ag.policy.plan_states(ag.tokenizer, o, r, g, ag.sampling, gen)).numpy()
    a = ag.act(obs, goal)
for i, c in enumerate(cells):
    print(c, "own a0", np.round(a[i], 2))
    for t in (0, 1, 2, 4, 8, 16):
        print("   t", t, np.round(s[i, t], 2))
