"""Smoke MAGE on the new benchmark families: tiny generated maze2d-giant-v1 and hopper-random-mage datasets,
both training stages (``mage.pipeline.run_local``), then evaluation through the real env with the rollout
jobs (hopper episodes terminate early; the protocol switches that need a goal are refused)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mage.config import make_config
from mage.data.generate import generate_dataset
from mage.eval.jobs import RolloutJob, run_jobs
from mage.eval.protocol import EvalProtocol
from mage.pipeline import run_local
from mage.policy.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = {
    "data.horizon": 16,
    "tokenizer.num_scales": 3,
    "tokenizer.downsample": 2,
    "tokenizer.codebook_size": 32,
    "tokenizer.code_dim": 8,
    "tokenizer.hidden": 16,
    "transformer.depth": 1,
    "transformer.width": 32,
    "transformer.heads": 2,
    "policy.inv_hidden": 32,
    "train.batch_size": 16,
    "train.tokenizer_epochs": 1,
    "train.policy_epochs": 1,
    "train.steps_per_epoch": 3,
    "train.warmup_steps": 1,
    "train.val_batches": 1,
    "train.device": "cpu",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bench_train")
    generate_dataset("maze2d-giant-v1", steps=4000, seed=0, out=d / "maze2d-giant-v1.hdf5", progress=False)
    generate_dataset(
        "hopper-random-mage", steps=3000, seed=0, out=d / "hopper-random-mage.hdf5", progress=False
    )
    return d


@pytest.fixture
def env_dirs(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAGE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(data_dir / "no-d4rl"))
    return data_dir


def test_dataset_defaults_of_the_new_families():
    assert make_config("cpu", {"data.dataset": "maze2d-giant-v1"}).data.horizon == 512
    hop = make_config("cpu", {"data.dataset": "hopper-random-mage"}).data
    assert (hop.horizon, hop.diffuser_resplit) == (32, False)


def _train(task: str, out: Path) -> Path:
    cfg = make_config("smoke", {**TINY, "data.dataset": task})
    return run_local(cfg, out)


def test_smoke_mage_on_hopper_trains_and_evaluates(env_dirs: Path, tmp_path: Path):
    ck = _train("hopper-random-mage", tmp_path / "ck")
    meta = load_checkpoint(ck).meta
    assert (meta.obs_dim, meta.act_dim, meta.task) == (11, 3, "hopper-random-mage")
    job = RolloutJob("mage", str(ck), "hopper-random-mage", seed=0, target_return=None, episodes=3)
    df = run_jobs([job], num_envs=2, progress=False)
    assert len(df) == 3 and (df["length"] < 1000).all() and (df["length"] >= 1).all()  # terminated early
    assert np.isfinite(df["return"]).all() and np.isfinite(df["norm_score"]).all()
    assert df["track"].eq("R").all() and not df["success"].any()
    with pytest.raises(ValueError, match="has no goal"):
        RolloutJob("mage", str(ck), "hopper-random-mage", 0, None, 1, protocol=EvalProtocol(goal="given"))
    with pytest.raises(ValueError, match="not a maze task"):
        run_local(
            make_config(
                "smoke", {**TINY, "data.dataset": "hopper-random-mage", "data.diffuser_resplit": True}
            ),
            tmp_path / "bad",
        )


def test_smoke_mage_on_giant_trains_and_evaluates(env_dirs: Path, tmp_path: Path):
    ck = _train("maze2d-giant-v1", tmp_path / "ck")
    jobs = [
        RolloutJob("mage", str(ck), "maze2d-giant-v1", seed=0, target_return=None, episodes=2),
        RolloutJob(
            "mage", str(ck), "maze2d-giant-v1", 0, None, 2, protocol=EvalProtocol(goal="none", hold=True)
        ),
    ]
    df = run_jobs(jobs, num_envs=2, progress=False)
    assert (df["length"] == 1300).all()  # maze2d never terminates: the giant horizon
    assert np.isfinite(df["norm_score"]).all() and df["dataset"].eq("maze2d-giant-v1").all()
