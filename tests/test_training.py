import numpy as np
import pytest
import torch
from torch import nn

from mage.config import ConfigError, make_config
from mage.data.episodes import split_episodes
from mage.data.prepare import prepare_data, prepare_from_episodes
from mage.loop import DeviceBatches, TrainHooks, make_loader, run_stage
from mage.pipeline import run_local
from mage.policy.checkpoint import load_checkpoint
from mage.policy.fit import Stage2Model, freeze_for_stage2
from mage.policy.model import MagePolicy
from mage.tokenizer.fit import fit_tokenizer, tokenizer_losses
from mage.tokenizer.vqvae import TrajectoryTokenizer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


TINY = {
    "data.horizon": 16,
    "tokenizer.num_scales": 3,
    "tokenizer.downsample": 2,
    "tokenizer.codebook_size": 32,
    "tokenizer.code_dim": 8,
    "tokenizer.hidden": 16,
    "transformer.depth": 2,
    "transformer.width": 32,
    "transformer.heads": 2,
    "policy.inv_hidden": 32,
    "train.batch_size": 8,
    "train.tokenizer_epochs": 2,
    "train.policy_epochs": 2,
    "train.steps_per_epoch": 3,
    "train.warmup_steps": 2,
    "train.val_batches": 1,
    "train.device": "cpu",
}


def synthetic_episodes(n_steps: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)
    obs = np.stack([np.sin(t / 10), np.cos(t / 10), np.sin(t / 7), np.cos(t / 13)], 1).astype(np.float32)
    act = np.clip(
        np.stack([np.cos(t / 10), -np.sin(t / 10)], 1) + 0.05 * rng.normal(size=(n_steps, 2)), -1, 1
    )
    rew = (obs[:, 0] > 0.9).astype(np.float32)
    term = np.zeros(n_steps, bool)
    term[99::100] = True
    d = {"observations": obs, "actions": act.astype(np.float32), "rewards": rew, "terminals": term}
    return split_episodes(d)


def _batch(data, n=8):
    return data.train.get_batch(np.arange(0, 10 * n, 10)[:n])


