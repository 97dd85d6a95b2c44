"""analysis/ on MLflow stores: a store written in the documented schema through the real MLflow client
(unit tests of the reader), and a store filled by REAL smoke sweeps (slow, end to end)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from analysis import hierarchy_depth, main_table, paper_numbers, rtg_generalization  # noqa: E402
from analysis.tables import (  # noqa: E402
    DIAGNOSTIC_TITLES,
    episode_diagnostics,
    mean_ci,
    protocol_label,
    with_protocol,
)
from mage.eval.protocol import PAPER, PURE, EvalProtocol  # noqa: E402
from mage.tracking.query import NoRunsError, load_runs  # noqa: E402
from mage.tracking.query import load_experiment_episodes as load_episodes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Schema fixture: per-episode norm scores are deterministic so the tests can recompute every number.
RTG_TARGETS = [("percentile", 50.0, 80.0), ("percentile", 100.0, 150.0), ("ood", 1.5, 225.0)]
D4RL_UMAZE = (23.85, 161.86)


def _norm(ret: np.ndarray) -> np.ndarray:
    lo, hi = D4RL_UMAZE
    return 100 * (ret - lo) / (hi - lo)


def _episodes_for(src: int, target: float, n: int = 6) -> np.ndarray:
    # achieved return rises with the target and saturates: a plausible shape with exact, known values
    base = min(target, 160.0) * (0.9 + 0.05 * src)
    return base + np.arange(n, dtype=float) * 3.0


def assert_png(path: Path, min_w: int = 300, min_h: int = 200) -> None:
    import matplotlib.image as mpimg

    assert path.exists(), path
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] >= min_h and img.shape[1] >= min_w, img.shape
    assert float(np.std(img[..., :3])) > 0.01, "blank image"


def _log_run(
    client,
    root: Path,
    exp_id: str,
    name: str,
    tags: dict,
    metrics: dict,
    parent: str | None = None,
    params: dict | None = None,
    episodes: pd.DataFrame | None = None,
) -> str:
    """One finished run in the documented schema (tags, params, metrics, ``eval/episodes.parquet``)."""
    t = {"mlflow.runName": name, **{k: str(v) for k, v in tags.items()}}
    if parent:
        t["mlflow.parentRunId"] = parent
    r = client.create_run(exp_id, tags=t, run_name=name)
    rid = r.info.run_id
    for k, v in (params or {}).items():
        client.log_param(rid, k, v)
    for k, v in metrics.items():
        client.log_metric(rid, k, float(v))
    if episodes is not None:
        p = root / "tmp" / rid / "episodes.parquet"
        p.parent.mkdir(parents=True)
        episodes.to_parquet(p, index=False)
        client.log_artifact(rid, str(p), "eval")
    client.set_terminated(rid)
    return rid


def fill_schema_store(root: Path) -> str:
    """A sqlite store with mage-rtg, mage-hierarchy-depth and mage-train in docs/architecture.md's schema."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri)
    art = (root / "mlartifacts").as_uri()

    def exp(name: str) -> str:
        return client.create_experiment(name, artifact_location=f"{art}/{name}")

    def run(*args, **kwargs) -> str:
        return _log_run(client, root, *args, **kwargs)

    # RTG study: one source run on umaze, two source runs on medium (CI over source runs there).
    e = exp("mage-rtg")
    parent = run(e, "rtg-study", {"mage.run_type": "sweep", "mage.sweep": "rtg_generalization"}, {})
    for ds, srcs in (("maze2d-umaze-v1", [0]), ("maze2d-medium-v1", [0, 1])):
        for src in srcs:
            for kind, value, target in RTG_TARGETS:
                ret = _episodes_for(src, target)
                ns = _norm(ret)
                eps = pd.DataFrame(
                    {
                        "episode": np.arange(len(ret)),
                        "env_seed": 100 + np.arange(len(ret)),
                        "return": ret,
                        "length": np.full(len(ret), 300),
                        "success": ret > 100,
                        "norm_score": ns,
                        "norm_score_ours": ns * 0.9,
                        "target_return": target,
                        "method": "mage",
                        "dataset": ds,
                    }
                )
                m, c, n = mean_ci(ns)
                run(
                    e,
                    f"{ds}-src{src}-{kind}{value:g}",
                    {
                        "mage.run_type": "eval",
                        "mage.method": "mage",
                        "mage.dataset": ds,
                        "mage.rtg_kind": kind,
                        "mage.rtg_value": value,
                        "mage.source_run_id": f"train-{ds}-{src}",
                    },
                    {
                        "eval/norm_score": m,
                        "eval/norm_score_ci95": c,
                        "eval/return_mean": ret.mean(),
                        "eval/target_return": target,
                        "eval/episodes": n,
                        "eval/target_norm_score": float(_norm(np.array([target]))[0]),
                    },
                    parent=parent,
                    episodes=eps,
                )

    # Hierarchy depth: K x seed grid; score = 50 + 10 K + seed.
    e = exp("mage-hierarchy-depth")
    parent = run(e, "hd-sweep", {"mage.run_type": "sweep", "mage.sweep": "hierarchy_depth"}, {})
    for k in (1, 2, 4):
        for seed in (0, 1, 2):
            run(
                e,
                f"K{k}-s{seed}",
                {
                    "mage.run_type": "trial",
                    "mage.method": "mage",
                    "mage.dataset": "maze2d-umaze-v1",
                    "mage.K": k,
                    "mage.seed": seed,
                },
                {"eval/norm_score": 50 + 10 * k + seed, "eval/episodes": 10},
                parent=parent,
                params={"tokenizer.num_scales": k, "train.seed": seed},
            )

    # Main table: umaze 3 seeds, medium 2 seeds, multi-umaze 1 seed, one eval run (not counted).
    e = exp("mage-train")
    for ds, scores in (
        ("maze2d-umaze-v1", [100.0, 110.0, 120.0]),
        ("maze2d-medium-v1", [90.0, 94.0]),
        ("maze2d-umaze-multi-v1", [130.0]),
    ):
        for seed, s in enumerate(scores):
            run(
                e,
                f"train-{ds}-{seed}",
                {"mage.run_type": "train", "mage.method": "mage", "mage.dataset": ds, "mage.seed": seed},
                {"eval/norm_score": s, "eval/episodes": 20},
            )
    run(
        e,
        "stray-eval",
        {
            "mage.run_type": "eval",
            "mage.method": "mage",
            "mage.dataset": "maze2d-umaze-v1",
            "mage.rtg_kind": "ood",
            "mage.rtg_value": 2.0,
        },
        {"eval/norm_score": 1.0},
    )
    return uri


