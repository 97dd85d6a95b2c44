"""analysis/goal_cells.py on a real rollout's episodes logged to a throw-away MLflow store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import goal_cells
from mage.eval.agents import WaypointAgent
from mage.eval.protocol import EvalProtocol
from mage.eval.rollout import run_episodes

TASK = "maze2d-umaze-multi-v1"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("cells")
    uri = f"sqlite:///{root / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("cells", artifact_location=(root / "art").as_uri())
    res = run_episodes(WaypointAgent(TASK), TASK, episodes=8, num_envs=4, protocol=EvalProtocol(goal="given"))
    new = pd.DataFrame([{**r.to_row(), "task": TASK} for r in res])
    old = new.drop(columns=["start_x", "start_y", "goal_x", "goal_y"])  # evaluated before the columns existed
    ids = {}
    for name, df in (("new", new), ("old", old)):
        run = client.create_run(exp, run_name=name)
        path = root / name / "episodes.parquet"
        path.parent.mkdir()
        df.to_parquet(path)
        client.log_artifact(run.info.run_id, str(path), "eval")
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
    return uri, ids


def test_goal_cells_report_from_a_run(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, ids = store
    assert goal_cells.main(["--run-id", ids["new"], "--tracking-uri", uri, "--out", str(tmp_path)]) == 0
    t = pd.read_csv(tmp_path / "goal_cells.csv")
    assert set(t["by"]) == {"start", "goal", "cells apart"}
    assert (t.groupby("by")["episodes"].sum() == 8).all()  # every episode in each grouping once
    assert (t["success"] == 1.0).all()  # D4RL's waypoint controller reaches every Multi2D goal
    assert "### By start" in (tmp_path / "goal_cells.md").read_text()


def test_goal_cells_on_episodes_without_positions_says_what_to_do(
    store: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    uri, ids = store
    assert goal_cells.main(["--run-id", ids["old"], "--tracking-uri", uri, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "analysis/goal_cells.py: error:" in err and "evaluate the checkpoint again" in err
    assert not (tmp_path / "goal_cells.csv").exists()
