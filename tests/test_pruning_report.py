"""analysis/pruning.py on an MLflow store written through the real client: an ASHA sweep and a FIFO sweep over
the same four configs, with wall times chosen so the saved share and the regret are known by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from analysis import pruning  # noqa: E402
from mage.tracking.query import NoRunsError  # noqa: E402

SPACE = {"space.tokenizer.num_scales": "choice[2, 4]", "space.train.policy_lr": "logfloat[0.0001, 0.003]"}
CONFIGS = [(2, 1e-3), (4, 1e-3), (2, 3e-4), (4, 3e-4)]
FIFO = [(50.0, 100), (80.0, 120), (20.0, 100), (70.0, 120)]  # (score, wall s), every trial to its end
# ASHA: configs 0 and 2 stopped after 2 of 6 epochs; 1 and 3 finish (slightly different scores: another run)
ASHA = [(None, 40), (78.0, 125), (None, 30), (72.0, 118)]
T0 = 1_700_000_000_000


def _run(client, exp, name, tags, params, *, start_s, wall_s, status="FINISHED", metrics=None, parent=None):
    t = {"mlflow.runName": name, **{k: str(v) for k, v in tags.items()}}
    if parent:
        t["mlflow.parentRunId"] = parent
    rid = client.create_run(exp, start_time=T0 + 1000 * start_s, tags=t, run_name=name).info.run_id
    for k, v in params.items():
        client.log_param(rid, k, v)
    for k, v in (metrics or {}).items():
        client.log_metric(rid, k, float(v))
    client.set_terminated(rid, status, end_time=T0 + 1000 * (start_s + wall_s))
    return rid


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('pruning') / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri)
    e = client.create_experiment("mage-search")
    sweep = {"mage.run_type": "sweep", "mage.sweep": "search"}
    for name, rows in (("fifo-run", FIFO), ("asha-run", ASHA)):
        parent = _run(client, e, name, sweep, SPACE, start_s=0, wall_s=300)
        for i, ((k, lr), (score, wall)) in enumerate(zip(CONFIGS, rows)):
            params = {"tokenizer.num_scales": k, "train.policy_lr": lr, "train.policy_epochs": 6}
            tags = {"mage.run_type": "trial", "mage.dataset": "maze2d-umaze-v1"}
            if score is None:
                tags["mage.stopped_early"] = "ASHA after 2 stage-2 epoch(s)"
            _run(client, e, f"{name}_{i}", tags, params, start_s=i, wall_s=wall, parent=parent,
                 status="KILLED" if score is None else "FINISHED",
                 metrics={} if score is None else {"eval/norm_score": score})  # fmt: skip
    return uri


def test_pruning_report_pairs_configs_and_counts_what_asha_saved(store: str, tmp_path: Path) -> None:
    out = tmp_path / "pruning"
    args = [
        "--tracking-uri",
        store,
        "--out",
        str(out),
        "--no-cache",
        "--asha",
        "asha-run",
        "--fifo",
        "fifo-run",
    ]
    assert pruning.main(args) == 0
    table = pd.read_csv(out / "pruning.csv")
    assert list(table["FIFO score"]) == [80.0, 70.0, 50.0, 20.0]  # FIFO's best first
    assert list(table["ASHA"]) == ["78.0", "72.0", "stopped after 2 epochs", "stopped after 2 epochs"]
    md = (out / "pruning.md").read_text()
    saved = 100 * (1 - (40 + 125 + 30 + 118) / (100 + 120 + 100 + 120))
    assert f"| trial-seconds saved by ASHA (%) | {saved:.1f} |" in md
    assert "| stage-2 epochs, FIFO | 24.0 |" in md and "| stage-2 epochs, ASHA | 16.0 |" in md
    assert "| ASHA kept FIFO's best config | yes |" in md
    assert "| regret (FIFO best - FIFO score of ASHA's pick) | 0.0 |" in md
    assert (out / "pruning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pruning_report_names_the_sweeps_it_knows(store: str, tmp_path: Path) -> None:
    with pytest.raises(NoRunsError, match=r"--fifo nope: .*asha-run, fifo-run"):
        pruning.run(["mage-search"], store, tmp_path, asha="asha-run", fifo="nope", cache=False)
