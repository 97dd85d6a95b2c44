"""Aggregate statistics (IQM, stratified bootstrap: analysis/aggregate.py), the ablation table
(analysis/ablations.py) and the Optuna search plots (analysis/search.py) on MLflow stores written through the
real MLflow client in the documented schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from analysis import ablations, aggregate, search  # noqa: E402
from analysis import paper_numbers as paper  # noqa: E402
from analysis.tables import fmt_pm, mean_ci  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# ----------------------------------------------------------------------------------------------------------
# aggregate: IQM and the stratified bootstrap


def test_iqm_hand_computed_and_scipy() -> None:
    assert aggregate.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # drop 1, 2 and 7, 8: mean(3..6)
    assert aggregate.iqm(np.array([1000, 0, 3, 1, 100, 2, 0, 4.0])) == pytest.approx(2.5)  # mean(1, 2, 3, 4)
    assert aggregate.iqm(np.array([5.0, 1, 2, 3, 4])) == pytest.approx(3.0)  # n = 5: floor(1.25) = 1 cut
    assert aggregate.iqm(np.array([7.0])) == 7.0
    rng = np.random.default_rng(0)
    for n in range(1, 40):
        x = rng.standard_cauchy(n)
        assert aggregate.iqm(x) == pytest.approx(stats.trim_mean(x, 0.25))
    # across tasks: the runs of all tasks pooled (rliable's IQM of the runs x tasks matrix)
    iv = aggregate.stratified_bootstrap_ci({"a": [1, 2, 3, 4], "b": [5, 6, 7, 8]}, "iqm", reps=50)
    assert iv.point == pytest.approx(4.5) and (iv.n_tasks, iv.n_runs) == (2, 8)
    assert aggregate.optimality_gap(np.array([50.0, 120.0])) == pytest.approx(25.0)
    assert aggregate.median(np.array([[1.0, 9.0, 3.0]]), 1)[0] == 3.0


@pytest.mark.parametrize("statistic", ["iqm", "mean", "median"])
def test_ci_covers_the_true_value_about_95_percent(statistic: str) -> None:
    """Three tasks N(50 + d, 10), d in {-5, 0, 5}, 10 runs each: the equal-weight mixture is symmetric about
    50, so its IQM, mean and median are all 50. The 95 % CI must cover 50 in about 95 % of 200 trials."""
    rng = np.random.default_rng(123)
    hits = 0
    for t in range(200):
        scores = {f"task{i}": rng.normal(50 + d, 10, size=10) for i, d in enumerate((-5, 0, 5))}
        hits += aggregate.stratified_bootstrap_ci(scores, statistic, reps=1000, seed=t).contains(50.0)
    assert 0.88 <= hits / 200 <= 0.99, hits


def test_strata_are_respected() -> None:
    """Every resample holds exactly one copy of the single run of task 'solo' and 10 runs of 'many' drawn from
    'many' only; pooled (unstratified) resampling would draw 'solo' 0, 1, 2, ... times."""
    scores = {"solo": [1000.0], "many": np.arange(10.0)}

    def count_solo(x: np.ndarray, axis: int) -> np.ndarray:
        return np.sum(x == 1000.0, axis=axis)

    def size(x: np.ndarray, axis: int) -> np.ndarray:
        return np.full(x.shape[0], x.shape[axis])

    def top_of_many(x: np.ndarray, axis: int) -> np.ndarray:
        return np.max(np.where(x == 1000.0, -1, x), axis=axis)

    assert set(aggregate.bootstrap_replicates(scores, count_solo, reps=3000)) == {1}
    assert set(aggregate.bootstrap_replicates(scores, size, reps=100)) == {11}
    assert set(aggregate.bootstrap_replicates(scores, top_of_many, reps=3000)) <= set(range(10))
    one = aggregate.stratified_bootstrap_ci({"only": [42.0]}, "mean", reps=100)
    assert one.point == one.lo == one.hi == 42.0  # one run: nothing to resample
    assert aggregate.fmt_interval(one) == "42.0"


def test_bootstrap_is_seeded_and_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    scores = {"a": np.arange(20.0), "b": np.arange(5.0) * 3}
    a = aggregate.stratified_bootstrap_ci(scores, "iqm", reps=500, seed=7)
    assert a == aggregate.stratified_bootstrap_ci(scores, "iqm", reps=500, seed=7)
    monkeypatch.setattr(aggregate, "MAX_CHUNK", 50)  # 2 resamples per chunk: same draws, same answer
    r1 = aggregate.bootstrap_replicates(scores, "mean", reps=9, seed=1)
    assert len(r1) == 9 and np.all(np.isfinite(r1))
    assert a.lo <= a.point <= a.hi and aggregate.fmt_interval(a).startswith(f"{a.point:.1f} [")


@pytest.mark.parametrize(
    ("scores", "kwargs", "error", "match"),
    [
        ({}, {}, ValueError, "no tasks"),
        ({"a": []}, {}, ValueError, "task 'a' has no runs"),
        ({"a": [1.0, float("nan")]}, {}, ValueError, "non-finite"),
        ({"a": [1.0]}, {"reps": 0}, ValueError, "reps must be >= 1"),
        ({"a": [1.0]}, {"level": 1.0}, ValueError, "level must be in"),
        ({"a": [1.0]}, {"statistic": "iqr"}, ValueError, "unknown statistic 'iqr'"),
        ([1.0, 2.0], {}, TypeError, "task -> run scores"),
    ],
)
def test_degenerate_inputs_fail_clearly(scores, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        aggregate.stratified_bootstrap_ci(scores, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# Fake MLflow stores in the documented schema


def _client(root: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / 'mlruns.db'}"
    return uri, MlflowClient(tracking_uri=uri)


def _run(client, exp: str, name: str, tags: dict, metrics: dict, params: dict | None = None, **kw) -> str:
    t = {"mlflow.runName": name, **{k: str(v) for k, v in tags.items()}}
    if kw.get("parent"):
        t["mlflow.parentRunId"] = kw["parent"]
    rid = client.create_run(exp, tags=t, run_name=name).info.run_id
    for k, v in (params or {}).items():
        client.log_param(rid, k, v)
    for k, v in metrics.items():
        client.log_metric(rid, k, float(v))
    client.set_terminated(rid, kw.get("status", "FINISHED"))
    return rid


UMAZE, MEDIUM = "maze2d-umaze-v1", "maze2d-medium-v1"
# (row, dataset, protocol tags) -> one score per seed; 10 episodes per seed
ABLATION_SCORES = {
    ("ours", UMAZE, None): [60.0, 64.0, 68.0],
    ("ours", MEDIUM, None): [30.0, 34.0, 41.0],
    ("k1", UMAZE, None): [20.0, 25.0, 24.0],
    ("k1", MEDIUM, None): [10.0, 9.0, 14.0],
    ("ours", UMAZE, "paper"): [120.0, 130.0],  # G / track + hold: its own row, umaze only
}
PAPER_TAGS = {"mage.track": "G", "mage.acting": "track", "mage.hold": "true"}
OVERRIDES = {"ours": {}, "k1": {"tokenizer.num_scales": 1}}


@pytest.fixture(scope="module")
def ablation_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri, client = _client(tmp_path_factory.mktemp("ablation-store"))
    e = client.create_experiment("mage-ablations")
    params = {f"ablation.{k}": json.dumps(v) for k, v in OVERRIDES.items()}
    parent = _run(client, e, "ablations", {"mage.run_type": "sweep", "mage.sweep": "ablations"}, {}, params)
    for (row, ds, proto), scores in ABLATION_SCORES.items():
        for seed, s in enumerate(scores):
            tags = {"mage.run_type": "trial", "mage.ablation": row, "mage.dataset": ds, "mage.seed": seed}
            tags.update(PAPER_TAGS if proto else {})
            metrics = {"eval/norm_score": s, "eval/episodes": 10, "eval/success_rate": 0.5 + 0.1 * seed}
            metrics.update(
                {"eval/first_arrival_median": 100 + 10 * seed, "eval/dwell_mean": 0.2 + 0.1 * seed}
            )
            k = {"tokenizer.num_scales": 1 if row == "k1" else 5}  # a preset's ours: K = 5, not the paper's 8
            _run(client, e, f"{row}-{ds}-{seed}", tags, metrics, k, parent=parent)
    # never counted: a failed trial, an RTG-study evaluation, a run without an ablation tag
    bad = {"mage.run_type": "trial", "mage.ablation": "ours", "mage.dataset": UMAZE}
    _run(client, e, "failed", bad, {"eval/norm_score": 999.0}, status="FAILED", parent=parent)
    _run(client, e, "rtg", {**bad, "mage.rtg_kind": "ood"}, {"eval/norm_score": 999.0})
    _run(client, e, "untagged", {"mage.run_type": "trial", "mage.dataset": UMAZE}, {"eval/norm_score": 999.0})
    return uri


def _md_row(md: str, start: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith(start))
    return [c.strip() for c in line.strip("|").split("|")]


def test_ablation_table_numbers_protocol_and_quoted_marks(ablation_store: str, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    args = ["--tracking-uri", ablation_store, "--out", str(out), "--no-cache", "--reps", "500"]
    assert ablations.main(args) == 0
    md = (out / "ablations.md").read_text()
    assert "999" not in md  # the failed, RTG and untagged runs are not in the table
    head = _md_row(md, "| row |")
    assert head[:7] == ["row", "paper row", "K", "track", "switches", UMAZE, MEDIUM]
    assert "pen-expert† (paper, quoted)" in head and "door-cloned† (paper, quoted)" in head
    col = {h: i for i, h in enumerate(head)}

    ours = _md_row(md, "| **ours** | K = 8 (ours) | 5 | R | own |")  # the paper's row, at the K it ran
    for ds in (UMAZE, MEDIUM):
        m, c, _ = mean_ci(ABLATION_SCORES[("ours", ds, None)])
        assert ours[col[ds]] == fmt_pm(m, c)
    pooled = ABLATION_SCORES[("ours", UMAZE, None)] + ABLATION_SCORES[("ours", MEDIUM, None)]
    iqm = np.mean(sorted(pooled)[1:5])  # 6 runs: drop one at each end
    iv = aggregate.stratified_bootstrap_ci(
        {UMAZE: ABLATION_SCORES[("ours", UMAZE, None)], MEDIUM: ABLATION_SCORES[("ours", MEDIUM, None)]},
        reps=500,
    )
    assert iv.point == pytest.approx(iqm)
    assert ours[col["IQM [95% CI]"]] == aggregate.fmt_interval(iv)  # all datasets: no '*'
    assert ours[col["seeds × episodes"]] == "3 × 10"
    assert ours[col["pen-expert† (paper, quoted)"]] == "147.8 (quoted)"
    assert ours[col["door-cloned† (paper, quoted)"]] == "20.5 (quoted)"
    assert ours[col["overrides"]] == "none"

    k1 = _md_row(md, "| **k1** | K = 1 (single scale) | 1 | R | own |")
    assert k1[col["pen-expert† (paper, quoted)"]] == "123.5 (quoted)"
    assert k1[col["overrides"]] == "tokenizer.num_scales=1"

    g = _md_row(md, "| **ours** | K = 8 (ours) | 5 | G | track + hold |")  # the protocols are separate rows
    m, c, _ = mean_ci([120.0, 130.0])
    assert g[col[UMAZE]] == fmt_pm(m, c) and g[col[MEDIUM]] == "—"
    assert g[col["IQM [95% CI]"]].endswith(" *")  # umaze only: marked partial
    assert g[col["seeds × episodes"]] == "2 × 10"

    # goal diagnostics per row x protocol x dataset over its runs: mean success and dwell, median arrival
    diag = _md_row(md, f"| ours | K = 8 (ours) | {UMAZE} | R / own |")
    assert diag[4:8] == ["3", "60%", "110", "0.30"]
    assert _md_row(md, f"| ours | K = 8 (ours) | {UMAZE} | G / track + hold |")[4:6] == ["2", "55%"]
    d = pd.read_csv(out / "ablations_diagnostics.csv")
    ours_umaze = d[(d["row"] == "ours") & (d["dataset"] == UMAZE)]
    assert ours_umaze["success_rate"].round(3).tolist() == [0.55, 0.6]  # G / track + hold, then R / own

    a_cql = _md_row(md, "| a_cql *(quoted only)* |")  # paper rows not run here: quoted numbers only
    assert a_cql[col[UMAZE]] == "—" and a_cql[col["IQM [95% CI]"]] == "—"
    assert a_cql[col["pen-expert† (paper, quoted)"]] == "127.6 (quoted)"
    assert "QUOTED from the MAGE paper" in md and "† = the paper's dataset" in md

    csv = pd.read_csv(out / "ablations.csv")
    quoted = csv[csv["kind"] == "quoted"]
    assert len(quoted) == 2 * len(paper.ABLATIONS) and quoted["dataset_differs"].all()
    assert quoted["track"].isna().all()  # quoted cells carry no measured protocol
    meas = csv[(csv["kind"] == "measured") & (csv["statistic"] == "mean") & (csv["dataset"] != "all tasks")]
    assert len(meas) == len(ABLATION_SCORES) and set(meas["seeds"]) == {2, 3}
    agg = csv[(csv["row"] == "ours") & (csv["protocol"] == "R / own") & (csv["dataset"] == "all tasks")]
    assert set(agg["statistic"]) == {"iqm", "mean", "median", "optimality_gap"}
    assert agg.set_index("statistic").loc["mean", "score"] == pytest.approx(np.mean(pooled))
    # each row against ours, paired by seed: k1 - ours per seed, then mean and CI; protocols never cross
    diff = pd.read_csv(out / "ablations_against_ours.csv").set_index("dataset")
    assert list(diff["row"]) == ["k1", "k1"] and set(diff["protocol"]) == {"R / own"}
    for ds in (UMAZE, MEDIUM):
        per_seed = np.subtract(ABLATION_SCORES[("k1", ds, None)], ABLATION_SCORES[("ours", ds, None)])
        m, c, n = mean_ci(per_seed)
        got = diff.loc[ds]
        assert (got["diff_mean"], got["diff_ci95"], got["n_seeds"]) == (pytest.approx(m), pytest.approx(c), n)
        assert got["verdict"] == "ours higher beyond the CI"
        assert f"| k1 | K = 1 (single scale) | {ds} | R / own | {fmt_pm(m, c)} | 3 |" in md
    tex = (out / "ablations.tex").read_text()
    assert "\\textbf{ours" in tex and "147.8$^q$" in tex and "pen-expert$^\\dagger$$^q$" in tex
    _assert_png(out / "ablations.png")


def test_ablation_report_without_runs_fails_clearly(ablation_store: str, tmp_path: Path, capsys) -> None:
    args = ["--tracking-uri", ablation_store, "--out", str(tmp_path), "--no-cache"]
    assert ablations.main([*args, "--experiment", "no-such-experiment"]) == 1
    assert "mage-ablations" in capsys.readouterr().err  # names the experiments that exist


def _assert_png(path: Path, min_bytes: int = 10_000) -> None:
    import matplotlib.image as mpimg

    assert path.exists() and path.read_bytes()[:8] == PNG_MAGIC, path
    assert path.stat().st_size >= min_bytes, path.stat().st_size
    img = mpimg.imread(path)
    assert img.shape[0] >= 300 and img.shape[1] >= 500 and float(np.std(img[..., :3])) > 0.01


# ----------------------------------------------------------------------------------------------------------
# Optuna plots of a search sweep

SPACE = {
    "space.tokenizer.num_scales": "choice[1, 2]",
    "space.policy.lambda_cond": "float[0.0, 0.5]",
    "space.train.policy_lr": "logfloat[0.0003, 0.003]",
    "space.data.dataset": "'maze2d-umaze-v1'",  # a constant: not searched
}


@pytest.fixture(scope="module")
def search_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """14 trials whose score depends almost only on K (K = 2: +60), one pruned by ASHA, one failed."""
    uri, client = _client(tmp_path_factory.mktemp("search-store"))
    e = client.create_experiment("mage-search")
    parent = _run(client, e, "search", {"mage.run_type": "sweep", "mage.sweep": "search"}, {}, SPACE)
    rng = np.random.default_rng(0)
    for i in range(16):
        k, lam, lr = (
            1 + i % 2,
            float(rng.uniform(0, 0.5)),
            float(np.exp(rng.uniform(np.log(3e-4), np.log(3e-3)))),
        )
        params = {"tokenizer.num_scales": k, "policy.lambda_cond": lam, "train.policy_lr": lr}
        params["data.dataset"] = UMAZE
        tags = {"mage.run_type": "trial", "mage.dataset": UMAZE, "mage.K": k}
        metrics = {"eval/norm_score": 20 + 60 * (k == 2) + rng.normal(0, 1)}
        status = "FINISHED"
        if i == 14:
            tags["mage.stopped_early"], metrics, status = "ASHA after 1 stage-2 epoch(s)", {}, "KILLED"
        if i == 15:
            metrics, status = {}, "FAILED"
        _run(client, e, f"search_{i}", tags, metrics, params, parent=parent, status=status)
    return uri


def test_search_space_from_parent_params() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    assert search.distribution("choice[1, 2]") == CategoricalDistribution([1, 2])
    assert search.distribution("logfloat[0.0001, 0.003]") == FloatDistribution(1e-4, 3e-3, log=True)
    assert search.distribution("int[2, 8]") == IntDistribution(2, 8)
    assert search.distribution("'maze2d-umaze-v1'") is None and search.distribution("grid[1, 2]") is None


def test_search_plots_and_importance(search_store: str, tmp_path: Path) -> None:
    out = tmp_path / "search"
    assert search.main(["--tracking-uri", search_store, "--out", str(out), "--no-cache"]) == 0
    for name in ("search_importance.png", "search_parallel.png"):
        _assert_png(out / name)
    trials = pd.read_csv(out / "search.csv")
    assert trials["state"].value_counts().to_dict() == {"COMPLETE": 14, "PRUNED": 1, "FAIL": 1}
    assert set(trials.columns) >= {"tokenizer.num_scales", "policy.lambda_cond", "train.policy_lr"}
    assert "data.dataset" not in trials.columns  # constants are not searched
    md = (out / "search.md").read_text()
    first = _md_row(md, "| tokenizer.num_scales |")  # K explains the score: the most important param
    assert md.index("| tokenizer.num_scales |") < md.index("| policy.lambda_cond |")
    assert float(first[2]) > 0.5
    assert "14 complete, 1 pruned, 1 fail trials" in md


def test_new_reports_import_no_model_code_torch_or_ray() -> None:
    """The new reports and the Optuna/sklearn code they call load no model code, no torch and no Ray."""
    import subprocess
    import sys

    code = (
        "import sys, analysis.ablations, analysis.search, analysis.aggregate, optuna.importance,"
        " optuna.visualization.matplotlib, sklearn.ensemble;"
        "bad=[m for m in sys.modules if m.split('.')[:2] in (['mage','tokenizer'],['mage','transformer'],"
        "['mage','policy'],['mage','data'],['mage','envs']) or m.split('.')[0] in ('torch','ray')];print(bad);"
        "sys.exit(1 if bad else 0)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1]
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_goal_diagnostics_are_hidden_for_goal_less_tasks_only() -> None:
    """Older Hopper runs logged success_rate 0 (a task without a goal): the tables show '—' for them, while a
    maze's 0 % stays 0 %, and a run of an unknown dataset or without one keeps its diagnostics."""
    from analysis.tables import DIAGNOSTICS, run_diagnostics

    def runs(dataset: str | None) -> pd.DataFrame:
        df = pd.DataFrame({"metrics.eval/success_rate": [0.0], "metrics.eval/first_arrival_median": [40.0]})
        return df if dataset is None else df.assign(dataset=[dataset])

    hopper = run_diagnostics(runs("hopper-medium-mage"))
    assert set(hopper) == set(DIAGNOSTICS) and all(np.isnan(v) for v in hopper.values())
    for shown in ("maze2d-large-v1", "my-own-maze", None):
        d = run_diagnostics(runs(shown))
        assert d["success_rate"] == 0.0 and d["first_arrival_median"] == 40.0, shown
