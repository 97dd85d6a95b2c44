"""A baseline fit stopped part-way and started again with its state dir ends with the weights of an unbroken fit.

The stop is an exception from ``log_fn`` after an epoch (what a killed MLflow call or a Ctrl-C in the logging
does); the continued fit must load the weights, the optimiser (and its LR schedule), the EMA and the RNGs, and
count its logged steps from where the stopped one was.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
from test_baselines import tiny_episodes, tiny_overrides  # noqa: F401  (tiny_episodes: a fixture)
from test_diffusion_baselines import TINY

from mage.baselines.resume import STATE_FILE
from mage.baselines.train import train_baseline
from mage.config import ConfigError
from mage.data.episodes import Episodes

pytestmark = pytest.mark.usefixtures("one_thread")

TASK = "maze2d-umaze-v1"
STEPS, STOP_AT = 20, 10  # four epochs of 5 steps; stopped after the second


class Stop(Exception):
    pass


def overrides(method: str) -> dict[str, Any]:
    return TINY[method] if method in TINY else tiny_overrides(method)


def weights(out: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a saved baseline (the diffusion planners' EMA weights; every d3rlpy network)."""
    if (out / "model.pt").is_file():
        return torch.load(out / "model.pt", weights_only=True)
    import d3rlpy

    impl = d3rlpy.load_learnable(str(out / "model.d3"), device="cpu").impl
    flat = {}
    for f in dataclasses.fields(impl.modules):
        module = getattr(impl.modules, f.name)
        if isinstance(module, torch.nn.Module):
            flat.update({f"{f.name}.{k}": v for k, v in module.state_dict().items()})
    assert flat
    return flat


def fit(
    method: str, eps: Episodes, out: Path, state: Path | None, logs: list, stop_at: int | None = None
) -> Path:
    def log(metrics: dict[str, float], step: int) -> None:
        logs.append((step, metrics))
        if step == stop_at:
            raise Stop

    return train_baseline(
        method,
        overrides(method),
        eps,
        out_dir=out,
        steps=STEPS,
        seed=3,
        dataset=TASK,
        log_fn=log,
        state_dir=state,
    )


@pytest.mark.parametrize("method", ["diffuser", "hd", "dd", "bc", "td3bc", "iql", "dt"])
def test_a_stopped_fit_continues_to_the_weights_of_an_unbroken_one(
    method: str,
    tiny_episodes: Episodes,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    whole: list = []
    ref = weights(fit(method, tiny_episodes, tmp_path / "whole", None, whole))

    state, first, second = tmp_path / "state", [], []
    with pytest.raises(Stop):
        fit(method, tiny_episodes, tmp_path / "broken", state, first, stop_at=STOP_AT)
    saved = torch.load(state / STATE_FILE, weights_only=False)
    assert saved["step"] == STOP_AT
    got = weights(fit(method, tiny_episodes, tmp_path / "broken", state, second))

    assert [s for s, _ in first] == [5, 10] and [s for s, _ in second] == [15, 20]
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(ref[k], got[k]), f"{method}: {k} differs from the unbroken fit"
    assert not (state / STATE_FILE).exists()  # removed once the final model was saved


def test_the_equality_above_needs_the_restored_rngs(
    tiny_episodes: Episodes,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: continued without restoring the RNGs (weights and optimiser still loaded), the fit draws
    other batches and ends elsewhere, so the equality above is not a trivial one."""
    import mage.baselines.resume as resume

    ref = weights(fit("diffuser", tiny_episodes, tmp_path / "whole", None, []))
    with pytest.raises(Stop):
        fit("diffuser", tiny_episodes, tmp_path / "b", tmp_path / "s", [], stop_at=STOP_AT)
    monkeypatch.setattr(resume, "set_rng_state", lambda state: None)
    logs: list = []
    got = weights(fit("diffuser", tiny_episodes, tmp_path / "b", tmp_path / "s", logs))
    assert [s for s, _ in logs] == [15, 20]
    assert any(not torch.equal(ref[k], got[k]) for k in ref)


def test_a_state_of_another_fit_is_refused_and_kept(tiny_episodes: Episodes, tmp_path: Path) -> None:  # noqa: F811
    state = tmp_path / "state"
    with pytest.raises(Stop):
        fit("diffuser", tiny_episodes, tmp_path / "a", state, [], stop_at=STOP_AT)
    before = (state / STATE_FILE).read_bytes()
    with pytest.raises(
        ConfigError, match=r"train_state\.pt is the training state of another fit.*remove the file"
    ):
        train_baseline(
            "diffuser", {**TINY["diffuser"], "learning_rate": 1e-3}, tiny_episodes, out_dir=tmp_path / "b",
            steps=STEPS, seed=3, dataset=TASK, state_dir=state,
        )  # fmt: skip
    assert (state / STATE_FILE).read_bytes() == before


@pytest.mark.slow
def test_run_baseline_continues_a_stopped_fit_in_its_ray_task(tiny_maze2d_path: Path, tmp_path: Path) -> None:
    """The sweep path: ``run_baseline`` with the trial's state dir trains in a Ray task that continues the
    stopped fit (tag ``mage.resumed_from_step``, epochs logged once each) and removes the state at the end."""
    from mage.config import make_config
    from mage.data.prepare import load_episodes
    from mage.distributed.baselines import run_baseline
    from mage.distributed.ray_init import init_ray, shutdown_ray
    from mage.distributed.resources import Resources
    from mage.tracking import query
    from mage.tracking.context import Tracking

    cfg = make_config("smoke", {"data.path": str(tiny_maze2d_path), "eval.episodes": 2, "eval.num_envs": 2})
    eps, task = load_episodes(cfg.data)
    state = tmp_path / "state"
    with pytest.raises(Stop):
        train_baseline(
            "bc", tiny_overrides("bc"), eps, out_dir=tmp_path / "a", steps=STEPS, seed=cfg.train.seed,
            dataset=task, log_fn=lambda m, s: (_ for _ in ()).throw(Stop()) if s == STOP_AT else None,
            state_dir=state,
        )  # fmt: skip
    store = f"sqlite:///{tmp_path / 'mlruns.db'}"
    shutdown_ray()
    init_ray(num_cpus=2)
    try:
        res = run_baseline(
            cfg, "bc", overrides=tiny_overrides("bc"), steps=STEPS, resources=Resources(use_gpu=False, num_actors=0),
            tracking=Tracking(store, "test-resume"), state_dir=str(state),
        )  # fmt: skip
    finally:
        shutdown_ray()
    run = query.get_run(res.run_id, tracking_uri=store)
    assert run.data.tags["mage.resumed_from_step"] == str(STOP_AT)
    hist = query.metric_history(res.run_id, ["loss"], tracking_uri=store)
    assert hist["step"].tolist() == [15, 20]
    assert not (state / STATE_FILE).exists() and res.metrics["eval/episodes"] == 2
