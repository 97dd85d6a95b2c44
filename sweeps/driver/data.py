"""Datasets of a sweep: generated locally when missing (never downloaded); smoke runs use small separate files."""

from __future__ import annotations

import os
from pathlib import Path

SMOKE_DATA_STEPS = 30_000  # a smoke dataset: ~1 s to generate, enough windows for the smoke preset
FULL_DATA_STEPS = 1_000_000  # D4RL's maze2d size


def dataset_file_name(name: str) -> str:
    """The dataset a task trains on (Multi2D tasks share the single-task file)."""
    from mage.envs.registry import get_spec

    return get_spec(name).dataset


def smoke_data_path(name: str) -> Path:
    from mage.data.d4rl_io import data_dir

    return data_dir() / "smoke" / f"{dataset_file_name(name)}.hdf5"


def ensure_dataset(name: str, *, smoke: bool) -> str | None:
    """Path of the dataset file to use, generated locally when missing (never downloaded).

    Smoke runs use a separate small file (``<data dir>/smoke/``) so they never shadow the full dataset.
    Returns the explicit path to put in ``data.path`` (smoke), or None to let the name be looked up.
    """
    from mage.data.d4rl_io import DatasetNotFoundError, find_dataset
    from mage.data.generate import generate_dataset

    name = dataset_file_name(name)
    if smoke:
        path = smoke_data_path(name)
        steps = SMOKE_DATA_STEPS
    else:
        try:
            find_dataset(name)
            return None
        except DatasetNotFoundError:
            from mage.data.d4rl_io import default_path

            path, steps = default_path(name), FULL_DATA_STEPS
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside and rename: parallel trials/drivers never see a half-written file.
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.hdf5")
        print(f"[sweep] generating {name} ({steps} steps) -> {path}", flush=True)
        generate_dataset(name, steps=steps, seed=0, out=tmp, progress=False)
        os.replace(tmp, path)
    return str(path) if smoke else None
