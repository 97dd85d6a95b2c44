"""Minari datasets read locally (``mage.data.minari_io``): tiny datasets written with minari's own writer
(``create_dataset_from_buffers`` over ``EpisodeBuffer``s; ``DataCollector.step`` needs jax, not installed)
into a temporary ``$MINARI_DATASETS_PATH``, read back in the D4RL layout. No network: downloads fail."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from mage.data.d4rl_io import DatasetError, DatasetNotFoundError, load_dataset
from mage.data.episodes import split_episodes
from mage.data.minari_io import load_minari, minari_root
from mage.envs.goal_obs import antmaze_flat, flatten_goal_obs

HOPPER_ID = "mujoco/hopper/medium-v0"  # listed under hopper-medium-mage (MINARI_IDS)
POINTMAZE_ID = "D4RL/pointmaze/umaze-v2"  # no task row: PointMaze is not maze2d
KITCHEN_ID = "D4RL/kitchen/complete-v2"  # listed under kitchen-complete-v0
ANTMAZE_ID = "D4RL/antmaze/umaze-v1"  # no task row: gymnasium-robotics' frame, not D4RL's
KITCHEN_TASKS = ("microwave", "kettle", "light switch", "slide cabinet")  # D4RL's complete / partial


def _write(dataset_id: str, episodes: list[dict], **kw) -> None:
    import minari
    from minari.data_collector import EpisodeBuffer

    bufs = [EpisodeBuffer(id=i, **ep) for i, ep in enumerate(episodes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eval_env None, observation-space bounds
        minari.create_dataset_from_buffers(dataset_id, bufs, algorithm_name="test", **kw)


def _buffer(v):
    """A one-entry buffer of an observation: dicts (nested too) stay dicts, leaves become lists."""
    return {k: _buffer(x) for k, x in v.items()} if isinstance(v, dict) else [v]


def _append(buf, v) -> None:
    if isinstance(v, dict):
        for k, x in v.items():
            _append(buf[k], x)
    else:
        buf.append(v)


def _rollout(env: gym.Env, seed: int, steps: int, rng: np.random.Generator, cut_flags: bool = True) -> dict:
    """One episode: T + 1 observations, T actions, rewards and flags, and one per-step info when the env has
    ``x_position`` or ``success`` (T + 1 values: the reset's first). Truncated at ``steps`` unless
    ``cut_flags`` is False (then stored without an end flag)."""
    obs, info = env.reset(seed=seed)
    key = next((k for k in ("x_position", "success") if k in info), None)
    ep: dict = {
        "observations": _buffer(obs),
        "actions": [],
        "rewards": [],
        "terminations": [],
        "truncations": [],
    }
    if key:
        ep["infos"] = {key: [info[key]]}
    for t in range(steps):
        act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        obs, r, term, trunc, info = env.step(act)
        _append(ep["observations"], obs)
        ep["actions"].append(act)
        ep["rewards"].append(r)
        ep["terminations"].append(term)
        ep["truncations"].append(bool(trunc or (t == steps - 1 and not term and cut_flags)))
        if key:
            ep["infos"][key].append(info[key])
        if term:
            break
    return ep


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A Minari root with tiny datasets: Hopper-v5 (truncated, terminated, truncated episodes), PointMaze (dict
    observations; its second episode stored without an end flag), FrankaKitchen (nested goal dicts), AntMaze,
    and two without an env (one with an end flag before its last step)."""
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    path = tmp_path_factory.mktemp("minari_root")
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        rng = np.random.default_rng(0)
        env = gym.make("Hopper-v5")
        hopper = [_rollout(env, 0, 8, rng), _rollout(env, 1, 500, rng), _rollout(env, 2, 5, rng)]
        assert hopper[1]["terminations"][-1], "random actions make the hopper fall well before 500 steps"
        _write(HOPPER_ID, hopper, env=env)
        pm_env = gym.make("PointMaze_UMaze-v3")
        maze = [_rollout(pm_env, 0, 6, rng), _rollout(pm_env, 1, 4, rng, cut_flags=False)]
        _write(POINTMAZE_ID, maze, env=pm_env)
        kitchen_env = gym.make("FrankaKitchen-v1", tasks_to_complete=list(KITCHEN_TASKS))
        kitchen = [_rollout(kitchen_env, 0, 3, rng)]
        _write(KITCHEN_ID, kitchen, env=kitchen_env)
        ant_env = gym.make("AntMaze_UMaze-v4")
        _write(ANTMAZE_ID, [_rollout(ant_env, 0, 3, rng)], env=ant_env)
        box = gym.spaces.Box(-1, 1, (2,), np.float32)
        zeros = np.zeros(2, np.float32)
        good = {"observations": [zeros] * 5, "actions": [zeros] * 4, "rewards": [0.0] * 4}
        good |= {"terminations": [False] * 4, "truncations": [False, False, False, True]}
        _write("test/no-env-v0", [good], observation_space=box, action_space=box)
        bad = good | {"terminations": [False, True, False, False]}
        _write("test/early-flag-v0", [bad], observation_space=box, action_space=box)
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = old
    return {"path": path, "hopper": hopper, "maze": maze, "kitchen": kitchen}


@pytest.fixture(autouse=True)
def _no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails the test: the reader must only read the local root."""
    import minari
    import minari.storage.hosting as hosting

    def refuse(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(hosting, "download_dataset", refuse)
    monkeypatch.setattr(minari, "download_dataset", refuse)


@pytest.fixture
def local(root: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root["path"]))
    return root


def _stack(episodes: list[dict], key: str, sub: str | None = None, first_t: bool = True) -> np.ndarray:
    parts = []
    for ep in episodes:
        T = len(ep["rewards"])
        v = np.asarray(ep[key][sub] if sub else ep[key])
        parts.append(v[:T] if first_t else v[1 : T + 1])
    return np.concatenate(parts)


def test_hopper_reads_in_the_d4rl_layout(local: dict):
    eps = local["hopper"]
    lengths = [len(e["rewards"]) for e in eps]
    d = load_minari(HOPPER_ID)  # task from MINARI_IDS: hopper-medium-mage, dims (11,), (3,) checked
    arrays = {k for k in d if not k.startswith("metadata/")}
    assert arrays == {"observations", "next_observations", "actions", "rewards", "terminals", "timeouts",
                      "infos/x_position"}  # fmt: skip
    N = sum(lengths)
    assert d["observations"].shape == (N, 11) and d["actions"].shape == (N, 3) and d["rewards"].shape == (N,)
    for k in ("observations", "next_observations", "actions", "rewards"):
        assert d[k].dtype == np.float32, k
    assert d["terminals"].dtype == bool and d["timeouts"].dtype == bool
    np.testing.assert_array_equal(d["observations"], _stack(eps, "observations").astype(np.float32))
    np.testing.assert_array_equal(
        d["next_observations"], _stack(eps, "observations", first_t=False).astype(np.float32)
    )
    np.testing.assert_array_equal(d["actions"], _stack(eps, "actions"))
    np.testing.assert_array_equal(d["rewards"], _stack(eps, "rewards").astype(np.float32))
    np.testing.assert_array_equal(d["infos/x_position"], _stack(eps, "infos", "x_position"))
    ends = np.cumsum(lengths) - 1
    assert np.flatnonzero(d["terminals"]).tolist() == [ends[1]]  # the episode that fell
    assert np.flatnonzero(d["timeouts"]).tolist() == [ends[0], ends[2]]  # cut by truncation
    assert d["metadata/task"] == "hopper-medium-mage" and d["metadata/env_id"] == "Hopper-v5"
    assert d["metadata/source"] == "minari" and d["metadata/minari_id"] == HOPPER_ID


def test_minari_path_of_load_dataset_and_prepare(local: dict):
    from mage.config import DataConfig
    from mage.data.prepare import load_episodes

    eps = local["hopper"]
    lengths = [len(e["rewards"]) for e in eps]
    direct = load_minari(HOPPER_ID, task="hopper-medium-mage")
    d = load_dataset(f"minari:{HOPPER_ID}", task="hopper-medium-mage")
    assert d.keys() == direct.keys()
    for k in d:
        np.testing.assert_array_equal(d[k], direct[k])
    split = split_episodes(d)
    assert split.lengths_E.tolist() == lengths and split.starts_E.tolist() == [0, *np.cumsum(lengths)[:-1]]
    for e, ep in enumerate(eps):
        np.testing.assert_array_equal(
            split.episode(e)["obs_TS"], np.asarray(ep["observations"][: lengths[e]], np.float32)
        )
        assert split.returns_E[e] == pytest.approx(
            float(np.sum(np.asarray(ep["rewards"], np.float32))), rel=1e-6
        )
    dc = DataConfig(dataset="hopper-medium-mage", path=f"minari:{HOPPER_ID}", diffuser_resplit=False)
    got, task = load_episodes(dc)
    assert task == "hopper-medium-mage" and got.lengths_E.tolist() == lengths


def test_dict_observations_are_flattened_with_the_goal_in_infos(local: dict):
    eps = local["maze"]
    lengths = [len(e["rewards"]) for e in eps]
    d = load_dataset(f"minari:{POINTMAZE_ID}")  # no task: no dims / env check
    assert "next_observations" not in d  # D4RL's maze files have none
    np.testing.assert_array_equal(
        d["observations"], _stack(eps, "observations", "observation").astype(np.float32)
    )
    np.testing.assert_array_equal(
        d["infos/goal"], _stack(eps, "observations", "desired_goal").astype(np.float32)
    )
    assert d["infos/success"].dtype == bool and len(d["infos/success"]) == sum(lengths)
    assert d["metadata/env_id"] == "PointMaze_UMaze-v3" and "metadata/task" not in d
    assert not d["terminals"].any()
    # episode 0 truncated; episode 1 was stored with no end flag and still ends there
    assert np.flatnonzero(d["timeouts"]).tolist() == (np.cumsum(lengths) - 1).tolist()
    assert split_episodes(d).lengths_E.tolist() == lengths


def test_kitchen_reads_as_d4rls_60_dim_vector(local: dict):
    """The task layer's kitchen rule: robot qpos (9), object qpos (21), D4RL's task goal (30)."""
    from gymnasium_robotics.envs.franka_kitchen.kitchen_env import OBS_ELEMENT_GOALS, OBS_ELEMENT_INDICES

    d = load_dataset(f"minari:{KITCHEN_ID}")  # task from MINARI_IDS: kitchen-complete-v0 (60, 9) checked
    assert d["metadata/task"] == "kitchen-complete-v0" and d["observations"].shape == (3, 60)
    goal = np.zeros(30)
    for t in KITCHEN_TASKS:
        goal[OBS_ELEMENT_INDICES[t]] = OBS_ELEMENT_GOALS[t]
    o = np.asarray(local["kitchen"][0]["observations"]["observation"][:3])
    want = np.concatenate([o[:, 0:9], o[:, 18:39], np.tile(goal, (3, 1))], axis=1).astype(np.float32)
    np.testing.assert_array_equal(d["observations"], want)
    assert "infos/goal" not in d  # the kitchen goal is inside the vector


def test_flatten_rules():
    ant = {
        "observation": np.ones((3, 27)),
        "achieved_goal": np.zeros((3, 2)),
        "desired_goal": np.full((3, 2), 5.0),
    }
    flat, goal = flatten_goal_obs(ant, "AntMaze_UMaze-v4")
    assert flat.shape == (3, 29) and (flat[:, :2] == 0).all() and (goal == 5).all()  # x, y first: D4RL's qpos
    assert (antmaze_flat(ant, np.array([4.0, 4.0]))[:, :2] == 4).all()  # our env's D4RL-frame offset
    with pytest.raises(ValueError, match="no flattening rule .*'Foo-v0'"):
        flatten_goal_obs(ant, "Foo-v0")
    with pytest.raises(ValueError, match="lacks key 'desired_goal'"):
        flatten_goal_obs({"observation": np.ones(4)}, "PointMaze_UMaze-v3")


def test_missing_dataset_says_where_and_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "root"))
    for load, name in (
        (load_minari, "mujoco/hopper/expert-v0"),
        (load_dataset, "minari:mujoco/hopper/expert-v0"),
    ):
        with pytest.raises(DatasetNotFoundError) as e:
            load(name)
        msg = str(e.value)
        assert "not in the local Minari root" in msg and str(tmp_path / "root") in msg
        assert "`minari download mujoco/hopper/expert-v0`" in msg and "never downloads" in msg
    assert not (tmp_path / "root").exists()  # nothing created, nothing fetched
    monkeypatch.delenv("MINARI_DATASETS_PATH")
    assert minari_root() == Path.home() / ".minari" / "datasets"  # minari's default
    with pytest.raises(DatasetError, match="not a Minari dataset id"):
        load_minari("no version here!")


def test_wrong_task_env_frame_and_malformed_episodes_are_refused(local: dict):
    with pytest.raises(DatasetError, match="recorded on PointMaze_UMaze-v3, but task maze2d-umaze-v1 runs"):
        load_dataset(f"minari:{POINTMAZE_ID}", task="maze2d-umaze-v1")  # same dims (4, 2), other env
    with pytest.raises(DatasetError, match="recorded on Hopper-v5, but task maze2d-umaze-v1 runs"):
        load_dataset(f"minari:{HOPPER_ID}", task="maze2d-umaze-v1")
    with pytest.raises(DatasetError, match="maze frame .* task antmaze-umaze-v2 runs D4RL's frame"):
        load_dataset(f"minari:{ANTMAZE_ID}", task="antmaze-umaze-v2")
    assert load_minari(ANTMAZE_ID)["observations"].shape == (3, 29)  # readable on its own
    with pytest.raises(DatasetError, match=r"observations have \(2,\) per step, but task .* expects \(11,\)"):
        load_minari("test/no-env-v0", task="hopper-medium-mage")
    with pytest.raises(DatasetError, match="end flag .* at step 1 of 4, before the last step"):
        load_minari("test/early-flag-v0")


def test_data_list_and_info_name_a_local_minari_dataset(local: dict, tmp_path: Path, monkeypatch, capsys):
    from mage.cli import main
    from mage.envs.registry import list_specs

    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("D4RL_DATASET_DIR", str(tmp_path / "none"))
    assert main(["data", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {s.name for s in list_specs()}  # still one row per task
    assert f"data.path=minari:{HOPPER_ID} ({local['path'] / HOPPER_ID})" in rows["hopper-medium-mage"]
    assert "minari:" not in rows["hopper-expert-mage"]  # mujoco/hopper/expert-v0 is not in this root
    assert f"data.path=minari:{KITCHEN_ID}" in rows["kitchen-complete-v0"]
    assert "minari:" not in rows["antmaze-umaze-v2"]  # present, but no task row lists it
    assert main(["data", "info", f"minari:{HOPPER_ID}"]) == 0
    assert str(local["path"] / HOPPER_ID) in capsys.readouterr().out
