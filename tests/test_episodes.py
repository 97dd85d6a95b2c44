from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mage.data.episodes import (
    maze2d_set_terminals,
    returns_to_go,
    split_episodes,
    windowed_returns,
    with_horizon_rtg,
)
from mage.data.normalization import DatasetNormalizers, Normalizer
from mage.data.windows import WindowDataset


def _stream() -> dict[str, np.ndarray]:
    # 10 steps: episodes [0..2], [3..6] (terminal at 6), trailing partial [7..9]
    n = 10
    obs = np.zeros((n, 4), np.float32)
    obs[:, 0] = np.arange(n)
    return {
        "observations": obs,
        "actions": np.tile(np.array([[0.5, -0.5]], np.float32), (n, 1)),
        "rewards": np.arange(n, dtype=np.float32),
        "terminals": np.array([0, 0, 0, 0, 0, 0, 1, 0, 0, 0], bool),
        "timeouts": np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], bool),
    }


def test_split_keeps_trailing_partial_and_rtg():
    ep = split_episodes(_stream())
    assert ep.starts_E.tolist() == [0, 3, 7]
    assert ep.lengths_E.tolist() == [3, 4, 3]
    assert ep.returns_E.tolist() == [0 + 1 + 2, 3 + 4 + 5 + 6, 7 + 8 + 9]
    assert ep.rtg_N.tolist() == [3, 3, 2, 18, 15, 11, 6, 24, 17, 9]
    assert ep.episode_N.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(ep.goal_EG, [[2, 0], [6, 0], [9, 0]])  # final xy
    sub = ep.select(np.array([2, 0]))
    assert sub.lengths_E.tolist() == [3, 3] and sub.starts_E.tolist() == [0, 3]
    assert sub.rtg_N.tolist() == [24, 17, 9, 3, 3, 2]


def test_rtg_matches_loop():
    rng = np.random.default_rng(0)
    rew = rng.normal(size=50)
    starts, lengths = np.array([0, 7, 30]), np.array([7, 23, 20])
    want = np.concatenate([np.cumsum(rew[s : s + n][::-1])[::-1] for s, n in zip(starts, lengths)])
    np.testing.assert_allclose(returns_to_go(rew, starts, lengths), want)


def test_windowed_returns_match_loop_and_stop_at_episode_end():
    rng = np.random.default_rng(1)
    rew = rng.normal(size=50)
    starts, lengths = np.array([0, 7, 30]), np.array([7, 23, 20])
    for n in (1, 5, 100):
        want = [rew[t : min(t + n, s + m)].sum() for s, m in zip(starts, lengths) for t in range(s, s + m)]
        np.testing.assert_allclose(windowed_returns(rew, starts, lengths, n), want)
    np.testing.assert_allclose(
        windowed_returns(rew, starts, lengths, 100), returns_to_go(rew, starts, lengths)
    )
    with pytest.raises(ValueError, match="n=0"):
        windowed_returns(rew, starts, lengths, 0)


def test_horizon_rtg_episodes():
    ep = with_horizon_rtg(split_episodes(_stream()), 2)
    assert ep.rtg_N.tolist() == [1, 3, 2, 7, 9, 11, 6, 15, 17, 9]
    assert ep.returns_E.tolist() == [3, 11, 17]  # best 2-step return per episode (percentile targets)
    assert ep.lengths_E.tolist() == [3, 4, 3]


def test_max_steps_and_trim_and_goal_source():
    data = _stream()
    data["infos/goal"] = np.full((10, 2), 7.0, np.float32)
    ep = split_episodes(data, max_steps=5)
    assert ep.lengths_E.tolist() == [3, 2]
    ep = split_episodes(data, trim_last_step=True, goal_source="infos")
    assert ep.lengths_E.tolist() == [2, 3, 2]
    assert ep.obs_NS[:, 0].tolist() == [0, 1, 3, 4, 5, 7, 8]
    np.testing.assert_array_equal(ep.goal_EG, np.full((3, 2), 7.0))
    with pytest.raises(ValueError, match="goal_xy"):
        split_episodes(data, diffuser_resplit=True)


