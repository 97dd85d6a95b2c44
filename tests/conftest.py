"""Shared fixtures: a tiny generated maze2d-umaze-v1 dataset and an isolated data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_STEPS = 5000


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide data dir holding ``maze2d-umaze-v1.hdf5`` (5,000 steps, seed 0)."""
    from mage.data.generate import generate_dataset

    d = tmp_path_factory.mktemp("mage_data")
    generate_dataset(
        "maze2d-umaze-v1", steps=TINY_STEPS, seed=0, out=d / "maze2d-umaze-v1.hdf5", progress=False
    )
    return d


@pytest.fixture(scope="session")
def tiny_maze2d_path(tiny_data_dir: Path) -> Path:
    """Path of the tiny generated maze2d-umaze-v1 file."""
    return tiny_data_dir / "maze2d-umaze-v1.hdf5"


@pytest.fixture
def mage_data_dir(tiny_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``$MAGE_DATA_DIR`` at the tiny data dir (and ``$D4RL_DATASET_DIR`` at an empty one), so
    ``load_dataset("maze2d-umaze-v1")`` finds the tiny file and nothing outside the test."""
    monkeypatch.setenv("MAGE_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tiny_data_dir / "no-d4rl"))
    return tiny_data_dir
