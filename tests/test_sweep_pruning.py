"""ASHA really prunes: trials report every stage-2 epoch to Tune, a clearly worse trial is stopped before its
last epoch, and Optuna sees the intermediate values and records the stopped trial as PRUNED (slow: embedded
Ray, two smoke trials one after the other)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 4  # stage-2 epochs per trial: rungs at 2 (grace period) and 4, max_t = 5 (the final evaluation)

# A search sweep over the policy learning rate whose two trials Optuna takes from points_to_evaluate: a good
# learning rate first, then one so small that stage 2 barely moves (clearly worse validation loss).
SCRIPT = """
import json, sys
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from sweeps.driver.cli import build_parser
from sweeps.driver.run import run_sweep
from sweeps.driver.searchers import optuna_search
from sweeps.driver.spec import Sweep

points = [{"train.policy_lr": 3e-3}, {"train.policy_lr": 1e-8}]
search = optuna_search(0, points_to_evaluate=points)
sweep = Sweep(
    name="prune", experiment="mage-prune", num_samples=2, search_alg=search,
    param_space={"train.policy_lr": tune.loguniform(1e-9, 1e-2), "data.dataset": "maze2d-umaze-v1",
                 "train.seed": 0},
    scheduler=ASHAScheduler(time_attr="training_iteration", max_t=%(max_t)d, grace_period=2,
                            reduction_factor=2),
)
args = build_parser("prune", default_experiment="mage-prune").parse_args(sys.argv[1:])
rc = run_sweep(sweep, args)
study = search._ot_study
trials = [{"state": t.state.name, "lr": t.params.get("train.policy_lr"),
           "intermediate": len(t.intermediate_values), "value": t.value} for t in study.trials]
print("OPTUNA " + json.dumps(trials))
sys.exit(rc)
"""


@pytest.mark.slow
def test_asha_stops_the_worse_trial_before_its_last_epoch(tmp_path: Path) -> None:
    script = tmp_path / "prune_sweep.py"
    script.write_text(SCRIPT % {"max_t": EPOCHS + 1})
    env = {**os.environ, "MAGE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    cmd = [
        sys.executable, str(script), "--smoke", "--tracking-uri", uri, "--storage", str(tmp_path / "ray"),
        "--name", "prune", "--max-concurrent", "1", "--set", f"train.policy_epochs={EPOCHS}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    (tmp_path / "sweep.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    # Tune's own record: reports per trial (training_iteration counts every tune.report).
    from ray.tune import ExperimentAnalysis

    ea = ExperimentAnalysis(str(tmp_path / "ray" / "prune"))
    iters = {}
    for trial in ea.trials:
        df = ea.trial_dataframes[trial.trial_id]
        lr = trial.config["train.policy_lr"]
        iters[lr] = (
            int(df["training_iteration"].max()),
            len(df),
            "eval/norm_score" in df and df["eval/norm_score"].notna().any(),
        )
        assert len(df) > 1, f"trial lr={lr} reported {len(df)} result(s)"  # per-epoch results reached Tune
        assert df["tune/objective"].notna().all()
    print("TUNE", iters)
    good_iter, good_n, good_eval = iters[3e-3]
    bad_iter, bad_n, bad_eval = iters[1e-8]
    assert good_iter == EPOCHS + 1 and good_eval  # every epoch, then the final evaluation
    assert bad_iter < EPOCHS and not bad_eval  # stopped by ASHA at the rung of epoch 2, never evaluated
    # The stopped trial's Train workers' placement group (named in its reports) went back to the cluster.
    bad = next(t for t in ea.trials if t.config["train.policy_lr"] == 1e-8)
    assert ea.trial_dataframes[bad.trial_id]["mage/train_pg"].notna().all()
    assert f"[sweep] trial {bad.trial_id} stopped: released its Train workers' resources" in proc.stdout

    # Optuna saw the intermediate values; the stopped trial is PRUNED, the finished one COMPLETE.
    line = next(x for x in proc.stdout.splitlines() if x.startswith("OPTUNA "))
    states = {t["lr"]: t for t in json.loads(line.removeprefix("OPTUNA "))}
    assert states[3e-3]["state"] == "COMPLETE" and states[3e-3]["intermediate"] >= EPOCHS
    assert states[1e-8]["state"] == "PRUNED" and states[1e-8]["intermediate"] >= 1

    # MLflow: the finished trial's run is FINISHED with a score, the stopped one KILLED and tagged.
    from mage.tracking.query import search_runs

    runs = search_runs("mage-prune", tracking_uri=uri)
    children = runs[runs["parent_run_id"].notna()]
    by_lr = {float(r["params.train.policy_lr"]): r for _, r in children.iterrows()}
    assert by_lr[3e-3]["status"] == "FINISHED"
    stopped = by_lr[1e-8]
    assert stopped["status"] == "KILLED" and "AsyncHyperBand" in stopped["tags.mage.stopped_early"]
    assert (runs[runs["tags.mage.run_type"] == "sweep"]["status"] == "FINISHED").all()


def test_epoch_objective_and_no_metric_check_workaround(monkeypatch) -> None:
    import math

    from mage.distributed.train import epoch_objective
    from sweeps.driver.env import sweep_env

    assert epoch_objective({"pol/val_loss": 2.0, "pol/loss": 3.0}) == -2.0
    assert epoch_objective({"pol/loss": 3.0}) == -3.0 and math.isnan(epoch_objective({}))
    assert epoch_objective({"pol/val_loss": 2.0, "probe/norm_score": 41.5}) == 41.5  # probe epochs
    assert (
        epoch_objective({"tok/loss": 1.0, "tok/val_rec": 0.25, "tok/rec": 0.5}) == -0.25
    )  # tokenizer sweeps
    monkeypatch.delenv("TUNE_DISABLE_STRICT_METRIC_CHECKING", raising=False)
    sweep_env()
    assert "TUNE_DISABLE_STRICT_METRIC_CHECKING" not in os.environ  # every result carries the objective


def test_a_trial_without_its_final_metric_is_pruned_for_optuna() -> None:
    from ray import tune

    from sweeps.driver.searchers import optuna_search

    search = optuna_search(0)
    search.set_search_properties("tune/objective", "max", {"x": tune.uniform(0, 1)})
    for tid, final in (("a", True), ("b", False)):
        search.suggest(tid)
        search.on_trial_result(tid, {"tune/objective": -1.0, "training_iteration": 1})
        last = (
            {"tune/objective": 5.0, "eval/norm_score": 5.0, "mage/final": True}
            if final
            else {"tune/objective": -1.0}
        )
        search.on_trial_complete(tid, result={**last, "training_iteration": 2})
    states = [t.state.name for t in search._ot_study.trials]
    assert states == ["COMPLETE", "PRUNED"]
    assert [len(t.intermediate_values) for t in search._ot_study.trials] == [1, 1]
