"""mage.tracking against a real temporary sqlite MLflow store (no server, no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mage.config import make_config
from mage.tracking import query
from mage.tracking.fallback import JsonlLogger, NoopLogger
from mage.tracking.mlflow_logger import MAX_PARAM_VAL_LENGTH, RunLogger, flatten_params, standard_tags
from mage.tracking.store import default_artifact_root


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # a stray ./mlruns would land here and fail test_no_cwd_mlruns
    monkeypatch.delenv("MAGE_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return f"sqlite:///{tmp_path / 'mlruns.db'}"


def test_flatten_params_nested_and_long_values() -> None:
    flat = flatten_params({"a": {"b": 1, "c": {"d": [1, 2]}}, "long": "x" * 10_000})
    assert flat["a.b"] == "1"
    assert flat["a.c.d"] == "1,2"
    assert len(flat["long"]) == MAX_PARAM_VAL_LENGTH
    assert flat["long"].endswith("...")


def test_config_params_tags_metrics_artifacts(store: str, tmp_path: Path) -> None:
    cfg = make_config("smoke", {"tokenizer.scale_schedule": [1, 2, 4, 8]})
    art = tmp_path / "ckpt"
    art.mkdir()
    (art / "weights.txt").write_text("w")
    df = pd.DataFrame({"episode": [0, 1], "return": [1.5, 2.5]})
    with RunLogger.start(
        experiment="exp-a", tracking_uri=store, run_name="r1", tags=standard_tags(cfg, run_type="train")
    ) as run:
        run.log_config(cfg)
        # 250 params with the long config: more than one MLflow batch of 100
        run.log_params({f"extra.p{i}": i for i in range(250)})
        for epoch in range(3):
            run.log_metrics({"tok/loss": 1.0 / (epoch + 1), "epoch": epoch, "note": "skipped"}, step=epoch)
        run.log_artifacts(art, "checkpoint")
        run.log_table(df, "eval/episodes.parquet")
    got = query.get_run(run.run_id, tracking_uri=store)
    assert got.info.status == "FINISHED"
    assert got.data.params["tokenizer.num_scales"] == "4"
    assert got.data.params["tokenizer.scale_schedule"] == "1,2,4,8"
    assert got.data.params["extra.p249"] == "249"
    tags = got.data.tags
    assert tags["mage.run_type"] == "train" and tags["mage.dataset"] == cfg.data.dataset
    assert tags["mage.K"] == "4" and tags["mage.method"] == "mage"
    assert tags["mage.git_sha"] and tags["mage.hardware"].startswith(("cpu:", "gpu:"))
    assert "note" not in got.data.metrics

    hist = query.metric_history(run.run_id, ["tok/loss"], tracking_uri=store)
    assert hist["step"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(hist["value"], [1.0, 0.5, 1 / 3])
    assert query.list_artifacts(run.run_id, tracking_uri=store) == [
        "checkpoint/weights.txt",
        "eval/episodes.parquet",
    ]
    pd.testing.assert_frame_equal(query.load_episodes(run.run_id, tracking_uri=store), df)


def test_explicit_artifact_location(store: str, tmp_path: Path) -> None:
    with RunLogger.start(experiment="exp-loc", tracking_uri=store) as run:
        run.log_metrics({"x": 1.0})
    exp = run.client.get_experiment_by_name("exp-loc")
    root = default_artifact_root(store)
    assert root == (tmp_path / "mlartifacts").as_uri()
    assert exp.artifact_location == f"{root}/exp-loc"
    assert not (tmp_path / "mlruns").exists()  # never the cwd's ./mlruns


def test_parent_child_and_search(store: str) -> None:
    parent = RunLogger.start(experiment="exp-pc", tracking_uri=store, tags={"mage.run_type": "sweep"})
    kids = [
        RunLogger.start(
            experiment="exp-pc",
            tracking_uri=store,
            parent_run_id=parent.run_id,
            tags={"mage.run_type": "trial"},
        )
        for _ in range(2)
    ]
    for i, k in enumerate(kids):
        k.log_params({"lr": 10.0 ** -(i + 3)})
        k.log_metrics({"eval/norm_score": 10.0 * i})
        k.end()
    parent.end()
    df = query.search_runs("exp-pc", tracking_uri=store, parent_run_id=parent.run_id)
    assert sorted(df["run_id"]) == sorted(k.run_id for k in kids)
    assert (df["parent_run_id"] == parent.run_id).all()
    assert df["params.lr"].dtype.kind == "f"  # numeric params come back numeric
    assert sorted(df["metrics.eval/norm_score"]) == [0.0, 10.0]
    trials = query.search_runs(["exp-pc", "missing"], tracking_uri=store, run_type="sweep")
    assert trials["run_id"].tolist() == [parent.run_id]
    assert query.search_runs("missing", tracking_uri=store).empty


def test_failed_run_status_and_message(store: str) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        RunLogger.start(experiment="exp-f", tracking_uri=store) as run,
    ):
        raise RuntimeError("boom")
    got = query.get_run(run.run_id, tracking_uri=store)
    assert got.info.status == "FAILED"
    assert got.data.tags["mage.error"] == "RuntimeError: boom"


def test_attach_does_not_end_run(store: str) -> None:
    run = RunLogger.start(experiment="exp-att", tracking_uri=store)
    with RunLogger.attach(run.run_id, tracking_uri=store) as worker:
        worker.log_metrics({"pol/loss": 0.5}, step=3)
    assert run.status == "RUNNING"
    run.end()
    assert run.status == "FINISHED"
    with pytest.raises(ValueError, match="not found in the tracking store"):
        query.get_run("0" * 32, tracking_uri=store)


def test_jsonl_and_noop_loggers(tmp_path: Path) -> None:
    with NoopLogger() as n:
        n.log_metrics({"a": 1.0}, step=1)
    with JsonlLogger(tmp_path / "out") as j:
        j.log_params({"a": {"b": 2}})
        j.log_metrics({"x": 1.0, "bad": float("nan")}, step=2)
        j.log_table(pd.DataFrame({"episode": [0]}), "eval/episodes.parquet")
    recs = [json.loads(line) for line in (tmp_path / "out" / "run.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in recs] == ["params", "metrics", "artifact", "end"]
    assert recs[0]["params"] == {"a.b": "2"}
    assert recs[1]["metrics"] == {"x": 1.0, "bad": None} and recs[1]["step"] == 2
    assert recs[-1]["status"] == "FINISHED"
    assert (tmp_path / "out" / "eval" / "episodes.parquet").exists()


def test_standard_tags_rejects_unknown_run_type() -> None:
    with pytest.raises(ValueError, match="run_type"):
        standard_tags(run_type="bogus")


def test_tokenizer_key_follows_stage_one_only_and_a_sweep_finds_a_ready_tokenizer(store: str) -> None:
    from mage.tracking.sweep_runs import TOKENIZER_KEY_TAG, TOKENIZER_READY_TAG, find_tokenizer, tokenizer_key

    def key(**over):
        return tokenizer_key(make_config("smoke", over).flatten())

    base = key()
    # stage 2, evaluation and the stage-2 budget leave the tokenizer as it is
    for same in (
        {"transformer.depth": 3},
        {"policy.lambda_inv": 2.0},
        {"eval.hold": True},
        {"train.policy_epochs": 5},
    ):
        assert key(**same) == base, same
    # data, tokenizer and stage-1 training change it
    for other in (
        {"tokenizer.num_scales": 3},
        {"data.rtg_horizon": 16},
        {"train.seed": 1},
        {"train.tokenizer_lr": 1e-4},
    ):
        assert key(**other) != base, other
    with RunLogger.start(experiment="sweep", tracking_uri=store, run_name="parent") as parent:
        pid = parent.run_id
        for name, ready in (("pending", None), ("done", "true")):
            tags = {TOKENIZER_KEY_TAG: base, "mage.trial_id": f"t-{name}"}
            tags.update({TOKENIZER_READY_TAG: ready} if ready else {})
            with RunLogger.start(
                experiment="sweep", tracking_uri=store, run_name=name, parent_run_id=pid, tags=tags
            ) as child:
                if ready:
                    done_id = child.run_id
        # an attempt interrupted in stage 2 ends KILLED after publishing its stage-1 tokenizer
        seed2 = key(**{"train.seed": 2})
        killed = RunLogger.start(experiment="sweep", tracking_uri=store, run_name="killed", parent_run_id=pid,
                                 tags={TOKENIZER_KEY_TAG: seed2, TOKENIZER_READY_TAG: "true",
                                       "mage.trial_id": "t-killed"})  # fmt: skip
        killed.end("KILLED")
        other_parent = RunLogger.start(experiment="sweep", tracking_uri=store, run_name="other")
        other_parent.end()
    assert find_tokenizer(base, pid, tracking_uri=store) == done_id  # only the run that logged its tokenizer
    assert find_tokenizer(seed2, pid, tracking_uri=store, not_trial="t-new") == killed.run_id  # still reused
    assert find_tokenizer(key(**{"train.seed": 1}), pid, tracking_uri=store) is None
    assert find_tokenizer(base, other_parent.run_id, tracking_uri=store) is None  # scoped to one sweep
    # a resumed trial does not reuse its own earlier attempt's tokenizer: its own fit continues instead
    assert find_tokenizer(base, pid, tracking_uri=store, not_trial="t-done") is None
    assert find_tokenizer(base, pid, tracking_uri=store, not_trial="t-other") == done_id


def test_a_run_its_sweep_already_killed_stays_killed_when_its_training_then_raises(store) -> None:
    """ASHA (or Ctrl-C) ends a trial's run KILLED, then stopping the trial makes its training raise: the run keeps
    KILLED and the raised error goes to mage.error_on_interrupt; an ordinary error still ends it FAILED."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    with pytest.raises(RuntimeError), RunLogger.start(experiment="exp-killed", tracking_uri=store) as run:
        RunLogger.attach(run.run_id, tracking_uri=store).end("KILLED")  # the sweep's driver, meanwhile
        raise RuntimeError("training aborted")
    got = client.get_run(run.run_id)
    assert got.info.status == "KILLED" and "training aborted" in got.data.tags["mage.error_on_interrupt"]
    with pytest.raises(RuntimeError), RunLogger.start(experiment="exp-killed", tracking_uri=store) as other:
        raise RuntimeError("a real failure")
    got = client.get_run(other.run_id)
    assert got.info.status == "FAILED" and "a real failure" in got.data.tags["mage.error"]
