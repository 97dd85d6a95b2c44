"""sweeps/rtg_generalization.py: target derivation, job layout, and the real --smoke study end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweeps import rtg_generalization as rtg
from sweeps.driver.sources import Source, dataset_returns
from sweeps.driver.study import SEED_STRIDE

ROOT = Path(__file__).resolve().parents[1]


def test_targets_percentiles_and_ood_multiples() -> None:
    returns = np.array([10.0, 20.0, 30.0, 40.0, 100.0])
    t = rtg.targets_for(returns, [10, 50, 100], [1.5, 2.0])
    assert [(x.kind, x.value, x.label) for x in t] == [
        ("percentile", 10.0, "p10"),
        ("percentile", 50.0, "p50"),
        ("percentile", 100.0, "p100"),
        ("ood", 1.5, "1.5x"),
        ("ood", 2.0, "2x"),
    ]
    assert [x.target_return for x in t] == pytest.approx([14.0, 30.0, 100.0, 150.0, 200.0])


def test_jobs_cover_every_source_target_seed_with_disjoint_env_seeds() -> None:
    src = Source("r1", "mage", "maze2d-umaze-v1", "/ckpt", np.array([1.0, 2.0]), {})
    targets = rtg.targets_for(src.returns_E, [50, 100], [1.5])
    jobs = rtg.build_jobs([src, src], [targets, targets], seeds=[0, 1, 2], episodes=7)
    assert len(jobs) == 2 * 3 * 3
    per_seed = {s: {j.seed for _, _, seed, j in jobs if seed == s} for s in (0, 1, 2)}
    ranges = [set(range(min(v), min(v) + 7)) for v in per_seed.values()]
    assert all(len(v) == 1 for v in per_seed.values())  # the same env seeds for every target: paired
    assert not (ranges[0] & ranges[1] or ranges[1] & ranges[2])
    assert {j.target_return for *_, j in jobs} == {1.5, 2.0, 3.0}
    assert all(j.episodes == 7 and j.checkpoint == "/ckpt" for *_, j in jobs)


def test_cli_defaults_and_errors() -> None:
    smoke = rtg.resolve(rtg.build_parser().parse_args(["--smoke", "--tracking-uri", "sqlite:////x.db"]))
    assert (smoke.percentiles, smoke.ood_multiples, smoke.seeds, smoke.episodes) == (
        [50.0, 100.0],
        [1.5],
        [0],
        2,
    )
    full = rtg.resolve(rtg.build_parser().parse_args(["--run-ids", "a", "--tracking-uri", "sqlite:////x.db"]))
    assert full.percentiles == [10.0, 25.0, 50.0, 75.0, 90.0, 100.0] and full.ood_multiples == [
        1.25,
        1.5,
        2.0,
    ]
    assert full.seeds == [0, 1, 2] and full.episodes == 100
    with pytest.raises(SystemExit, match="not in"):
        rtg.resolve(rtg.build_parser().parse_args(["--run-ids", "a", "--percentiles", "120"]))
    with pytest.raises(SystemExit, match="--run-ids or --best-of-experiment"):
        rtg.main(["--tracking-uri", "sqlite:////nonexistent/x.db"])  # fails before starting Ray


# ----------------------------------------------------------------------------------------------------------
# End to end


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update(
        MAGE_DATA_DIR=str(root / "data"),
        D4RL_DATASET_DIR=str(root / "no-d4rl"),
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlruns.db'}",
        MLFLOW_DISABLE_TELEMETRY="true",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    )
    return env


def _run(root: Path, *args: str) -> str:
    cmd = [
        sys.executable,
        str(ROOT / "sweeps" / "rtg_generalization.py"),
        "--tracking-uri",
        f"sqlite:///{root / 'mlruns.db'}",
        "--storage",
        str(root / "ray_results"),
        "--quiet",
        *args,
    ]
    r = subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return r.stdout


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`--smoke` (trains a smoke source run, 3 targets), then `--run-ids` on that run with 2 seeds."""
    root = tmp_path_factory.mktemp("rtg-smoke")
    _run(root, "--smoke", "--name", "study-smoke")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri)
    src = client.search_runs([client.get_experiment_by_name("mage-train").experiment_id])
    assert len(src) == 1
    _run(
        root,
        "--run-ids",
        src[0].info.run_id,
        "--percentiles",
        "100",
        "--ood-multiples",
        "2",
        "--seeds",
        "0",
        "1",
        "--episodes",
        "1",
        "--num-envs",
        "1",
        "--num-actors",
        "2",
        "--name",
        "study-seeds",
    )
    return {"uri": uri, "client": client, "source": src[0]}


def _study(client, name: str) -> tuple:
    exp = client.get_experiment_by_name("mage-rtg").experiment_id
    parent = client.search_runs([exp], filter_string=f"attributes.run_name = '{name}'")[0]
    kids = client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    return parent, kids


