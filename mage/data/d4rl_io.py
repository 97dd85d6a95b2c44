"""Read and write D4RL-format HDF5 files (flat datasets named by path, gzip), and find them on disk.

The reader accepts any D4RL layout (maze2d, antmaze, locomotion, kitchen, adroit): required
``observations, actions, rewards, terminals``; optional ``timeouts``, ``next_observations``, ``infos/*``,
``metadata/*``. Every problem raises ``DatasetError`` whose message names the file, the key and the fix.

Lookup order for a dataset name: explicit path, ``$MAGE_DATA_DIR`` (default ``<project>/data``, project =
``$MAGE_HOME`` or this checkout), ``$D4RL_DATASET_DIR`` (default ``~/.d4rl/datasets``), trying our file
name ``<name>.hdf5`` and D4RL's (``maze2d-umaze-sparse-v1.hdf5``, ``hopper_medium-v2.hdf5``). Shapes are checked
against the task spec's dims (``task_shapes``). Nothing is downloaded, ever. ``d4rl`` is
used only with ``use_d4rl=True`` and only to parse a file already found locally (its ``get_dataset(h5path=)``).
``minari:<dataset_id>`` (e.g. ``data.path=minari:mujoco/hopper/medium-v0``) reads a Minari dataset already in
the local Minari root into the same layout (``mage.data.minari_io``). The checks live in ``mage.data.checks``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mage.data.checks import (  # noqa: F401  (re-exported: the errors and checks are part of this API)
    BOOL_KEYS,
    FLOAT_KEYS,
    REQUIRED_KEYS,
    DatasetError,
    DatasetNotFoundError,
    task_shapes,
    validate_dataset,
)
from mage.fsutil import atomic_file, project_root


def data_dir() -> Path:
    env = os.environ.get("MAGE_DATA_DIR")
    return Path(env).expanduser() if env else project_root() / "data"


def d4rl_dataset_dir() -> Path:
    return Path(os.environ.get("D4RL_DATASET_DIR", "~/.d4rl/datasets")).expanduser()


# D4RL's gym-mujoco file names (dataset_url basenames): ``hopper-medium-replay-v2`` -> ``hopper_medium_replay-v2``.
_D4RL_LOCOMOTION = ("halfcheetah-", "hopper-", "walker2d-", "ant-")


def file_names(name: str) -> list[str]:
    """Our file name, then D4RL's (its dataset_url basename: sparse maze2d files carry ``-sparse``,
    locomotion files are ``<env>_<dataset>-v2``, the others are ``TaskSpec.d4rl_file``, e.g. antmaze's
    ``Ant_maze_u-maze_noisy_multistart_False_multigoal_False_sparse_fixed.hdf5``)."""
    names = [f"{name}.hdf5"]
    if name.startswith("maze2d-") and "-dense-" not in name and name.endswith("-v1"):
        names.append(name[: -len("-v1")] + "-sparse-v1.hdf5")
    env = next((p for p in _D4RL_LOCOMOTION if name.startswith(p)), None)
    if env is not None and name.endswith("-v2"):
        kind = name[len(env) : -len("-v2")].replace("-", "_")
        names.append(f"{env[:-1]}_{kind}-v2.hdf5")
    from mage.envs.registry import TASKS

    spec = TASKS.get(name)
    if spec is not None and spec.d4rl_file is not None and spec.d4rl_file not in names:
        names.append(spec.d4rl_file)
    return names


def default_path(name: str) -> Path:
    """Where ``mage data generate NAME`` writes by default."""
    return data_dir() / f"{name}.hdf5"


def search_paths(name: str) -> list[Path]:
    return [d / f for d in (data_dir(), d4rl_dataset_dir()) for f in file_names(name)]


def find_dataset(name_or_path: str | os.PathLike[str]) -> Path:
    """An existing file path, or the first file for a dataset name in the data dirs (``minari:<id>``: the
    dataset's directory in the local Minari root)."""
    from mage.data.minari_io import is_minari, minari_dir, minari_present

    if is_minari(name_or_path):
        dataset_id = str(name_or_path).split(":", 1)[1]
        if not minari_present(dataset_id):
            from mage.data.minari_io import load_minari

            load_minari(dataset_id)  # raises the not-in-the-local-root error (or a malformed-id one)
        return minari_dir(dataset_id)
    p = Path(name_or_path).expanduser()
    if p.suffix in (".hdf5", ".h5") or p.exists() or os.sep in str(name_or_path):
        if not p.is_file():
            raise DatasetNotFoundError(
                f"dataset file {p} does not exist; pass an existing D4RL .hdf5 file or a dataset name "
                f"(e.g. maze2d-umaze-v1) and create it with `mage data generate NAME`"
            )
        return p
    name = str(name_or_path)
    candidates = search_paths(name)
    for c in candidates:
        if c.is_file():
            return c
    searched = "\n  ".join(str(c) for c in candidates)
    from mage.envs.registry import TASKS

    spec = TASKS.get(name)
    if spec is not None and spec.recipe is None:
        fix = f"it is a D4RL dataset we cannot make here: put D4RL's {file_names(name)[-1]} in {d4rl_dataset_dir()}"
    else:
        fix = f"create it with `mage data generate {name}`"
    raise DatasetNotFoundError(
        f"no dataset file for {name!r}; searched:\n  {searched}\n{fix} (or set $MAGE_DATA_DIR / $D4RL_DATASET_DIR)"
    )


def write_d4rl_hdf5(
    path: str | os.PathLike[str], data: Mapping[str, np.ndarray], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write flat arrays (keys like ``observations`` or ``infos/goal``) gzip-compressed, plus ``metadata/*``.

    Atomic (``mage.fsutil.atomic_file``): a unique temporary sibling, fsynced, then renamed over ``path``, so
    a crash never leaves a truncated file under the final name and concurrent writers never share a temporary.
    """
    path = Path(path)
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as f:
        for key, arr in data.items():
            f.create_dataset(key, data=np.asarray(arr), compression="gzip")
        for key, val in (metadata or {}).items():
            f[f"metadata/{key}"] = val
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``metadata/*`` values of a dataset file (str for strings), without reading the arrays; None when
    the file is not readable HDF5. A file without metadata (e.g. a D4RL download) gives ``{}``."""
    p = Path(path)
    try:
        if not p.is_file() or not h5py.is_hdf5(p):
            return None
        with h5py.File(p, "r") as f:
            g = f.get("metadata")
            if not isinstance(g, h5py.Group):
                return {}
            out: dict[str, Any] = {}
            for k, v in g.items():
                if isinstance(v, h5py.Dataset):
                    val = v[()]
                    out[k] = val.decode() if isinstance(val, bytes) else val
            return out
    except OSError:
        return None


def _read_all(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetNotFoundError(
            f"dataset file {path} does not exist; create it with `mage data generate NAME` or fix the path"
        )
    if not h5py.is_hdf5(path):
        raise DatasetError(
            f"{path} is not an HDF5 file; pass a D4RL-format .hdf5 file (regenerate it with `mage data generate NAME`)"
        )
    out: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as f:

            def visit(key: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    out[key] = obj[()]

            f.visititems(visit)
    except OSError as e:
        raise DatasetError(
            f"{path}: cannot read HDF5 ({e}); the file is corrupt, regenerate or re-download it"
        ) from e
    return out


def read_d4rl_hdf5(
    path: str | os.PathLike[str],
    observation_shape: tuple[int, ...] | None = None,
    action_shape: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Read and validate one D4RL HDF5 file -> {key: array} (``metadata/*`` values as stored)."""
    p = Path(path)
    return validate_dataset(p, _read_all(p), observation_shape, action_shape)


def matching_tasks(data: Mapping[str, Any]) -> list[str]:
    """Known task names whose observation and action spaces fit the arrays' per-step shapes."""
    from mage.envs.registry import TASKS

    shapes = (tuple(np.shape(data["observations"])[1:]), tuple(np.shape(data["actions"])[1:]))
    return [t for t in TASKS if task_shapes(t) == shapes]


def _load_with_d4rl(name: str, path: Path) -> dict[str, Any] | None:
    try:
        import d4rl  # noqa: F401
        import gym
    except Exception as e:  # ImportError, or mujoco-py's plain Exception about missing MuJoCo 2.1
        warnings.warn(
            f"use_d4rl=True but d4rl does not import ({type(e).__name__}: {e}); reading {path} directly",
            stacklevel=3,
        )
        return None
    env = gym.make(name)
    return dict(env.get_dataset(h5path=str(path)))  # h5path: d4rl parses the local file, no download


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    task: str | None = None,
    use_d4rl: bool = False,
) -> dict[str, Any]:
    """Find and read a validated dataset by task/dataset name or file path.

    Shapes are checked against the task's spaces when ``task`` (or the name itself) is a known task.
    ``minari:<dataset_id>`` reads a local Minari dataset (``mage.data.minari_io.load_minari``).
    """
    from mage.data.minari_io import is_minari, load_minari

    if is_minari(name_or_path):
        return load_minari(str(name_or_path), task=task)
    path = find_dataset(name_or_path)
    obs_shape, act_shape = task_shapes(task or str(name_or_path))
    if use_d4rl:
        raw = _load_with_d4rl(task or str(name_or_path), path)
        if raw is not None:
            return validate_dataset(path, raw, obs_shape, act_shape)
    data = read_d4rl_hdf5(path, obs_shape, act_shape)
    if task is not None:
        check_recorded_task(path, data, task)
    return data


def check_recorded_task(path: Path, data: Mapping[str, Any], task: str) -> None:
    """A file that records its task (``metadata/task``: ours, Minari conversions) must hold the asked task's
    data: same shapes are not enough (every maze2d file fits every maze2d task), and a model trained on
    another maze's or the dense rewards' file would be scored as the asked task's."""
    from mage.envs.registry import TASKS

    recorded, asked = str(data.get("metadata/task", "")), TASKS.get(task.removeprefix("mage/"))
    if asked is None or recorded not in TASKS or TASKS[recorded].dataset == asked.dataset:
        return
    raise DatasetError(
        f"{path} holds the data of {recorded} (its metadata/task), not of {task} ({asked.dataset}): train with "
        f"--dataset {recorded} to use this file, or pass {task}'s own file (mage data generate {asked.dataset})"
    )