@pytest.fixture(scope="module")
def schema_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fill_schema_store(tmp_path_factory.mktemp("schema-store"))


# ----------------------------------------------------------------------------------------------------------
# reader


def test_load_runs_flattens_schema(schema_store: str, tmp_path: Path) -> None:
    df = load_runs("mage-hierarchy-depth", schema_store, cache_dir=tmp_path)
    assert len(df) == 10  # 9 trials + parent
    trials = df[df["run_type"] == "trial"]
    assert sorted(trials["K"].unique()) == [1, 2, 4]
    assert set(trials["seed"]) == {0, 1, 2}
    assert {"params.tokenizer.num_scales", "metrics.eval/norm_score", "tags.mage.K", "parent_run_id"} <= set(
        df.columns
    )
    parent = df.loc[df["run_type"] == "sweep", "run_id"].item()
    assert (trials["parent_run_id"] == parent).all()
    row = trials[(trials["K"] == 4) & (trials["seed"] == 2)].iloc[0]
    assert row["metrics.eval/norm_score"] == 92.0 and row["params.tokenizer.num_scales"] == "4"


def test_load_episodes_one_row_per_episode(schema_store: str, tmp_path: Path) -> None:
    ep = load_episodes("mage-rtg", schema_store, cache_dir=tmp_path)
    assert len(ep) == 3 * 3 * 6  # 3 source runs x 3 targets x 6 episodes; the parent has no artifact
    assert {"return", "norm_score", "run_id", "rtg_kind", "rtg_value", "source_run_id"} <= set(ep.columns)
    one = ep[(ep["dataset"] == "maze2d-umaze-v1") & (ep["rtg_value"] == 50.0)].sort_values("episode")
    np.testing.assert_allclose(one["return"], _episodes_for(0, 80.0))


def test_cache_hit_and_invalidation(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 's.db'}"
    client = MlflowClient(tracking_uri=uri)
    eid = client.create_experiment("mage-train", artifact_location=(tmp_path / "a").as_uri())
    r = client.create_run(eid, tags={"mage.dataset": "maze2d-umaze-v1"})
    client.log_metric(r.info.run_id, "eval/norm_score", 1.0)
    client.set_terminated(r.info.run_id)
    cache = tmp_path / "cache"
    a = load_runs("mage-train", uri, cache_dir=cache)
    files = list(cache.glob("runs-*.parquet"))
    assert len(a) == 1 and len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    b = load_runs("mage-train", uri, cache_dir=cache)  # served from the cache file, not rewritten
    assert files[0].stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(a, b)
    time.sleep(0.01)
    r2 = client.create_run(eid)  # a new run changes the store: the cache must not hide it
    client.set_terminated(r2.info.run_id)
    c = load_runs("mage-train", uri, cache_dir=cache)
    assert len(c) == 2
    assert len(list(cache.glob("runs-*.parquet"))) == 1  # the stale version was replaced


def test_running_run_is_not_cached(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 's.db'}"
    client = MlflowClient(tracking_uri=uri)
    eid = client.create_experiment("mage-train", artifact_location=(tmp_path / "a").as_uri())
    client.create_run(eid)  # left RUNNING
    assert len(load_runs("mage-train", uri, cache_dir=tmp_path / "cache")) == 1
    assert not list((tmp_path / "cache").glob("*.parquet"))


