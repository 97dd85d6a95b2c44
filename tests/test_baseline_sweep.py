"""Baselines and the main results on the sweep driver (sweeps/baselines.py, sweeps/main_results.py): the
``--set baseline.*`` routing, the checks before Ray and MAGE's chosen config (fast); ``sweeps/baselines.py
--smoke`` end to end on an embedded Ray and sqlite MLflow, then the main table from that store (slow)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_sweeps import _ctx, run_sweep_script

from mage.config import ConfigError, make_config
from sweeps import hierarchy_depth
from sweeps.driver.cli import SMOKE_OVERRIDES, resolve_defaults
from sweeps.driver.spec import describe_space, expected_trials


def _baseline_args(script, *argv: str):
    return resolve_defaults(script.make_parser().parse_args(["--smoke", *argv]))


def test_baseline_sets_are_split_and_routed_per_method() -> None:
    from sweeps import baselines
    from sweeps.driver.trial import baseline_overrides

    args = _baseline_args(
        baselines,
        "--set",
        "baseline.batch_size=32",
        "--set",
        "baseline.iql.expectile=0.8",
        "--set",
        "eval.hold=true",
    )
    assert args.overrides == {**SMOKE_OVERRIDES, "eval.hold": "true"}  # no baseline.* key reaches make_config
    assert args.baseline_overrides == {"baseline.batch_size": "32", "baseline.iql.expectile": "0.8"}
    assert args.steps == 20 and args.also_hold is False
    assert baseline_overrides("iql", args.baseline_overrides) == {"batch_size": "32", "expectile": "0.8"}
    assert baseline_overrides("bc", args.baseline_overrides) == {"batch_size": "32"}
    assert baseline_overrides("bc", {"baseline.goal.relabel": "episode"}) == {"goal.relabel": "episode"}
    sweep = baselines.make_sweep(["bc", "iql"], ["maze2d-umaze-v1"], [0, 1])
    assert expected_trials(sweep) == 4 and describe_space(sweep.param_space)["method"] == "grid['bc', 'iql']"


def test_bad_baseline_trials_fail_before_ray() -> None:
    from sweeps.driver.trial import check_trials

    def check(methods, *sets: str, steps: int | None = 20) -> None:
        args = _baseline_args(hierarchy_depth, *[a for s in sets for a in ("--set", s)])
        ctx = _ctx(
            base_overrides=args.overrides,
            baseline_overrides=args.baseline_overrides,
            baseline_steps=steps,
            named_configs={},
        )
        check_trials(ctx, methods, ["maze2d-umaze-v1"])

    check(["mage", "bc", "dt-goal"], "baseline.batch_size=8")  # valid
    with pytest.raises(ConfigError, match="unknown method"):
        check(["nope"])
    with pytest.raises(ConfigError, match="baseline 'bc'.*nope"):
        check(["bc"], "baseline.nope=1")
    with pytest.raises(ConfigError, match="multiple of baseline.steps_per_epoch"):
        check(["bc"], "baseline.steps_per_epoch=10", steps=15)
    with pytest.raises(ConfigError, match="no state plan"):
        check(["iql"], "eval.acting=track")
    with pytest.raises(ConfigError, match="trains no baseline"):
        check(["mage"], "baseline.batch_size=8")


def test_main_results_chosen_config_is_mage_only() -> None:
    from mage.distributed.baselines import baseline_eval_config
    from sweeps import main_results
    from sweeps.driver.trial import trial_config

    sweep = main_results.make_sweep(["mage", "bc"], ["maze2d-umaze-v1"], [0])
    ctx = _ctx(base_overrides={}, named_configs={}, method_overrides=sweep.method_overrides)
    _, _, mage = trial_config(ctx, {"method": "mage", "data.dataset": "maze2d-umaze-v1"})
    assert mage.data.rtg_horizon == 128 and mage.eval.rtg_update == "hold"
    method, _, bc = trial_config(ctx, {"method": "bc", "data.dataset": "maze2d-umaze-v1"})
    assert method == "bc" and bc.data.rtg_horizon == make_config("smoke").data.rtg_horizon
    # a track-G baseline always gets the goal; a track-R one keeps the sweep's protocol
    assert baseline_eval_config(bc, "bc-goal").eval.goal == "given" and baseline_eval_config(bc, "bc") is bc


@pytest.mark.slow
def test_baselines_smoke_then_main_table(tmp_path: Path) -> None:
    """bc and iql on embedded Ray + sqlite MLflow, each with a '+ hold' evaluation; then the main table."""
    proc = run_sweep_script("baselines.py", tmp_path, "--also-hold", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from mage.tracking.query import list_artifacts, search_runs

    uri = f"sqlite:///{tmp_path}/mlruns.db"
    runs = search_runs("mage-baselines", tracking_uri=uri)
    parent = runs[runs["tags.mage.run_type"] == "sweep"]
    assert len(parent) == 1 and parent["status"].iloc[0] == "FINISHED"
    assert parent["tags.mage.method"].iloc[0] == "bc,iql" and parent["params.sweep.also"].iloc[0] == "hold"
    finished = runs[(runs["parent_run_id"] == parent["run_id"].iloc[0]) & (runs["status"] == "FINISHED")]
    assert (finished["tags.mage.run_type"] == "trial").all() and finished["tags.mage.trial_id"].is_unique
    assert sorted(finished["tags.mage.method"]) == ["bc", "iql"]
    assert (finished["tags.mage.track"] == "R").all() and (finished["tags.mage.hold"] == "false").all()
    assert (finished["metrics.baseline/steps"] == 20).all() and finished["metrics.time/train_s"].notna().all()
    assert finished["metrics.eval/episodes"].tolist() == [2.0, 2.0]
    assert (
        finished["metrics.eval/norm_score"].notna().all()
        and finished["metrics.eval/success_rate"].notna().all()
    )
    assert (
        finished["metrics.loss"].notna().any() and finished["metrics.actor_loss"].notna().any()
    )  # d3rlpy epochs
    assert list_artifacts(finished["run_id"].iloc[0], "checkpoint", tracking_uri=uri)
    holds = runs[runs["parent_run_id"].isin(finished["run_id"])]  # the --also-hold evaluations
    assert len(holds) == 2 and (holds["tags.mage.hold"] == "true").all() and len(runs) == 5
    assert (holds["tags.mage.run_type"] == "eval").all() and sorted(holds["tags.mage.method"]) == [
        "bc",
        "iql",
    ]

    from analysis import main_table

    out = tmp_path / "mt"
    main_table.run(["mage-baselines"], uri, out, cache=False)
    md = (out / "main_table.md").read_text()
    assert "| **BC (measured here)** | measured | R | own |" in md
    assert "| **IQL (measured here)** | measured | R | own + hold |" in md
    assert "HD *(quoted)*" in md and "1 × 2" in md  # seeds × episodes
    csv = pd.read_csv(out / "main_table.csv")
    bc = csv[(csv["method"] == "BC (measured here)") & (csv["maze"] == "umaze")]
    assert set(bc["switches"]) == {"own", "own + hold"} and set(bc["kind"]) == {"measured"}
    assert (out / "main_table.png").stat().st_size > 10_000 and "\\textbf{IQL (measured here)}" in (
        out / "main_table.tex"
    ).read_text()
