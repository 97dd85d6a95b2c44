"""mage.distributed.trainer: a stage on the lean TorchTrainer starts fewer Ray actors and trains the same model.

Both runs are real ``train_stage`` calls on an embedded Ray (2 CPUs), one with Ray Train's defaults
(``MAGE_LEAN_TRAIN=0``), one lean; the actor table of the Ray session says which actors each fit() started.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mage.config import make_config
from mage.distributed.resources import Resources
from mage.distributed.trainer import LEAN_ENV, POLL_ENV, PREEMPTION_WATCHER_ENV, lean_controller_env

TINY = {
    "train.steps_per_epoch": 2,
    "train.batch_size": 16,
    "train.val_batches": 1,
    "train.tokenizer_epochs": 1,
}
UNUSED = {"DatasetManager", "PreemptionWatcher"}  # the actors a MAGE stage never needs


def test_controller_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LEAN_ENV, raising=False)
    assert lean_controller_env(1) == {POLL_ENV: "0.5", PREEMPTION_WATCHER_ENV: "0"}
    assert lean_controller_env(3) == {POLL_ENV: "0.5"}  # other nodes can be drained: keep the watcher
    monkeypatch.setenv(LEAN_ENV, "0")
    assert lean_controller_env(1) == {}


def _fit(cfg, tmp: Path, lean: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, set[str]]:
    import ray

    from mage.distributed.train import train_stage

    monkeypatch.setenv(LEAN_ENV, "1" if lean else "0")
    t0 = time.time() * 1e3
    res = train_stage("tokenizer", cfg, resources=Resources(use_gpu=False, storage_path=str(tmp)))
    started = {a["ActorClassName"] for a in ray._private.state.actors().values() if a["StartTime"] >= t0}
    return res.metrics, started


@pytest.mark.slow
def test_lean_stage_starts_fewer_actors_and_trains_the_same(
    tiny_maze2d_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mage.distributed.ray_init import init_ray, shutdown_ray

    cfg = make_config("smoke", {"data.path": str(tiny_maze2d_path), **TINY})
    shutdown_ray()
    init_ray(num_cpus=2)
    try:
        plain, plain_actors = _fit(cfg, tmp_path / "plain", False, monkeypatch)
        lean, lean_actors = _fit(cfg, tmp_path / "lean", True, monkeypatch)
    finally:
        shutdown_ray()
    assert plain_actors >= UNUSED, plain_actors  # Ray Train's defaults start them
    assert not UNUSED & lean_actors and {"TrainController", "RayTrainWorker"} <= lean_actors, lean_actors
    assert lean_actors <= plain_actors  # nothing new (the first fit also made the session's autoscaler)
    # Same seed, same data, same steps: the same losses to the last bit.
    losses = sorted(k for k in plain if k.startswith("tok/"))
    assert losses and all(plain[k] == lean[k] for k in losses), {k: (plain[k], lean[k]) for k in losses}