def test_diffuser_resplit_on_handmade_stream():
    # x positions; goal at (0, 0), radius 0.5 (strict <): at_goal = [F, T, T, F, F, T, F, T, T, T]
    x = np.array([2.0, 0.2, 0.4, 0.6, 3.0, 0.0, 0.5, 0.1, 0.0, 0.3], np.float32)
    obs = np.zeros((10, 4), np.float32)
    obs[:, 0] = x
    t = maze2d_set_terminals(obs, np.zeros(2))
    assert t.tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    data = {
        "observations": obs,
        "actions": np.zeros((10, 2), np.float32),
        "rewards": (np.abs(x) <= 0.5).astype(np.float32),
        "terminals": np.zeros(10, bool),
        "timeouts": np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], bool),  # replaced by the re-split
    }
    ep = split_episodes(data, diffuser_resplit=True, goal_xy=np.zeros(2))
    assert ep.starts_E.tolist() == [0, 3, 6] and ep.lengths_E.tolist() == [3, 3, 4]
    assert ep.returns_E.tolist() == [2, 1, 4]


def test_split_1m_steps_is_fast():
    import time

    n = 1_000_000
    rng = np.random.default_rng(0)
    data = {
        "observations": rng.normal(size=(n, 4)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        "rewards": (rng.uniform(size=n) < 0.1).astype(np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": rng.uniform(size=n) < 0.01,
    }
    t0 = time.perf_counter()
    ep = split_episodes(data, diffuser_resplit=True, goal_xy=np.zeros(2))
    ds = WindowDataset(ep, DatasetNormalizers.fit(ep), horizon=32, stride=4)
    ds.get_batch(np.arange(256))
    assert time.perf_counter() - t0 < 10.0


@pytest.mark.parametrize("kind", ["standard", "minmax", "scale", "identity"])
def test_normalizer_round_trip_and_json(kind):
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(100, 3))
    n = Normalizer.fit(x, kind)
    y = n.normalize(x)
    np.testing.assert_allclose(n.unnormalize(y), x, rtol=1e-5, atol=1e-5)
    if kind == "minmax":
        assert y.min() == pytest.approx(-1, abs=1e-5) and y.max() == pytest.approx(1, abs=1e-5)
    if kind == "standard":
        np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    n2 = Normalizer.from_dict(json.loads(json.dumps(n.to_dict())))
    np.testing.assert_allclose(n2.normalize(x), y)
    t = torch.as_tensor(x, dtype=torch.float32)
    np.testing.assert_allclose(n.normalize(t).numpy(), y, rtol=1e-4, atol=1e-5)


def test_dataset_normalizers_defaults_and_serialisation():
    ep = split_episodes(_stream())
    norms = DatasetNormalizers.fit(ep)
    assert (norms.obs.kind, norms.act.kind, norms.rtg.kind) == ("standard", "identity", "scale")
    assert float(norms.rtg.div) == 24.0  # max episode return
    np.testing.assert_allclose(norms.goal.shift, norms.obs.shift[:2])
    back = DatasetNormalizers.from_dict(json.loads(json.dumps(norms.to_dict())))
    np.testing.assert_allclose(back.obs.normalize(ep.obs_NS), norms.obs.normalize(ep.obs_NS))
    with pytest.raises(ValueError, match="kind"):
        Normalizer.fit(ep.obs_NS, "bogus")


def test_windows_padding_and_batch_contract():
    ep = split_episodes(_stream())
    norms = DatasetNormalizers.fit(ep, obs_kind="identity", rtg_kind="identity")
    ds = WindowDataset(ep, norms, horizon=4)
    assert len(ds) == 10  # one window per step
    item = ds[1]  # episode 0 from t=1: steps 1, 2 then 2 pads
    assert set(item) == {"obs_HS", "act_HA", "rtg_H", "mask_H", "goal_G"}
    assert item["obs_HS"].shape == (4, 4) and item["obs_HS"].dtype == torch.float32
    assert item["mask_H"].tolist() == [1, 1, 0, 0]
    assert item["obs_HS"][:, 0].tolist() == [1, 2, 2, 2]  # last state repeats
    assert item["act_HA"][2:].abs().sum() == 0 and item["rtg_H"].tolist() == [3, 2, 0, 0]
    assert item["goal_G"].tolist() == [2, 0]
    batch = ds.get_batch([1, 3, 9])
    assert batch["obs_HS"].shape == (3, 4, 4) and batch["goal_G"].shape == (3, 2)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=False)
    first = next(iter(loader))
    b2 = ds.get_batch([0, 1, 2])
    for k in first:
        torch.testing.assert_close(first[k], b2[k])
    strided = WindowDataset(ep, norms, horizon=4, stride=2)
    assert len(strided) == 2 + 2 + 2
    sub = WindowDataset(ep, norms, horizon=2, episode_indices=np.array([1]))
    assert len(sub) == 4 and sub[3]["mask_H"].tolist() == [1, 0]
