"""What a validated dataset dict is, whatever its source (D4RL HDF5 files, Minari datasets): the errors, the
key / dtype / length / shape / finiteness checks, and the shapes a task expects.

``mage.data.d4rl_io`` and ``mage.data.minari_io`` both validate through ``validate_dataset``, so a dataset
reads the same way from either source; every problem raises ``DatasetError`` naming the dataset, the key and
the fix. ``d4rl_io`` re-exports these names (``from mage.data.d4rl_io import DatasetError`` keeps working).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
FLOAT_KEYS = ("observations", "actions", "rewards", "next_observations")
BOOL_KEYS = ("terminals", "timeouts")


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file, the key and the fix."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """No file for a dataset name in any of the searched places."""


def _as_bool(path: Path, key: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iuf":
        bad = ~np.isin(arr, (0, 1))
        if not bad.any():
            return arr.astype(bool)
        raise DatasetError(
            f"{path}: key {key!r} must be boolean (0/1), found value {arr[bad][0]!r}; store it as bool"
        )
    raise DatasetError(f"{path}: key {key!r} has dtype {arr.dtype}, expected bool; store it as bool")


def validate_dataset(
    path: Path,
    raw: dict[str, Any],
    observation_shape: tuple[int, ...] | None = None,
    action_shape: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Check keys, dtypes, lengths, shapes and finiteness; returns the arrays (bool flags as bool)."""
    for key in REQUIRED_KEYS:
        if key not in raw:
            present = ", ".join(sorted(k for k in raw if not k.startswith("metadata/"))) or "none"
            raise DatasetError(
                f"{path}: required key {key!r} is missing (present: {present}); a D4RL dataset needs "
                f"{', '.join(REQUIRED_KEYS)} — regenerate it with `mage data generate NAME`"
            )
    data: dict[str, Any] = {}
    for key, val in raw.items():
        if key.startswith("metadata/"):
            data[key] = val.decode() if isinstance(val, bytes) else val
            continue
        arr = np.asarray(val)
        if arr.ndim == 0:
            raise DatasetError(f"{path}: key {key!r} is a scalar, expected an array with one row per step")
        if key in FLOAT_KEYS and arr.dtype.kind != "f":
            raise DatasetError(
                f"{path}: key {key!r} has dtype {arr.dtype}, expected a float type; store it as float32"
            )
        if key in BOOL_KEYS:
            arr = _as_bool(path, key, arr)
        data[key] = arr
    n = len(data["observations"])
    for key, arr in data.items():
        if not key.startswith("metadata/") and len(arr) != n:
            raise DatasetError(
                f"{path}: key {key!r} has {len(arr)} rows but 'observations' has {n}; every per-step key "
                f"must have the same length — the file is truncated or mixed, regenerate it"
            )
    if data["rewards"].ndim == 2 and data["rewards"].shape[1] == 1:
        data["rewards"] = data["rewards"][:, 0]
    for key, nd in (("observations", 2), ("actions", 2), ("rewards", 1), ("terminals", 1)):
        if data[key].ndim != nd:
            raise DatasetError(
                f"{path}: key {key!r} has shape {data[key].shape}, expected {nd} dimension(s) (N{', dim' * (nd - 1)})"
            )
    for key, want in (("observations", observation_shape), ("actions", action_shape)):
        if want is not None and tuple(data[key].shape[1:]) != tuple(want):
            raise DatasetError(
                f"{path}: key {key!r} has per-step shape {data[key].shape[1:]}, but the task's space has "
                f"{tuple(want)}; this file belongs to another task — pass the matching dataset"
            )
    for key, arr in data.items():
        if not key.startswith("metadata/") and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            row = int(np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[0, 0])
            raise DatasetError(
                f"{path}: key {key!r} contains NaN or inf (first at row {row}); clean or regenerate the dataset"
            )
    return data


def task_shapes(name: str) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(observation shape, action shape) of a known task (its TaskSpec dims: maze2d (4,), (2,); hopper
    (11,), (3,)); (None, None) for any other name."""
    from mage.envs.registry import TASKS

    spec = TASKS.get(name.removeprefix("mage/"))
    if spec is not None:
        return (spec.obs_dim,), (spec.act_dim,)
    return None, None