def test_empty_store_message_lists_experiments(schema_store: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(NoRunsError) as e:
        load_runs("no-such-experiment", schema_store, cache_dir=tmp_path)
    msg = str(e.value)
    assert "no-such-experiment" in msg and "mage-rtg" in msg and "mage-hierarchy-depth" in msg
    assert "mage-train (7 runs)" in msg and "mage-rtg (10 runs)" in msg
    # the CLI prints one error line and exits 1
    rc = rtg_generalization.main(
        ["--experiment", "nope", "--tracking-uri", schema_store, "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert err[0].startswith("analysis/rtg_generalization.py: error: no runs in experiment(s) 'nope'")


@pytest.mark.parametrize(
    "script", ["ablations", "hierarchy_depth", "main_table", "rtg_generalization", "search"]
)
def test_every_report_script_shares_the_error_boundary(script: str, tmp_path: Path, capsys) -> None:
    """An unreachable tracking server is one line naming it and exit 1, in seconds (no MLflow retries)."""
    import importlib
    import time

    mod = importlib.import_module(f"analysis.{script}")
    t0 = time.perf_counter()
    rc = mod.main(["--tracking-uri", "http://127.0.0.1:9", "--out", str(tmp_path), "--no-cache"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith(f"analysis/{script}.py: error: ") and "127.0.0.1:9" in err[0]
    assert time.perf_counter() - t0 < 30


def test_existing_experiment_without_runs_and_missing_file(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 's.db'}"
    MlflowClient(tracking_uri=uri).create_experiment("mage-rtg", artifact_location=(tmp_path / "a").as_uri())
    with pytest.raises(NoRunsError, match=r"experiments in this store: .*mage-rtg \(0 runs\)"):
        load_runs("mage-rtg", uri, cache_dir=tmp_path / "c")
    missing = f"sqlite:///{tmp_path / 'nothing-here.db'}"
    with pytest.raises(NoRunsError, match="does not exist"):
        load_runs("mage-rtg", missing, cache_dir=tmp_path / "c")
    assert not (tmp_path / "nothing-here.db").exists()


def test_mean_ci_matches_scipy() -> None:
    x = np.array([1.0, 2.0, 4.0, 7.0])
    m, c, n = mean_ci(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert n == 4 and m == pytest.approx(3.5) and c == pytest.approx((hi - lo) / 2)
    assert math.isnan(mean_ci([5.0])[1]) and mean_ci([])[2] == 0


def test_short_columns_agree_for_a_logged_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run logged the way training logs it (RunLogger + standard_tags + the config as params): the
    uncached reader, the cached reader and the analysis tables name and type the COLUMNS the same way."""
    from mage.config import make_config
    from mage.tracking import query
    from mage.tracking.mlflow_logger import RunLogger, standard_tags

    monkeypatch.chdir(tmp_path)  # a stray ./mlruns would land here
    monkeypatch.delenv("MAGE_ARTIFACT_ROOT", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cfg = make_config("smoke", {"train.seed": 3, "policy.lambda_cond": 0.25})
    tags = standard_tags(
        cfg,
        run_type="trial",
        extra={"mage.sweep": "hierarchy_depth", "mage.ablation": "none", **PAPER.tags()},
    )
    with RunLogger.start(experiment="mage-cols", tracking_uri=uri, run_name="t0", tags=tags) as run:
        run.log_config(cfg)
        run.log_metrics({"eval/norm_score": 77.0, "eval/episodes": 4})
    expected = {
        "run_type": "trial",
        "sweep": "hierarchy_depth",
        "method": "mage",
        "dataset": cfg.data.dataset,
        "K": cfg.tokenizer.num_scales,
        "seed": 3,
        "ablation": "none",
        "V": cfg.tokenizer.codebook_size,
        "depth": cfg.transformer.depth,
        "H": cfg.data.horizon,
        "lam_tok": cfg.tokenizer.lambda_cond,
        "lam_pol": 0.25,
        "lr": cfg.train.policy_lr,
        "track": "G",  # the protocol tags as written (mage.eval.protocol.EvalProtocol.tags)
        "acting": "track",
        "hold": "true",
        "use_goal": "False",  # a param, as MLflow stores it
        "codebook_init": "uniform",
    }
    unset = {"rtg_kind", "rtg_value", "source_run_id", "variant", "budget", "row", "trained_on", "transfer"}
    assert set(expected) | unset == set(query.COLUMNS)
    searched = query.search_runs("mage-cols", tracking_uri=uri)
    loaded = load_runs("mage-cols", uri, cache_dir=tmp_path / "cache")
    cached = load_runs("mage-cols", uri, cache_dir=tmp_path / "cache")  # the parquet round trip
    for df in (searched, loaded, cached):
        assert len(df) == 1 and df["run_id"].item() == run.run_id
        assert list(df.columns[: len(query.RUN_COLUMNS) + len(query.COLUMNS)]) == [
            *query.RUN_COLUMNS,
            *query.COLUMNS,
        ]
        for short, (col, typ) in query.COLUMNS.items():
            value = df[short].item()
            if short in expected:
                assert value == expected[short] and isinstance(value, (typ, np.generic)), (short, value)
                assert typ(float(df[col].item()) if typ is int else df[col].item()) == value, short
            else:
                assert pd.isna(value), (short, value)
            kind = {int: "i", float: "f", str: "O"}[typ]
            assert df[short].dtype.kind == kind, (short, df[short].dtype)
    pd.testing.assert_frame_equal(loaded, cached)
    shared = [*query.RUN_COLUMNS, *query.COLUMNS]
    pd.testing.assert_frame_equal(loaded[shared], searched[shared])

    # the analysis tables carry the reader's short columns under the same names
    hd = hierarchy_depth.summarise(hierarchy_depth.trial_runs(loaded))
    row = hd.iloc[0]
    assert (row["method"], row["dataset"], row["K"]) == ("mage", cfg.data.dataset, cfg.tokenizer.num_scales)
    assert row["seeds"] == "3" and row["norm_score_mean"] == 77.0
    assert (row["track"], row["acting"], row["hold"], row["protocol"]) == ("G", "track", True, PAPER.label)
    mt = main_table.measured(loaded)
    assert (mt["method"].item(), mt["dataset"].item(), mt["mean"].item()) == ("mage", cfg.data.dataset, 77.0)
    assert mt["protocol"].item() == "G / track + hold" and mt["hold"].dtype == bool


# ----------------------------------------------------------------------------------------------------------
# reports on the schema store


def test_rtg_report_values_and_plots(schema_store: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rtg"
    assert rtg_generalization.main(["--tracking-uri", schema_store, "--out", str(out), "--no-cache"]) == 0
    printed = capsys.readouterr().out
    assert "| dataset | target |" in printed and "1.5×max" in printed
    table = pd.read_csv(out / "rtg_generalization.csv")
    assert len(table) == 2 * 3  # 2 datasets x 3 targets, one method
    assert {
        "method",
        "dataset",
        "target",
        "target_return",
        "norm_score_mean",
        "norm_score_ci95",
        "return_mean",
        "n_runs",
        "n_episodes",
        "ci_unit",
    } <= set(table.columns)
    assert list(table[table["dataset"] == "maze2d-umaze-v1"]["target"]) == ["p50", "p100", "1.5×max"]
    # umaze has one source run: CI over its 6 episodes
    u = table[(table["dataset"] == "maze2d-umaze-v1") & (table["target"] == "p100")].iloc[0]
    ns = _norm(_episodes_for(0, 150.0))
    lo, hi = stats.t.interval(0.95, len(ns) - 1, loc=ns.mean(), scale=stats.sem(ns))
    assert u["norm_score_mean"] == pytest.approx(ns.mean()) and u["norm_score_ci95"] == pytest.approx(
        (hi - lo) / 2
    )
    assert u["n_episodes"] == 6 and u["ci_unit"] == "episodes" and u["target_return"] == 150.0
    # medium has two source runs: CI over the two run means
    m = table[(table["dataset"] == "maze2d-medium-v1") & (table["target"] == "1.5×max")].iloc[0]
    means = [_norm(_episodes_for(s, 225.0)).mean() for s in (0, 1)]
    lo, hi = stats.t.interval(0.95, 1, loc=np.mean(means), scale=stats.sem(means))
    assert m["n_runs"] == 2 and m["ci_unit"] == "source runs" and m["n_episodes"] == 12
    assert m["norm_score_mean"] == pytest.approx(np.mean(means)) and m["norm_score_ci95"] == pytest.approx(
        (hi - lo) / 2
    )
    assert m["return_mean"] == pytest.approx(np.mean([_episodes_for(s, 225.0).mean() for s in (0, 1)]))
    assert "maze2d-medium-v1" in (out / "rtg_generalization.md").read_text()
    # runs without protocol tags read as the only protocol before them: R / own, no hold
    assert set(table["protocol"]) == {"R / own"} and set(table["track"]) == {"R"}
    assert not table["hold"].any()
    assert "| method | track | switches | dataset | target |" in printed
    assert_png(out / "rtg_score_vs_target.png")
    assert_png(out / "rtg_achieved_vs_target.png")


def test_rtg_report_logs_to_parent(schema_store: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    rtg_generalization.run(["mage-rtg"], schema_store, tmp_path / "o", cache=False, log_to_mlflow=True)
    client = MlflowClient(tracking_uri=schema_store)
    parent = client.search_runs(
        [client.get_experiment_by_name("mage-rtg").experiment_id],
        filter_string="tags.`mage.run_type` = 'sweep'",
    )[0]
    names = {Path(f.path).name for f in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"rtg_score_vs_target.png", "rtg_achieved_vs_target.png", "rtg_generalization.csv"} <= names


def test_hierarchy_depth_report(schema_store: str, tmp_path: Path) -> None:
    out = tmp_path / "hd"
    assert hierarchy_depth.main(["--tracking-uri", schema_store, "--out", str(out), "--no-cache"]) == 0
    t = pd.read_csv(out / "hierarchy_depth.csv")
    assert list(t["K"]) == [1, 2, 4] and set(t["dataset"]) == {"maze2d-umaze-v1"}
    for k, row in zip((1, 2, 4), t.itertuples()):
        x = 50 + 10 * k + np.array([0.0, 1.0, 2.0])
        lo, hi = stats.t.interval(0.95, 2, loc=x.mean(), scale=stats.sem(x))
        assert row.norm_score_mean == pytest.approx(x.mean()) and row.norm_score_ci95 == pytest.approx(
            (hi - lo) / 2
        )
        assert row.n_seeds == 3 and row.episodes_per_seed == 10
        assert (row.track, row.acting, row.hold, row.switches) == ("R", "own", False, "own")  # untagged runs
        assert math.isnan(row.first_arrival_median)  # no diagnostics logged: blank, not zero
    md = (out / "hierarchy_depth.md").read_text()
    assert "absorbing (diag., not comparable)" in md
    assert_png(out / "hierarchy_depth.png")
    # K = 4 beats K = 1 by exactly 30 on every seed: +30 with a zero-width CI, paired by seed
    (c,) = pd.read_csv(out / "hierarchy_depth_contrast.csv").itertuples()
    assert (c.K_hi, c.K_lo, c.n_seeds, c.diff_mean, c.diff_ci95) == (4, 1, 3, 30.0, 0.0)
    assert c.verdict == "K = 4 higher beyond the CI" and "| K = 4 − K = 1 |" in md


def test_the_k_contrast_pairs_seeds_and_says_when_the_ci_covers_zero() -> None:
    def tr(scores: dict[tuple[int, int], float]) -> pd.DataFrame:
        rows = [{"method": "mage", "dataset": "d", "track": "R", "acting": "own", "hold": False,
                 "protocol": "R / own", "K": k, "seed": s, "metrics.eval/norm_score": v}
                for (k, s), v in scores.items()]  # fmt: skip
        return pd.DataFrame(rows)

    # seed effects larger than the K effect: unpaired CIs overlap, the paired difference is +1 on every seed
    (c,) = hierarchy_depth.contrast(
        tr({(1, 0): 0, (8, 0): 1, (1, 1): 50, (8, 1): 51, (1, 2): 9})
    ).itertuples()
    assert (c.diff_mean, c.diff_ci95, c.n_seeds) == (
        1.0,
        0.0,
        2,
    ) and c.verdict == "K = 8 higher beyond the CI"
    (c,) = hierarchy_depth.contrast(tr({(1, 0): 0, (8, 0): 5, (1, 1): 5, (8, 1): 0})).itertuples()
    assert c.diff_mean == 0.0 and c.verdict == "within the CI"
    (c,) = hierarchy_depth.contrast(tr({(1, 0): 3, (8, 0): 0})).itertuples()
    assert c.verdict == "one seed: no CI" and math.isnan(c.diff_ci95)


def test_the_k_study_never_averages_or_pairs_across_training_budgets() -> None:
    # the same K and seeds trained at two budgets (a longer stage 2 on reused tokenizers): two rows per K, and
    # each contrast pairs seeds inside its budget (800 steps: K = 8 loses 10; 2,400 steps: K = 8 wins 20)
    scores = {("400+800", 1): 30.0, ("400+800", 8): 20.0, ("400+2400", 1): 40.0, ("400+2400", 8): 60.0}
    rows = [{"method": "mage", "dataset": "d", "track": "R", "acting": "own", "hold": False, "switches": "own",
             "protocol": "R / own", "K": k, "seed": s, "budget": b, "metrics.eval/norm_score": v + s,
             "metrics.pol/val_ce": 2.0 if b == "400+800" else 1.0}
            for (b, k), v in scores.items() for s in (0, 1)]  # fmt: skip
    rows.append({**rows[0], "budget": None, "metrics.eval/norm_score": 99.0})  # an untagged, older run
    tr = pd.DataFrame(rows)
    t = hierarchy_depth.summarise(tr).set_index(["budget", "K"])["norm_score_mean"]
    assert t.to_dict() == {
        ("400+2400", 1): 40.5, ("400+2400", 8): 60.5, ("400+800", 1): 30.5, ("400+800", 8): 20.5,
        (hierarchy_depth.NO_BUDGET, 1): 99.0,
    }  # fmt: skip
    c = hierarchy_depth.contrast(tr).set_index("budget")
    assert c.loc["400+800", "diff_mean"] == -10.0 and c.loc["400+2400", "diff_mean"] == 20.0
    assert hierarchy_depth.NO_BUDGET not in c.index  # one K only: nothing to contrast
    md = hierarchy_depth.contrast_markdown(c.reset_index())
    assert "| 400+2400 |" in md and "| 400+800 |" in md
    t = hierarchy_depth.training(tr).set_index(["budget", "K"])
    assert (
        t.loc[("400+2400", 8), "pol/val_ce_mean"] == 1.0 and t.loc[("400+800", 8), "pol/val_ce_mean"] == 2.0
    )


def test_a_data_init_codebook_is_its_own_training_in_the_k_study() -> None:
    """Runs with tokenizer.codebook_init='data' are another stage 1: never seeds of the default's rows; runs from
    before the switch (no param) and 'uniform' ones are the same training."""
    rows = [{"method": "mage", "dataset": "d", "track": "R", "acting": "own", "hold": False, "switches": "own",
             "protocol": "R / own", "K": 1, "seed": s, "budget": "400+800", "codebook_init": init,
             "metrics.eval/norm_score": v}
            for s, init, v in ((0, None, 10.0), (1, "uniform", 20.0), (0, "data", 70.0), (1, "data", 90.0))]  # fmt: skip
    t = hierarchy_depth.summarise(pd.DataFrame(rows)).set_index("budget")["norm_score_mean"]
    assert t.to_dict() == {"400+800": 15.0, "400+800, data-init codebook": 80.0}
    # an evaluation-only run (the --also-hold evaluation: no params) belongs to the training it evaluated
    runs = pd.DataFrame(
        [{**r, "run_id": f"t{i}", "source_run_id": None, "run_type": "trial"} for i, r in enumerate(rows)]
    )
    held = {
        **rows[2],
        "run_id": "e2",
        "codebook_init": None,
        "source_run_id": "t2",
        "hold": True,
        "run_type": "eval",
    }
    tr = hierarchy_depth.trial_runs(pd.concat([runs, pd.DataFrame([held])], ignore_index=True))
    assert tr.set_index("run_id").loc["e2", "budget"] == "400+800, data-init codebook"
    assert set(hierarchy_depth.summarise(tr)["budget"]) == {"400+800", "400+800, data-init codebook"}


def test_the_k_training_table_averages_trained_runs_and_skips_evaluation_only_ones() -> None:
    rows = [
        {
            "method": "mage",
            "dataset": "d",
            "K": k,
            "seed": s,
            "metrics.tok/val_rec": r,
            "metrics.pol/val_ce": ce,
        }
        for k, s, r, ce in ((1, 0, 0.4, 2.0), (1, 1, 0.2, 3.0), (8, 0, 0.01, 2.5))
    ]
    rows.append(
        {"method": "mage", "dataset": "d", "K": 1, "seed": 0}
    )  # an --also-hold evaluation: no training
    t = hierarchy_depth.training(pd.DataFrame(rows)).set_index("K")  # fmt: skip
    assert t.loc[1, "n_seeds"] == 2 and t.loc[1, "tok/val_rec_mean"] == pytest.approx(0.3)
    assert t.loc[1, "pol/val_ce_mean"] == pytest.approx(2.5) and t.loc[8, "tok/val_rec_mean"] == 0.01
    assert math.isnan(t.loc[8, "tok/val_rec_ci95"])  # one seed: no CI
    md = hierarchy_depth.training_markdown(t.reset_index())
    assert "| 0.300 ± " in md and "tokenizer val. reconstruction" in md and "dead codes" not in md
    assert hierarchy_depth.training(pd.DataFrame(rows[-1:])).empty


def test_a_chosen_target_return_is_its_own_row_and_an_rtg_study_is_none(schema_store: str) -> None:
    """`mage evaluate --rtg-percentile 50` is a row of its own (never a 'seed' of the default R̂_0); an explicit
    100 is the default; the RTG study's evaluations are never rows."""
    from analysis.main_table_render import _measured_label
    from mage.tracking.query import load_runs

    runs = load_runs("mage-train", schema_store, cache=False)
    base = runs[(runs["dataset"] == "maze2d-umaze-v1") & runs["rtg_kind"].isna()].iloc[[0]]
    extra = [
        base.assign(run_id="p50", rtg_kind="percentile", rtg_value=50.0, **{"metrics.eval/norm_score": 7.0}),
        base.assign(run_id="p100", rtg_kind="percentile", rtg_value=100.0),
        base.assign(run_id="study", rtg_kind="percentile", rtg_value=90.0, sweep="rtg_generalization"),
    ]
    meas = main_table.measured(pd.concat([runs, *extra], ignore_index=True))
    umaze = meas[meas["dataset"] == "maze2d-umaze-v1"].set_index("method")
    assert set(umaze.index) == {"mage", "mage@p50"}
    assert umaze.loc["mage@p50", "n"] == 1 and umaze.loc["mage@p50", "mean"] == 7.0
    assert umaze.loc["mage", "n"] == 4  # the three seeds and the explicit p100
    assert _measured_label("mage-goal@p50") == "MAGE-goal (ours, measured, R̂₀ p50)"
    assert _measured_label("iql") == "IQL (measured here)"


def test_a_named_row_is_never_a_seed_of_the_others(schema_store: str) -> None:
    """`mage evaluate --row-name 'H200 budget'` (another training budget) makes a row of its own, also at a
    chosen R̂_0, and its label says so."""
    from analysis.main_table_render import _measured_label
    from mage.tracking.query import load_runs

    runs = load_runs("mage-train", schema_store, cache=False)
    base = runs[(runs["dataset"] == "maze2d-umaze-v1") & runs["rtg_kind"].isna()].iloc[[0]]
    extra = [
        base.assign(run_id="gpu0", row="H200 budget", **{"metrics.eval/norm_score": 90.0}),
        base.assign(run_id="gpu1", row="H200 budget", **{"metrics.eval/norm_score": 110.0}),
        base.assign(run_id="gpu-p50", row="H200 budget", rtg_kind="percentile", rtg_value=50.0),
        # a medium model evaluated on umaze on purpose (`--allow-other-data`): a row of its own too
        base.assign(run_id="moved", transfer="true", trained_on="maze2d-medium-v1"),
    ]
    meas = main_table.measured(pd.concat([runs, *extra], ignore_index=True))
    umaze = meas[meas["dataset"] == "maze2d-umaze-v1"].set_index("method")
    moved = "mage[trained on maze2d-medium-v1]"
    assert set(umaze.index) == {"mage", "mage[H200 budget]", "mage@p50[H200 budget]", moved}
    assert umaze.loc[moved, "n"] == 1
    assert _measured_label(moved) == "MAGE (ours, measured, trained on maze2d-medium-v1)"
    assert umaze.loc["mage[H200 budget]", "n"] == 2 and umaze.loc["mage[H200 budget]", "mean"] == 100.0
    assert umaze.loc["mage", "n"] == 3  # the three seeds, untouched by the named runs
    assert _measured_label("mage@p50[H200 budget]") == "MAGE (ours, measured, R̂₀ p50, H200 budget)"
    assert _measured_label("iql[long]") == "IQL (measured here, long)"


def test_main_table_measured_beside_quoted(schema_store: str, tmp_path: Path) -> None:
    out = tmp_path / "mt"
    assert main_table.main(["--tracking-uri", schema_store, "--out", str(out), "--no-cache"]) == 0
    md = (out / "main_table.md").read_text()
    tex = (out / "main_table.tex").read_text()
    # quoted rows are marked as quoted with a source; ours as measured
    assert "HD *(quoted)*" in md and paper_numbers.HD_SOURCE in md and "**MAGE (ours, measured)**" in md
    assert "128.4 ± 3.6" in md and "153.3" in md and "155.0" in md
    assert "110.0 ± 24.8" in md  # umaze: mean 110, t(2) CI of [100, 110, 120] = 24.84
    assert "\\toprule" in tex and "HD$^{q}$" in tex and "\\textbf{MAGE (ours, measured)}" in tex
    csv = pd.read_csv(out / "main_table.csv")
    ours = csv[(csv["kind"] == "measured") & (csv["suite"] == "maze2d")].set_index("maze")
    assert ours.loc["umaze", "score"] == pytest.approx(110.0) and ours.loc[
        "medium", "score"
    ] == pytest.approx(92.0)
    assert math.isnan(ours.loc["large", "score"]) and math.isnan(ours.loc["avg", "score"])  # no partial avg
    multi = csv[(csv["kind"] == "measured") & (csv["suite"] == "multi2d")].set_index("maze")
    assert multi.loc["umaze", "score"] == pytest.approx(130.0)
    hd = csv[(csv["kind"] == "quoted") & (csv["method"] == "HD") & (csv["suite"] == "maze2d")].set_index(
        "maze"
    )
    assert hd.loc["large", "score"] == 155.8 and hd.loc["avg", "score"] == 139.9
    assert "stray" not in md  # RTG evaluations are not headline numbers
    # every row says its protocol: untagged (old) runs are R / own; quoted rows carry the paper's protocol
    assert set(csv.loc[csv["kind"] == "measured", "protocol"]) == {"R / own"}
    assert (hd["track"] == "G").all() and (hd["switches"] == "track + hold (open loop)").all()
    assert "| **MAGE (ours, measured)** | measured | R | own | 110.0 ± 24.8 |" in md
    assert "| HD *(quoted)* | quoted | G | track + hold (open loop) | 128.4 ± 3.6 |" in md
    assert "Method & Track & Switches &" in tex and "HD$^{q}$ & G & track + hold (open loop) &" in tex


def test_quoted_rows_carry_their_protocol(tmp_path: Path) -> None:
    """Quoted rows say track and switches (shared/spec/protocol.md): HD/Diffuser G / track + hold, the
    reward-only Maze2D baselines R / own (incl. the §4 numbers of DT, QDT, LPT), Multi2D IQL G with hindsight
    goals, MAGE's unpublished protocol G?."""
    rows = {(q.suite, q.method): q for suite in paper_numbers.SUITES.values() for q in suite}
    for suite in ("maze2d", "multi2d"):
        for m in ("HD", "Diffuser"):
            q = rows[(suite, m)]
            assert (q.track, q.protocol.acting, q.protocol.hold) == ("G", "track", True)
        assert rows[(suite, "MAGE (paper)")].track == "G?"
        assert "not published" in rows[(suite, "MAGE (paper)")].switches
    for m in ("IQL", "CQL", "DT", "QDT", "LPT"):
        q = rows[("maze2d", m)]
        assert (q.track, q.switches) == ("R", "own"), m
    assert {k: v for k, v in rows[("maze2d", "LPT")].per_task.items()} == {
        "umaze": (65.4, None),
        "medium": (20.6, None),
        "large": (37.2, None),
    }
    assert rows[("maze2d", "DT")].per_task["large"] == (2.3, None) and "QDT" in rows[("maze2d", "QDT")].source
    assert rows[("multi2d", "IQL")].track == "G" and "hindsight" in rows[("multi2d", "IQL")].switches
    assert all(q.track in ("R", "G", "G?", "?") and q.switches for q in rows.values())
    # the markdown / CSV / LaTeX of a table with only quoted rows show the columns too
    meas = pd.DataFrame(columns=["suite", "method", "dataset", *main_table.PROTOCOL_KEYS, "switches"])
    table = main_table.build(meas, ["none"])
    md = main_table.markdown(table, meas.iloc[0:0])
    assert "| G? | not published |" in md and "| LPT *(quoted)* | quoted | R | own | 65.4 |" in md
    long = main_table.long_table(table, meas.iloc[0:0])
    assert set(long.loc[long["method"] == "LPT", "protocol"]) == {"R / own"}
    assert "LPT$^{q}$ & R & own &" in main_table.latex(table)


def test_protocol_label_matches_eval_protocol_and_defaults() -> None:
    """analysis labels a row the way EvalProtocol does; missing tags mean R / own / no hold; tag strings and
    parquet bools read the same."""
    for goal in ("none", "given"):
        for acting in ("own", "track"):
            for hold in (False, True):
                p = EvalProtocol(goal=goal, acting=acting, hold=hold)
                assert protocol_label(p.track, p.acting, p.hold) == p.label
                tagged = with_protocol(pd.DataFrame([{k.split(".")[1]: v for k, v in p.tags().items()}]))
                from_parquet = with_protocol(pd.DataFrame([p.columns()]))
                for df in (tagged, from_parquet):
                    assert df["protocol"].item() == p.label and df["hold"].item() is hold
    old = with_protocol(pd.DataFrame({"track": [None, "G"], "acting": [None, "own"], "hold": [None, "true"]}))
    assert list(old["protocol"]) == ["R / own", "G / own + hold"] and old["hold"].dtype == bool
    bare = with_protocol(pd.DataFrame({"method": ["mage"]}))  # no protocol columns at all
    assert (bare["track"].item(), bare["acting"].item(), bare["hold"].item()) == ("R", "own", False)
    # a reader table cached before the short columns still has the raw tags
    raw = with_protocol(pd.DataFrame({"tags.mage.track": ["G"], "tags.mage.acting": ["track"]}))
    assert raw["protocol"].item() == "G / track"
    assert PURE.label == "R / own" and PAPER.label == "G / track + hold"


# ----------------------------------------------------------------------------------------------------------
# Two protocols of the same method: separate rows, never averaged

# (protocol tags or None for an old run, seed, norm score, diagnostics metrics)
PROTO_RUNS = [
    (
        PAPER.tags(),
        0,
        150.0,
        {"success_rate": 1.0, "first_arrival_median": 40, "dwell_mean": 0.9, "abs": 190},
    ),
    (
        PAPER.tags(),
        1,
        160.0,
        {"success_rate": 0.8, "first_arrival_median": 60, "dwell_mean": 0.7, "abs": 170},
    ),
    (PURE.tags(), 0, 20.0, {"success_rate": 0.5, "first_arrival_median": 200, "dwell_mean": 0.2, "abs": 60}),
    (PURE.tags(), 1, 30.0, {"success_rate": 0.3, "first_arrival_median": 220, "dwell_mean": 0.4, "abs": 40}),
    (None, 2, 40.0, {"success_rate": 0.1}),  # before protocol tags and diagnostics: counts as R / own
    (EvalProtocol(goal="given").tags(), 0, 70.0, {"success_rate": 0.6}),  # G / own
]


def _proto_episodes(tags: dict | None, n: int = 4) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "episode": np.arange(n),
            "return": np.full(n, 100.0),
            "norm_score": np.full(n, 50.0),
            "success": [True, True, False, True],
        }
    )
    if tags is not None:  # what the harness writes now: protocol and diagnostics columns
        df["track"], df["acting"], df["hold"] = (
            tags["mage.track"],
            tags["mage.acting"],
            tags["mage.hold"] == "true",
        )
        df["first_arrival"] = [10, 30, -1, 20]
        df["dwell"] = [1.0, 0.5, np.nan, 0.75]
        df["norm_score_absorbing"] = [180.0, 160.0, 20.0, 170.0]
    return df


@pytest.fixture(scope="module")
def protocol_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("protocol-store")
    uri = f"sqlite:///{root / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri)
    e = client.create_experiment("mage-proto", artifact_location=f"{(root / 'art').as_uri()}/mage-proto")
    for tags, seed, score, diag in PROTO_RUNS:
        # every run logs the CI over its episodes; only a cell of one seed shows it (marked)
        metrics = {"eval/norm_score": score, "eval/episodes": 4, "eval/norm_score_ci95": 9.9}
        metrics.update({f"eval/{k}": v for k, v in diag.items() if k != "abs"})
        if "abs" in diag:
            metrics["eval/norm_score_absorbing"] = diag["abs"]
        base = {"mage.run_type": "train", "mage.method": "mage", "mage.dataset": "maze2d-umaze-v1"}
        _log_run(
            client,
            root,
            e,
            f"{'old' if tags is None else tags['mage.track']}-{seed}",
            {**base, "mage.seed": seed, **(tags or {})},
            metrics,
            episodes=_proto_episodes(tags),
        )
    return uri


def test_two_protocols_two_rows(protocol_store: str, tmp_path: Path) -> None:
    runs = load_runs("mage-proto", protocol_store, cache=False)
    assert (
        set(runs["track"].dropna()) == {"G", "R"} and runs["hold"].isna().sum() == 1
    )  # the reader: as tagged
    meas = main_table.measured(runs).set_index("protocol")
    assert set(meas.index) == {"G / track + hold", "R / own", "G / own"}
    paper_row, pure_row = meas.loc["G / track + hold"], meas.loc["R / own"]
    assert (paper_row["mean"], paper_row["n"]) == (155.0, 2)
    assert (pure_row["mean"], pure_row["n"]) == (30.0, 3)  # the untagged run joins R / own, never G
    assert meas.loc["G / own", "mean"] == 70.0
    assert paper_row["success_rate"] == pytest.approx(0.9) and paper_row["first_arrival_median"] == 50.0
    assert paper_row["dwell_mean"] == pytest.approx(0.8) and paper_row["norm_score_absorbing"] == 180.0
    assert pure_row["success_rate"] == pytest.approx(0.3) and pure_row["first_arrival_median"] == 210.0

    out = tmp_path / "mt"
    main_table.run(["mage-proto"], protocol_store, out, cache=False)
    csv = pd.read_csv(out / "main_table.csv")
    ours = csv[(csv["kind"] == "measured") & (csv["maze"] == "umaze")].set_index("protocol")
    assert len(ours) == 3 and ours.loc["G / track + hold", "score"] == 155.0
    assert ours.loc["R / own", "score"] == 30.0 and ours.loc["R / own", "seeds"] == 3
    assert ours.loc["G / track + hold", "episodes"] == 4 and ours.loc["G / track + hold", "track"] == "G"
    assert ours.loc["G / track + hold", "norm_score_absorbing"] == 180.0
    assert bool(ours.loc["G / track + hold", "hold"]) and not bool(ours.loc["R / own", "hold"])
    quoted = csv[csv["kind"] == "quoted"]
    assert quoted["track"].notna().all() and quoted["protocol"].notna().all()
    md = (out / "main_table.md").read_text()
    assert "| **MAGE (ours, measured)** | measured | G | track + hold | 155.0 ± " in md
    assert "| **MAGE (ours, measured)** | measured | R | own | 30.0 ± " in md
    # one seed: its episodes' CI, marked; several seeds: the CI over seeds, unmarked
    assert "| **MAGE (ours, measured)** | measured | G | own | 70.0 ± 9.9ᵉ |" in md and "ᵉ marks a cell" in md
    assert "155.0 ± 9.9" not in md and "ᵉ" not in md.split("| G | track + hold | 155.0 ± ")[1].split("|")[0]
    assert "| 2 × 4 |" in md and "| 3 × 4 |" in md  # seeds × episodes
    assert DIAGNOSTIC_TITLES["norm_score_absorbing"] == "absorbing (diag., not comparable)"
    assert (
        "| success | first arrival (median step) | dwell (mean) | absorbing (diag., not comparable) |" in md
    )
    assert "| 90% | 50 | 0.80 | 180.0 |" in md and "| 30% | 210 | 0.30 | 50.0 |" in md
    assert "| 60% | — | — | — |" in md  # no diagnostics logged: blank
    tex = (out / "main_table.tex").read_text()
    assert "\\textbf{MAGE (ours, measured)} & G & track + hold &" in tex
    assert "70.0 $\\pm$ 9.9$^{e}$" in tex and "ᵉ" not in tex
    assert "absorbing (diag., not comparable)" in tex and "90\\%" in tex


def test_episode_protocol_and_diagnostics(protocol_store: str) -> None:
    """Episode rows: new artifacts carry their protocol columns, old ones get the run's (missing) tags; both
    read through with_protocol; the diagnostics pool over the episodes, skipping never-arrived ones."""
    ep = with_protocol(load_episodes("mage-proto", protocol_store, cache=False))
    assert len(ep) == 4 * len(PROTO_RUNS)
    assert ep.groupby("protocol").size().to_dict() == {"G / own": 4, "G / track + hold": 8, "R / own": 12}
    d = episode_diagnostics(ep[ep["protocol"] == "G / track + hold"])
    assert d["success_rate"] == 0.75 and d["first_arrival_median"] == 20.0
    assert d["dwell_mean"] == pytest.approx(0.75) and d["norm_score_absorbing"] == pytest.approx(132.5)
    old = episode_diagnostics(_proto_episodes(None))
    assert old["success_rate"] == 0.75 and math.isnan(old["first_arrival_median"])


def test_rtg_rows_split_by_protocol() -> None:
    """The RTG table never averages two protocols of the same target either."""
    base = {
        "method": "mage",
        "dataset": "maze2d-umaze-v1",
        "rtg_kind": "percentile",
        "rtg_value": 100.0,
        "metrics.eval/norm_score": 0.0,
        "metrics.eval/return_mean": 0.0,
        "source_run_id": "src",
    }
    ev = pd.DataFrame(
        [
            {**base, "run_id": "a", "metrics.eval/norm_score": 150.0, **PAPER.columns(), "hold": "true"},
            {**base, "run_id": "b", "metrics.eval/norm_score": 20.0},  # untagged: R / own
        ]
    )
    t = rtg_generalization.summarise(ev, None).set_index("protocol")
    assert (
        t.loc["G / track + hold", "norm_score_mean"] == 150.0 and t.loc["R / own", "norm_score_mean"] == 20.0
    )
    assert "| R | own |" in rtg_generalization.markdown_table(t.reset_index())


def test_analysis_imports_no_model_code() -> None:
    code = (
        "import sys, analysis.tables, analysis.report, analysis.rtg_generalization, analysis.hierarchy_depth,"
        " analysis.main_table;"
        "bad=[m for m in sys.modules if m.split('.')[:2] in (['mage','tokenizer'],['mage','transformer'],"
        "['mage','policy'],['mage','data'],['mage','envs']) or m=='torch' or m=='ray'];print(bad);"
        "sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_analysis_reads_only_through_query() -> None:
    """No module of analysis/ imports MLflow: it reads through mage.tracking.query and logs through RunLogger."""
    import ast

    for f in sorted((ROOT / "analysis").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0] == "mlflow"], f"{f.name} imports {names}"


# ----------------------------------------------------------------------------------------------------------
# A store filled by REAL smoke sweeps (hierarchy depth, then the RTG study on its best run)


@pytest.mark.slow
def test_reports_on_real_smoke_sweeps(smoke_sweep_store: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=smoke_sweep_store)
    hd_runs = load_runs("mage-hierarchy-depth", smoke_sweep_store, cache_dir=tmp_path / "c")
    trials = hd_runs[hd_runs["run_type"] == "trial"]
    assert sorted(trials["K"]) == [1, 2] and (trials["status"] == "FINISHED").all()

    # hierarchy depth: one row per K, values equal to the trial runs' own eval/norm_score (1 seed: no CI)
    hd = hierarchy_depth.run(["mage-hierarchy-depth"], smoke_sweep_store, tmp_path / "hd", cache=False)
    assert list(hd["K"]) == [1, 2] and list(hd["n_seeds"]) == [1, 1]
    for row in hd.itertuples():
        own = trials.loc[trials["K"] == row.K, "metrics.eval/norm_score"].item()
        assert row.norm_score_mean == pytest.approx(own) and math.isnan(row.norm_score_ci95)
    assert_png(tmp_path / "hd" / "hierarchy_depth.png")

    # RTG: p50, p100 and 1.5x max of the best hierarchy-depth trial; values recomputed from the episode files
    t = rtg_generalization.run(
        ["mage-rtg"], smoke_sweep_store, tmp_path / "rtg", cache=False, log_to_mlflow=True
    )
    assert list(t["target"]) == ["p50", "p100", "1.5×max"]
    assert (t["n_episodes"] == 2).all() and (t["ci_unit"] == "episodes").all()
    top = trials["metrics.eval/norm_score"].max()
    best = set(trials.loc[trials["metrics.eval/norm_score"] == top, "run_id"])  # ties: any of them
    ev = load_runs("mage-rtg", smoke_sweep_store, cache=False)
    ev = ev[ev["rtg_kind"].notna()]
    assert ev["source_run_id"].nunique() == 1 and ev["source_run_id"].iloc[0] in best and len(ev) == 3
    eps = load_episodes("mage-rtg", smoke_sweep_store, runs=ev, cache=False)
    for row in t.itertuples():
        run = ev[(ev["rtg_kind"] == row.rtg_kind) & (ev["rtg_value"] == row.rtg_value)].iloc[0]
        e = eps[eps["run_id"] == run["run_id"]]
        m, c, n = mean_ci(e["norm_score"])
        assert row.norm_score_mean == pytest.approx(m) and n == 2
        assert row.norm_score_mean == pytest.approx(run["metrics.eval/norm_score"])
        assert row.target_return == pytest.approx(run["metrics.eval/target_return"])
        assert (e["target_return"] == row.target_return).all()
    p100 = t.loc[t["target"] == "p100", "target_return"].item()
    assert t.loc[t["target"] == "1.5×max", "target_return"].item() == pytest.approx(1.5 * p100)
    assert t.loc[t["target"] == "p50", "target_return"].item() <= p100
    assert_png(tmp_path / "rtg" / "rtg_score_vs_target.png")
    assert_png(tmp_path / "rtg" / "rtg_achieved_vs_target.png")
    parent = ev["parent_run_id"].iloc[0]
    logged = {Path(f.path).name for f in client.list_artifacts(parent, "plots")}
    assert {"rtg_score_vs_target.png", "rtg_achieved_vs_target.png"} <= logged

    # main table over the sweep's trials: our measured umaze score beside the quoted HD row
    mt = main_table.run(["mage-hierarchy-depth"], smoke_sweep_store, tmp_path / "mt", cache=False)
    ours = mt[(mt["kind"] == "measured") & (mt["suite"] == "maze2d")].iloc[0]
    assert ours["umaze"] == pytest.approx(trials["metrics.eval/norm_score"].mean())
    assert "HD *(quoted)*" in (tmp_path / "mt" / "main_table.md").read_text()
