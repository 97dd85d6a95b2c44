from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from mage.data.d4rl_io import (
    DatasetError,
    DatasetNotFoundError,
    find_dataset,
    load_dataset,
    read_d4rl_hdf5,
    write_d4rl_hdf5,
)


def _good(n: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "observations": rng.normal(size=(n, 4)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        "rewards": np.zeros(n, np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": np.zeros(n, bool),
        "infos/goal": np.ones((n, 2), np.float32),
    }


def test_round_trip_and_metadata(tmp_path: Path):
    p = write_d4rl_hdf5(tmp_path / "x.hdf5", _good(), {"task": "maze2d-umaze-v1", "seed": 3})
    d = read_d4rl_hdf5(p, (4,), (2,))
    for k, v in _good().items():
        np.testing.assert_array_equal(d[k], v)
    assert d["metadata/seed"] == 3 and d["metadata/task"] == "maze2d-umaze-v1"
    with h5py.File(p) as f:
        assert f["observations"].compression == "gzip"


def test_int_flags_become_bool(tmp_path: Path):
    d = _good()
    d["terminals"] = np.array([0, 1] * 10, dtype=np.int8)
    p = write_d4rl_hdf5(tmp_path / "x.hdf5", d)
    out = read_d4rl_hdf5(p)
    assert out["terminals"].dtype == bool and out["terminals"].sum() == 10


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("actions"), "required key 'actions' is missing"),
        (
            lambda d: d.__setitem__("observations", np.zeros((20, 4), np.int64)),
            "'observations' has dtype int64",
        ),
        (lambda d: d.__setitem__("terminals", np.full(20, 2, np.int64)), "'terminals' must be boolean"),
        (lambda d: d.__setitem__("rewards", np.zeros(19, np.float32)), "'rewards' has 19 rows"),
        (lambda d: d.__setitem__("infos/goal", np.zeros((21, 2), np.float32)), "'infos/goal' has 21 rows"),
        (
            lambda d: d["observations"].__setitem__((5, 1), np.nan),
            "'observations' contains NaN or inf .*row 5",
        ),
        (lambda d: d["actions"].__setitem__((7, 0), np.inf), "'actions' contains NaN or inf .*row 7"),
    ],
)
def test_rejections(tmp_path: Path, mutate, match):
    d = _good()
    mutate(d)
    p = write_d4rl_hdf5(tmp_path / "bad.hdf5", d)
    with pytest.raises(DatasetError, match=match) as e:
        read_d4rl_hdf5(p)
    assert str(p) in str(e.value)


def test_shape_vs_space(tmp_path: Path):
    p = write_d4rl_hdf5(tmp_path / "x.hdf5", _good())
    with pytest.raises(DatasetError, match=r"'observations' has per-step shape \(4,\).*\(29,\)"):
        read_d4rl_hdf5(p, observation_shape=(29,))
    with pytest.raises(DatasetError, match="'actions' has per-step shape"):
        read_d4rl_hdf5(p, action_shape=(8,))


def test_not_hdf5_and_missing(tmp_path: Path):
    bad = tmp_path / "junk.hdf5"
    bad.write_text("not hdf5")
    with pytest.raises(DatasetError, match="not an HDF5 file"):
        read_d4rl_hdf5(bad)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        read_d4rl_hdf5(tmp_path / "nope.hdf5")
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        find_dataset(tmp_path / "nope.hdf5")


def test_lookup_order_and_not_found_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mage_dir, d4rl_dir = tmp_path / "mage", tmp_path / "d4rl"
    monkeypatch.setenv("MAGE_DATA_DIR", str(mage_dir))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(d4rl_dir))
    with pytest.raises(DatasetNotFoundError) as e:
        find_dataset("maze2d-medium-v1")
    msg = str(e.value)
    assert "mage data generate maze2d-medium-v1" in msg
    assert (
        str(mage_dir / "maze2d-medium-v1.hdf5") in msg
        and str(d4rl_dir / "maze2d-medium-sparse-v1.hdf5") in msg
    )
    # D4RL's file name in the D4RL cache dir is found ...
    write_d4rl_hdf5(d4rl_dir / "maze2d-medium-sparse-v1.hdf5", _good())
    assert find_dataset("maze2d-medium-v1") == d4rl_dir / "maze2d-medium-sparse-v1.hdf5"
    # ... and $MAGE_DATA_DIR wins over it
    write_d4rl_hdf5(mage_dir / "maze2d-medium-v1.hdf5", _good())
    assert find_dataset("maze2d-medium-v1") == mage_dir / "maze2d-medium-v1.hdf5"
    assert load_dataset("maze2d-medium-v1")["observations"].shape == (20, 4)


def test_load_dataset_checks_task_spaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    d = _good()
    d["observations"] = np.zeros((20, 6), np.float32)
    write_d4rl_hdf5(tmp_path / "maze2d-umaze-v1.hdf5", d)
    with pytest.raises(DatasetError, match="another task"):
        load_dataset("maze2d-umaze-v1")


def test_a_file_that_records_another_task_is_refused_for_the_asked_one(tmp_path: Path):
    """Every maze2d file fits every maze2d task's shapes; the recorded task (``metadata/task``) tells them apart,
    so an umaze file given as medium (or as the dense task) fails, while its Multi2D task and a file that
    records nothing (D4RL's own) load."""
    path = tmp_path / "u.hdf5"
    write_d4rl_hdf5(path, _good(), {"task": "maze2d-umaze-v1"})
    for asked in ("maze2d-medium-v1", "maze2d-umaze-dense-v1"):
        with pytest.raises(DatasetError, match=f"holds the data of maze2d-umaze-v1 .*, not of {asked}"):
            load_dataset(path, task=asked)
    assert len(load_dataset(path, task="maze2d-umaze-multi-v1")["observations"]) == 20
    write_d4rl_hdf5(tmp_path / "d4rl.hdf5", _good())
    assert len(load_dataset(tmp_path / "d4rl.hdf5", task="maze2d-medium-v1")["observations"]) == 20


def test_use_d4rl_without_d4rl_falls_back(tiny_maze2d_path: Path):
    with pytest.warns(UserWarning, match="d4rl does not import"):
        d = load_dataset(tiny_maze2d_path, task="maze2d-umaze-v1", use_d4rl=True)
    assert len(d["observations"]) == 5000


def test_generated_file_fits_env_spaces(tiny_maze2d_path: Path, mage_data_dir: Path):
    from mage.envs import make_env

    d = load_dataset("maze2d-umaze-v1")
    env = make_env("maze2d-umaze-v1")
    assert all(env.observation_space.contains(o.astype(np.float64)) for o in d["observations"][:100])
    assert all(env.action_space.contains(a) for a in d["actions"][:100])
