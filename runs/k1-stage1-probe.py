"""Stage 1 only, K = 1 on maze2d-large (the k-large-demo sweep's tokenizer: demo preset, H = 384, 400 steps), with
validation every 50 steps and the scale of the encoder features (f2: mean f^2 per element) and of the codes (cb2:
mean squared code norm). Session 13, issue 14:
    python runs/k1-stage1-probe.py SEED ['{"tokenizer.codebook_init": "data"}']   (logs: runs/k1-stage1-probe-*.log)
base_s1 / data_s1 ran before the last-steps restart rule of 2532601, unifix_s1 / datafix_s1 with it."""
import sys, time, json, torch
from mage.config import make_config
from mage.data.prepare import prepare_data
from mage.loop import TrainHooks
from mage.tokenizer.fit import fit_tokenizer
import mage.tokenizer.quantizer as Q

seed = int(sys.argv[1]); extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
ov = {"data.dataset": "maze2d-large-v1", "tokenizer.num_scales": 1, "data.horizon": 384, "data.rtg_horizon": 384,
      "train.seed": seed, "train.steps_per_epoch": 50, "train.tokenizer_epochs": 8, **extra}
cfg = make_config("demo", ov)
data = prepare_data(cfg)
stats = {}
orig = Q.MultiScaleResidualVQ.forward
def fwd(self, f):
    if self.training:
        stats["f2"] = float(f.detach().pow(2).mean()); stats["cb2"] = float(self.codebook.weight.detach().pow(2).sum(-1).mean())
    return orig(self, f)
Q.MultiScaleResidualVQ.forward = fwd
t0 = time.time()
def report(m, save):
    print(f"{time.time()-t0:6.0f}s", {k: round(v, 4) for k, v in m.items() if k.startswith("tok/") and ("val" in k or k in ("tok/vq", "tok/rec", "tok/dead_codes"))}, {k: round(v, 3) for k, v in stats.items()}, flush=True)
fit_tokenizer(cfg, data, TrainHooks(report=report))