def test_tiny_tokenizer_and_transformer_overfit_a_few_windows():
    torch.manual_seed(0)
    cfg = make_config("cpu", {**TINY, "tokenizer.dead_code_restart": False})
    data = prepare_from_episodes(cfg, synthetic_episodes(), "synthetic")
    batch = _batch(data)
    tok = TrajectoryTokenizer(cfg.tokenizer, 4, 2, 16)
    opt = torch.optim.Adam(tok.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        out = tokenizer_losses(tok, batch, cfg.tokenizer.lambda_cond)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else float(out["rec"].detach())
    assert float(out["rec"].detach()) < first / 5

    tok.eval()
    freeze_for_stage2(tok, True)
    pol = MagePolicy(cfg.transformer, cfg.policy, tok, 2)
    model = Stage2Model(pol, tok)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(120):
        out = model(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else float(out["ce"].detach())
    assert float(out["ce"].detach()) < first / 3
    assert float(out["acc"]) > 0.8


def test_run_local_reports_every_epoch_and_writes_a_loadable_checkpoint(tmp_path):
    cfg = make_config("cpu", TINY)
    data = prepare_from_episodes(cfg, synthetic_episodes(), "synthetic")
    logs = []
    out = run_local(cfg, tmp_path / "ck", log_fn=logs.append, data=data)
    assert [m["epoch"] for m in logs] == [1, 2, 3, 4]
    tok_keys = {
        "tok/loss",
        "tok/rec",
        "tok/vq",
        "tok/cond",
        "tok/dead_codes",
        "tok/usage_k1",
        "tok/usage_k3",
        "lr",
        "throughput/windows_per_s",
    }
    assert tok_keys <= set(logs[0])
    assert {"pol/loss", "pol/ce", "pol/inv", "pol/cond", "pol/acc"} <= set(logs[-1])
    ck = load_checkpoint(out)
    assert (
        ck.policy is not None
        and ck.meta.obs_dim == 4
        and len(ck.episode_returns) == data.episodes.num_episodes
    )
    assert ck.cfg == cfg


def test_checkpoint_with_unknown_config_key_raises(tmp_path):
    import json

    cfg = make_config("cpu", TINY)
    data = prepare_from_episodes(cfg, synthetic_episodes(), "synthetic")
    out = run_local(cfg, tmp_path / "ck", data=data)
    d = json.loads((out / "config.json").read_text())
    d["tokenizer"]["mystery"] = 1
    (out / "config.json").write_text(json.dumps(d))
    with pytest.raises(ConfigError, match="tokenizer.mystery"):
        load_checkpoint(out)


def test_report_save_fn_writes_resumable_state(tmp_path):
    cfg = make_config("cpu", TINY)
    data = prepare_from_episodes(cfg, synthetic_episodes(), "synthetic")
    saved = []

    def report(metrics, save_fn):
        d = tmp_path / f"e{metrics['epoch']}"
        save_fn(d)
        saved.append(d)

    tok = fit_tokenizer(cfg, data, TrainHooks(report=report))
    ck = load_checkpoint(saved[0])
    ts = ck.train_state
    assert ts["stage"] == "tokenizer" and ts["epoch"] == 1 and "optimizer" in ts
    # resuming from epoch 1 runs exactly the remaining epoch
    epochs = []
    fit_tokenizer(cfg, data, TrainHooks(report=lambda m, s: epochs.append(m["epoch"]), resume_state=ts))
    assert epochs == [2]
    # a policy-stage resume state skips stage 1 and restores the weights
    ts2 = {**load_checkpoint(saved[-1]).train_state, "stage": "policy"}
    tok2 = fit_tokenizer(
        cfg, data, TrainHooks(report=lambda m, s: pytest.fail("stage 1 re-ran"), resume_state=ts2)
    )
    for a, b in zip(tok.state_dict().values(), tok2.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_codebook_init_data_starts_the_codes_at_the_encoders_scale(tmp_path, monkeypatch):
    """VAR's U(+-1/V) codes sit far below the encoder's features; 'data' seeds them from one batch's features
    (and a resumed stage 1 keeps its trained codebook instead of seeding it again)."""
    data = prepare_from_episodes(make_config("cpu", TINY), synthetic_episodes(), "synthetic")
    ratio, saved = {}, []
    for init in ("uniform", "data"):
        over = {
            **TINY,
            "tokenizer.codebook_init": init,
            "train.tokenizer_epochs": 1,
            "train.steps_per_epoch": 1,
        }
        cfg = make_config("cpu", over)
        tok = fit_tokenizer(cfg, data, TrainHooks(report=lambda m, s: saved.append(s)))
        with torch.no_grad():
            f_BCh = tok.encoder(tok.make_window(*(_batch(data)[k] for k in ("obs_HS", "act_HA", "rtg_H"))))
            code_norm = tok.quantizer.codebook.weight.norm(dim=-1).mean()
        ratio[init] = float(code_norm / f_BCh.norm(dim=1).mean())
    assert ratio["uniform"] < 0.1 and 0.3 < ratio["data"] < 3, ratio
    saved[-1](tmp_path / "ck")
    ts = load_checkpoint(tmp_path / "ck").train_state
    monkeypatch.setattr(type(tok.quantizer), "init_codebook", lambda *a: pytest.fail("re-seeded on resume"))
    cfg = make_config("cpu", {**over, "train.tokenizer_epochs": 2})
    fit_tokenizer(cfg, data, TrainHooks(resume_state=ts))


def test_dead_code_restarts_stop_before_the_last_steps(monkeypatch):
    """Restarts every dead_code_every steps, but none within the last dead_code_every steps: a code re-seeded
    then is never trained against the decoder, and the checkpoint would carry it."""
    from mage.tokenizer.quantizer import MultiScaleResidualVQ

    steps: list[int] = []
    real = MultiScaleResidualVQ.restart_dead_codes
    monkeypatch.setattr(
        MultiScaleResidualVQ, "restart_dead_codes", lambda q, f: steps.append(1) or real(q, f)
    )
    over = {**TINY, "tokenizer.dead_code_every": 2, "train.tokenizer_epochs": 2, "train.steps_per_epoch": 3}
    cfg = make_config("cpu", over)
    fit_tokenizer(cfg, prepare_from_episodes(cfg, synthetic_episodes(), "synthetic"))
    assert len(steps) == 2  # after steps 2 and 4 of 6; not after 6


def test_prepare_data_on_generated_maze2d(tiny_maze2d_path):
    cfg = make_config("smoke", {"data.path": str(tiny_maze2d_path), "data.max_steps": None})
    data = prepare_data(cfg)
    item = data.train[0]
    assert item["obs_HS"].shape == (cfg.data.horizon, 4) and item["act_HA"].shape == (cfg.data.horizon, 2)
    assert data.meta.obs_dim == 4 and data.meta.act_dim == 2 and data.meta.goal_dim == 2
    assert len(data.val) > 0 and len(data.episode_returns) == data.episodes.num_episodes


# ---- train.loader / train.precision / train.compile and the per-dataset defaults -------------------------


@pytest.fixture(scope="module")
def tiny_data():
    cfg = make_config("smoke", TINY)
    return prepare_from_episodes(cfg, synthetic_episodes(), task="synthetic")


def test_device_loader_is_one_gather_per_batch_and_visits_every_window_once_per_pass(tiny_data):
    cfg = make_config("smoke", {**TINY, "train.loader": "device"})
    loader = make_loader(cfg, tiny_data.train, TrainHooks(device="cpu"), device=torch.device("cpu"))
    assert isinstance(loader, DeviceBatches)
    drawn: list[list[int]] = []
    get_batch = loader.ds.get_batch
    loader.ds.get_batch = lambda idx: drawn.append(idx.tolist()) or get_batch(idx)
    batches = list(loader)
    assert len(drawn) == len(batches) == len(tiny_data.train) // cfg.train.batch_size  # one gather each
    assert all(b["obs_HS"].shape == (cfg.train.batch_size, cfg.data.horizon, 4) for b in batches)
    first_pass = [i for d in drawn for i in d]
    assert len(set(first_pass)) == len(first_pass)  # no window twice within a pass
    list(loader)
    second_pass = [i for d in drawn[len(batches) :] for i in d]
    assert first_pass != second_pass and first_pass != sorted(first_pass)  # reshuffled every pass
    # the ordered loader yields exactly what a DataLoader collates
    ordered = make_loader(
        cfg, tiny_data.train, TrainHooks(device="cpu"), shuffle=False, device=torch.device("cpu")
    )
    dl_cfg = make_config("smoke", {**TINY, "train.loader": "dataloader"})
    dl = make_loader(dl_cfg, tiny_data.train, TrainHooks(device="cpu"), shuffle=False)
    for mine, theirs in zip(ordered, dl, strict=False):
        for k in mine:
            torch.testing.assert_close(mine[k], theirs[k])


def test_rest_weight_draws_windows_that_start_at_rest_more_often(mage_data_dir):
    over = {**TINY, "data.dataset": "maze2d-umaze-v1", "train.loader": "device"}
    uniform = prepare_data(make_config("smoke", over))
    cfg = make_config("smoke", {**over, "data.rest_weight": 20.0, "data.rest_speed": 0.5})
    data = prepare_data(cfg)
    ds = data.train
    assert uniform.train.weight_W is None and "rest_window_share" not in uniform.extras
    rest_W = np.linalg.norm(ds.episodes.obs_NS[ds.first_row_W, 2:4], axis=1) < 0.5
    p = float(rest_W.mean())
    assert 0 < p < 0.2 and data.extras["rest_window_share"] == pytest.approx(p)
    # first_row_W is each window's first step: a batch starts with those rows, normalised
    idx_B = torch.arange(0, len(ds), max(1, len(ds) // 50))
    torch.testing.assert_close(
        ds.get_batch(idx_B)["obs_HS"][:, 0],
        torch.as_tensor(data.normalizers.obs.normalize(ds.episodes.obs_NS[ds.first_row_W[idx_B.numpy()]])),
    )
    loader = make_loader(cfg, ds, TrainHooks(device="cpu"), device=torch.device("cpu"))
    drawn: list[int] = []
    get_batch = loader.ds.get_batch
    loader.ds.get_batch = lambda idx: drawn.extend(idx.tolist()) or get_batch(idx)
    for _ in range(5):
        list(loader)
    share, expected = rest_W[drawn].mean(), 20 * p / (20 * p + 1 - p)
    sigma = (expected * (1 - expected) / len(drawn)) ** 0.5
    assert abs(share - expected) < 5 * sigma and share > 5 * p  # weight 20: drawn ~20x as often
    # the sampler of a DataLoader would lose the weights: one clear error instead
    with pytest.raises(ValueError, match="train.loader=device"):
        make_loader(
            make_config("smoke", {**over, "train.loader": "dataloader"}), ds, TrainHooks(device="cpu")
        )


def test_rest_weight_needs_a_maze_and_a_positive_weight(tiny_data):
    with pytest.raises(ConfigError, match="data.rest_weight=0.0 must be > 0"):
        make_config("smoke", {**TINY, "data.rest_weight": 0.0})
    cfg = make_config("smoke", {**TINY, "data.rest_weight": 5.0})
    with pytest.raises(ValueError, match="hopper-medium-mage is not a maze2d task: set data.rest_weight=1"):
        prepare_from_episodes(cfg, synthetic_episodes(), task="hopper-medium-mage")


def test_dataloader_switch_gives_a_torch_dataloader(tiny_data):
    cfg = make_config("smoke", {**TINY, "train.loader": "dataloader"})
    assert isinstance(
        make_loader(cfg, tiny_data.train, TrainHooks(device="cpu")), torch.utils.data.DataLoader
    )


def _run(cfg, model, seen, epochs=1, **hooks):
    def loss_fn(m, batch):
        y = m(batch["obs_HS"])
        seen.append((y.dtype, type(m).__name__))
        return {"loss": y.float().pow(2).mean()}

    loader = make_loader(cfg, _data_for(cfg), TrainHooks(device="cpu"), device=torch.device("cpu"))
    run_stage(
        cfg=cfg,
        hooks=TrainHooks(device="cpu", **hooks),
        stage="tokenizer",
        model=model,
        loss_fn=loss_fn,
        train_loader=loader,
        val_loader=loader,
        device=torch.device("cpu"),
        lr=1e-3,
        epochs=epochs,
        prefix="tok",
        epoch_offset=0,
        save_fn=lambda d, s: None,
    )


_DATA = {}


def _data_for(cfg):
    if "d" not in _DATA:
        _DATA["d"] = prepare_from_episodes(make_config("smoke", TINY), synthetic_episodes(), task="s").train
    return _DATA["d"]


def test_bf16_precision_runs_the_forward_in_bfloat16_and_fp32_does_not():
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        seen = []
        _run(make_config("smoke", {**TINY, "train.precision": precision}), nn.Linear(4, 4), seen)
        assert {d for d, _ in seen} == {dtype}, precision


def test_vq_lookup_stays_fp32_under_bf16_autocast():
    from mage.tokenizer.quantizer import MultiScaleResidualVQ

    torch.manual_seed(0)
    q = MultiScaleResidualVQ(vocab_size=64, code_dim=8, schedule=(1, 2, 4))
    with torch.no_grad():  # codes ~1e-3 apart around one centre: bf16 distances tie them, fp32 does not
        q.codebook.weight.copy_(torch.randn(1, 8) + 1e-3 * torch.randn(64, 8))
    x_BlC = q.codebook.weight[:1].detach() + 1e-3 * torch.randn(4, 16, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        idx = q.lookup(x_BlC)
        w = q.codebook.weight
        naive = (x_BlC.pow(2).sum(-1, keepdim=True) - 2 * x_BlC @ w.T + w.pow(2).sum(-1)).argmin(-1)
    assert torch.equal(idx, q.lookup(x_BlC))
    assert not torch.equal(naive, idx)  # the guard matters: a bf16 lookup picks other codes


@pytest.mark.slow
def test_compile_switch_trains_through_a_compiled_module():
    seen = []
    _run(
        make_config("smoke", {**TINY, "train.compile": True, "train.steps_per_epoch": 2}),
        nn.Linear(4, 4),
        seen,
    )
    assert {name for _, name in seen} == {"OptimizedModule"}
    seen = []
    _run(make_config("smoke", {**TINY, "train.steps_per_epoch": 2}), nn.Linear(4, 4), seen)
    assert {name for _, name in seen} == {"Linear"}


def test_bad_loader_and_precision_values_name_the_field():
    with pytest.raises(ConfigError, match="train.loader"):
        make_config("smoke", {"train.loader": "gpu"})
    with pytest.raises(ConfigError, match="train.precision"):
        make_config("smoke", {"train.precision": "fp16"})


@pytest.mark.parametrize(
    ("dataset", "horizon"),
    [("maze2d-umaze-v1", 128), ("maze2d-medium-dense-v1", 256), ("maze2d-large-multi-v1", 384)],
)
def test_dataset_defaults_set_the_plan_horizon_under_preset_and_overrides(dataset, horizon):
    assert make_config("cpu", {"data.dataset": dataset}).data.horizon == horizon
    assert make_config("smoke", {"data.dataset": dataset}).data.horizon == 32  # the preset wins
    assert make_config("cpu", {"data.dataset": dataset, "data.horizon": 64}).data.horizon == 64
    np.testing.assert_equal(make_config("cpu").data.horizon, 128)


def test_on_step_hook_sees_every_optimiser_step_with_the_stage_total():
    seen = []
    cfg = make_config("smoke", {**TINY, "train.steps_per_epoch": 4})
    _run(cfg, nn.Linear(4, 4), [], epochs=2, on_step=lambda step, total: seen.append((step, total)))
    assert seen == [(i, 8) for i in range(1, 9)]