def _episodes(client, run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(client.download_artifacts(run_id, "eval/episodes.parquet", tmp))


@pytest.mark.slow
def test_smoke_study_logs_one_child_per_target(smoke_study: dict) -> None:
    from mage.envs.registry import normalized_score

    client, source = smoke_study["client"], smoke_study["source"]
    parent, kids = _study(client, "study-smoke")
    assert parent.info.status == "FINISHED" and parent.data.tags["mage.run_type"] == "sweep"
    assert (
        parent.data.tags["mage.sweep"] == "rtg_generalization" and parent.data.metrics["study/children"] == 3
    )
    assert source.info.status == "FINISHED" and source.data.tags["mage.run_type"] == "train"
    with tempfile.TemporaryDirectory() as tmp:
        returns = np.load(
            client.download_artifacts(source.info.run_id, "checkpoint/episode_returns.npy", tmp)
        )
    expected = {
        ("percentile", "50"): np.percentile(returns, 50),
        ("percentile", "100"): returns.max(),
        ("ood", "1.5"): 1.5 * returns.max(),
    }
    got = {}
    for k in kids:
        t, m = k.data.tags, k.data.metrics
        assert k.info.status == "FINISHED"
        assert (
            t["mage.run_type"] == "eval"
            and t["mage.method"] == "mage"
            and t["mage.dataset"] == "maze2d-umaze-v1"
        )
        assert t["mage.source_run_id"] == source.info.run_id
        key = (t["mage.rtg_kind"], t["mage.rtg_value"])
        got[key] = m["eval/target_return"]
        ep = _episodes(client, k.info.run_id)
        assert len(ep) == 2 == m["eval/episodes"]
        assert list(ep.columns[:6]) == ["episode", "env_seed", "return", "length", "success", "norm_score"]
        assert (ep["target_return"] == m["eval/target_return"]).all()
        assert m["eval/return_mean"] == pytest.approx(ep["return"].mean())
        assert m["eval/norm_score"] == pytest.approx(ep["norm_score"].mean())
        np.testing.assert_allclose(
            ep["norm_score"], normalized_score("maze2d-umaze-v1", ep["return"].to_numpy())
        )
        assert m["eval/target_norm_score"] == pytest.approx(normalized_score("maze2d-umaze-v1", got[key]))
        assert m["eval/return_minus_target"] == pytest.approx(m["eval/return_mean"] - got[key])
        assert "eval/norm_score_ci95" in m
    assert got.keys() == expected.keys()
    for key, v in expected.items():
        assert got[key] == pytest.approx(v)


@pytest.mark.slow
def test_run_ids_study_with_two_seeds(smoke_study: dict) -> None:
    client, source = smoke_study["client"], smoke_study["source"]
    parent, kids = _study(client, "study-seeds")
    assert sorted((k.data.tags["mage.rtg_kind"], k.data.tags["mage.rtg_value"]) for k in kids) == [
        ("ood", "2"),
        ("percentile", "100"),
    ]
    for k in kids:
        ep = _episodes(client, k.info.run_id)
        # one episode per seed; seed s starts at env seed s * SEED_STRIDE
        assert sorted(ep["env_seed"]) == [0, SEED_STRIDE] and list(ep["episode"]) == [0, 1]
        assert k.data.metrics["eval/seeds"] == 2 and k.data.tags["mage.eval_seeds"] == "0,1"
        assert k.data.tags["mage.source_run_id"] == source.info.run_id
    assert parent.data.params["study.seeds"] == "0,1"


@pytest.mark.slow
def test_job_submit_rtg_study(smoke_study: dict, head: dict[str, str]) -> None:  # head: tests/conftest.py
    """`ray job submit` against a local head (cluster/local/ray-up.sh): the study joins it via RAY_ADDRESS."""
    env = dict(
        os.environ, RAY_AUTH_MODE=head["RAY_AUTH_MODE"], RAY_AUTH_TOKEN_PATH=head["RAY_AUTH_TOKEN_PATH"]
    )
    env.pop("RAY_ADDRESS", None)
    src = smoke_study["source"].info.run_id
    cmd = [
        str(Path(sys.executable).parent / "ray"),
        "job",
        "submit",
        "--address",
        head["dashboard"],
        "--working-dir",
        str(ROOT),
        "--",
        "python",
        "sweeps/rtg_generalization.py",
        "--run-ids",
        src,
        "--tracking-uri",
        smoke_study["uri"],
        "--percentiles",
        "100",
        "--ood-multiples",
        "1.5",
        "--seeds",
        "0",
        "--episodes",
        "1",
        "--num-envs",
        "1",
        "--name",
        "study-job",
        "--quiet",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "succeeded" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]
    parent, kids = _study(smoke_study["client"], "study-job")
    assert parent.info.status == "FINISHED" and len(kids) == 2
    assert parent.data.tags["mage.ray_address"].startswith("127.0.0.1:")  # joined the head, not embedded
    assert all(k.data.tags["mage.source_run_id"] == src for k in kids)


def test_dataset_returns_from_checkpoint_or_dataset(tmp_path: Path, tiny_maze2d_path: Path) -> None:
    from mage.data.d4rl_io import load_dataset
    from mage.data.episodes import split_episodes, with_horizon_rtg

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    cfg = {"data": {"dataset": "maze2d-umaze-v1", "path": str(tiny_maze2d_path), "diffuser_resplit": False}}
    eps = split_episodes(load_dataset(tiny_maze2d_path, task="maze2d-umaze-v1"), diffuser_resplit=False)
    got = dataset_returns(ckpt, cfg, "maze2d-umaze-v1")  # no episode_returns.npy: read the dataset
    assert len(got) > 1
    np.testing.assert_allclose(got, eps.returns_E)
    cfg_n = {"data": {**cfg["data"], "rtg_horizon": 16}}  # n-step RTG runs: percentiles of n-step returns
    want_n = with_horizon_rtg(eps, 16).returns_E
    np.testing.assert_allclose(dataset_returns(ckpt, cfg_n, "maze2d-umaze-v1"), want_n)
    np.save(ckpt / "episode_returns.npy", np.array([1.0, 5.0]))  # stored returns win
    np.testing.assert_allclose(dataset_returns(ckpt, cfg, "maze2d-umaze-v1"), [1.0, 5.0])
