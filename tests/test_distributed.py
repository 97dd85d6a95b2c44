"""mage.distributed on a real embedded Ray (2 CPUs) with a temporary sqlite MLflow store.

The end-to-end run (both stages in one Ray Train fit of 2 workers, 2 rollout actors) is shared by the tests
below through a module fixture.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mage.config import make_config
from mage.distributed.resources import Resources
from mage.distributed.rollouts import run_jobs
from mage.distributed.worker import TOKENIZER_METRICS
from mage.eval.jobs import RolloutJob
from mage.eval.protocol import EvalProtocol
from mage.eval.registry import make_agent
from mage.eval.scores import summarize
from mage.tracking.context import Tracking

ray = pytest.importorskip("ray")

TINY = {
    "train.steps_per_epoch": 3,
    "train.batch_size": 32,
    "train.val_batches": 1,
    "train.tokenizer_epochs": 2,
    "train.policy_epochs": 2,
    "eval.episodes": 4,
    "eval.num_envs": 2,
}


GOAL = EvalProtocol(goal="given")  # the waypoint controller steers to the env's goal


def _cfg(path: Path, **extra):
    return make_config("smoke", {"data.path": str(path), **TINY, **extra})


@pytest.fixture(scope="module")
def local_ray():
    from mage.distributed.ray_init import init_ray, shutdown_ray

    shutdown_ray()
    res = init_ray(num_cpus=2)
    yield res
    shutdown_ray()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"


@pytest.fixture(scope="module")
def e2e(local_ray, store, tiny_maze2d_path, tmp_path_factory):
    from mage.distributed.train import run_experiment

    cfg = _cfg(
        tiny_maze2d_path, **{"eval.probe_every": 1, "eval.probe_episodes": 2}
    )  # probe each stage-2 epoch
    res = run_experiment(
        cfg,
        resources=Resources(
            num_workers=2,
            use_gpu=False,
            num_actors=2,
            storage_path=str(tmp_path_factory.mktemp("ray_results")),
        ),
        tracking=Tracking(tracking_uri=store, experiment="test-e2e", run_name="e2e"),
        progress=True,  # the driver's bars: rank 0 of 2 workers posts its steps through the actor
    )
    return cfg, res


# ----------------------------------------------------------------------------------------------------------
# fast (no Ray)


def test_unknown_method_and_bad_jobs() -> None:
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        make_agent("nope", None, "maze2d-umaze-v1")
    with pytest.raises(ValueError, match="episodes=0"):
        RolloutJob("waypoint", None, "maze2d-umaze-v1", 0, None, 0, protocol=GOAL)
    with pytest.raises(ValueError, match="jobs is empty"):
        run_jobs([], num_actors=0)


def test_auth_token_created_for_embedded_ray_only(tmp_path, monkeypatch) -> None:
    from mage.distributed.ray_init import ensure_auth_token

    token = tmp_path / "fresh" / "auth_token"  # a fresh checkout has no .ray/ yet
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="head's token"):
        ensure_auth_token(create=False)
    assert not token.exists()
    ensure_auth_token(create=True)
    first = token.read_text()
    assert len(first) == 64 and token.stat().st_mode & 0o777 == 0o600
    ensure_auth_token(create=True)  # an existing token is kept: a running head may use it
    assert token.read_text() == first


def test_one_fit_bar_counts_stage_two_on_from_stage_one() -> None:
    """In one fit the loop counts each stage's steps from 0; the driver's single bar must not jump back."""
    from mage.distributed.worker import _after_stage_one
    from mage.loop import TrainHooks

    posted: list[tuple[int, int]] = []
    stage2 = _after_stage_one(TrainHooks(on_step=lambda s, t: posted.append((s, t))), 400)
    stage2.on_step(1, 600)
    stage2.on_step(600, 600)
    assert posted == [(401, 1000), (1000, 1000)]
    assert _after_stage_one(TrainHooks(), 400).on_step is None


def test_in_process_rollouts_and_summary() -> None:
    job = RolloutJob("waypoint", None, "maze2d-umaze-v1", 5, None, 5, protocol=GOAL)
    df = run_jobs([job], num_actors=0, num_envs=2, progress=False)
    assert df["episode"].tolist() == [0, 1, 2, 3, 4]
    assert df["env_seed"].tolist() == [5, 6, 7, 8, 9]
    assert (df["length"] == 300).all() and df["success"].all()
    m = summarize(df)
    assert m["eval/episodes"] == 5 and m["eval/success_rate"] == 1.0
    assert m["eval/norm_score"] > 50  # the waypoint controller is the expert
    assert all(math.isfinite(v) for k, v in m.items() if k != "eval/target_return")


# ----------------------------------------------------------------------------------------------------------
# Ray


@pytest.mark.slow
def test_embedded_ray_workers_drop_the_placement_group_cleaners_warnings(local_ray) -> None:
    """No dashboard, no state API: the cleaner's "Failed to query ..." warnings are dropped in every worker,
    and only that logger's (Ray Train's other warnings still show)."""
    import logging

    import ray

    from mage.distributed.ray_init import PG_CLEANER_LOGGER

    @ray.remote
    def levels() -> tuple[int, int]:
        cleaner = logging.getLogger(PG_CLEANER_LOGGER).getEffectiveLevel()
        return cleaner, logging.getLogger("ray.train.v2._internal.execution.controller").getEffectiveLevel()

    cleaner, controller = ray.get(levels.remote())
    assert cleaner == logging.ERROR and controller < logging.ERROR
    assert logging.getLogger(PG_CLEANER_LOGGER).getEffectiveLevel() < logging.ERROR  # the driver is untouched


@pytest.mark.slow
def test_rollouts_same_returns_for_any_actor_count(local_ray) -> None:
    jobs = [
        RolloutJob("waypoint", None, "maze2d-umaze-v1", 0, None, 7, protocol=GOAL),
        RolloutJob("random", None, "maze2d-umaze-v1", 100, None, 5),
    ]
    one = run_jobs(jobs, num_actors=1, num_envs=3, progress=False)
    two = run_jobs(jobs, num_actors=2, num_envs=3, progress=False, actor_cpus=1.0)
    local = run_jobs(jobs, num_actors=0, num_envs=3, progress=False)
    assert len(one) == 12 and one["job"].tolist() == [0] * 7 + [1] * 5
    np.testing.assert_array_equal(one["return"], two["return"])
    np.testing.assert_array_equal(one["return"], local["return"])
    assert one["return"].std() > 0  # the test would be vacuous if every return were equal


@pytest.mark.slow
def test_rollout_actors_start_inside_a_tune_trial(local_ray, tmp_path) -> None:
    """A trial's placement group holds only its own CPU; the actors must be scheduled outside it."""
    from ray import tune

    def trainable(config):
        job = RolloutJob("waypoint", None, "maze2d-umaze-v1", 0, None, 2, protocol=GOAL)
        df = run_jobs([job], num_actors=1, num_envs=2, progress=False, actor_cpus=0.5)
        tune.report({"eval/norm_score": float(df["norm_score"].mean())})

    grid = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        run_config=tune.RunConfig(name="actors-in-trial", storage_path=str(tmp_path)),
    ).fit()
    assert not grid.errors, grid.errors
    assert grid[0].metrics["eval/norm_score"] > 50


@pytest.mark.slow
def test_end_to_end_mlflow_contents(e2e, store) -> None:
    from mage.tracking import query

    cfg, res = e2e
    run = query.get_run(res.run_id, tracking_uri=store)
    assert run.info.status == "FINISHED"
    params, tags = run.data.params, run.data.tags
    assert params["tokenizer.num_scales"] == str(cfg.tokenizer.num_scales)
    assert params["data.path"] == cfg.data.path and params["ray.num_workers"] == "2"
    assert tags["mage.run_type"] == "train" and tags["mage.dataset"] == "maze2d-umaze-v1"
    assert tags["mage.K"] == "4" and tags["mage.world_size"] == "2"

    hist = query.metric_history(res.run_id, ["tok/loss", "pol/loss", "epoch"], tracking_uri=store)
    by_key = {k: g["step"].tolist() for k, g in hist.groupby("key")}
    assert by_key["tok/loss"] == [1, 2]  # per epoch, from rank 0 only
    assert by_key["pol/loss"] == [3, 4]  # stage 2 continues the epoch count
    assert by_key["epoch"] == [1, 2, 3, 4]
    probes = query.metric_history(res.run_id, ["probe/norm_score"], tracking_uri=store)
    assert probes["step"].tolist() == [3, 4] and np.isfinite(probes["value"]).all()  # eval.probe_every=1

    files = query.list_artifacts(res.run_id, tracking_uri=store)
    for f in (
        "checkpoint/config.json",
        "checkpoint/policy.pt",
        "tokenizer/tokenizer.pt",
        "eval/episodes.parquet",
    ):
        assert f in files
    assert "checkpoint/train_state.pt" not in files  # optimizer state stays in Ray storage

    m = run.data.metrics
    for k in (
        "eval/norm_score",
        "eval/norm_score_std",
        "eval/return_mean",
        "eval/success_rate",
        "eval/episodes",
    ):
        assert math.isfinite(m[k]), k
    assert m["eval/episodes"] == 4 and m["eval/length_mean"] == 300
    episodes = query.load_episodes(res.run_id, tracking_uri=store)
    from mage.eval.jobs import EPISODE_COLUMNS

    assert list(episodes.columns) == EPISODE_COLUMNS
    assert (episodes["track"] == "R").all() and not episodes["hold"].any()  # cfg.eval: the pure protocol
    assert run.data.tags["mage.track"] == "R" and run.data.tags["mage.hold"] == "false"
    assert len(episodes) == 4 and np.isfinite(episodes["norm_score"]).all()
    assert res.metrics["eval/norm_score"] == pytest.approx(episodes["norm_score"].mean())
    assert Path(res.checkpoint_dir, "policy.pt").is_file()


@pytest.mark.slow
def test_one_fit_trains_what_two_fits_train(e2e, store, tmp_path, monkeypatch) -> None:
    """The e2e run trained both stages in one Ray Train fit, probing each stage-2 epoch; MAGE_ONE_FIT=0 runs
    them as two fits (two start-ups), here without probes. Same seeds, same 2 workers: the same losses, epoch by
    epoch, and the same tokenizer/ artifact (so neither one fit nor the probes change what is trained)."""
    from mage.distributed.train import ONE_FIT_ENV, run_experiment
    from mage.tracking import query

    cfg, one = e2e
    monkeypatch.setenv(ONE_FIT_ENV, "0")
    two = run_experiment(
        _cfg(Path(cfg.data.path), **{"eval.probe_every": 0}),
        resources=Resources(num_workers=2, use_gpu=False, storage_path=str(tmp_path / "ray_results")),
        tracking=Tracking(tracking_uri=store, experiment="test-two-fits"),
        evaluate=False,
    )
    assert sorted(p.name.rsplit("-", 1)[1] for p in (tmp_path / "ray_results").iterdir()) == [
        "policy",
        "tokenizer",
    ]
    keys = ["tok/loss", "tok/val_rec", "pol/loss", "pol/val_loss"]
    h1, h2 = (query.metric_history(r.run_id, keys, tracking_uri=store) for r in (one, two))
    h1, h2 = (h.sort_values(["key", "step"]).reset_index(drop=True) for h in (h1, h2))
    assert h1[["key", "step"]].equals(h2[["key", "step"]]) and len(h1) == 8
    np.testing.assert_allclose(h1["value"], h2["value"], rtol=1e-5)
    for r in (one, two):  # one fit: tok/* of stage 1's last epoch still reach the result, timed per stage
        assert r.metrics["tok/loss"] == pytest.approx(h1[h1["key"] == "tok/loss"]["value"].iloc[-1], rel=1e-5)
        assert r.metrics["time/tokenizer_s"] > 0 and r.metrics["time/policy_s"] > 0
    assert "time/train_s" in one.metrics and "time/train_s" not in two.metrics
    t1, t2 = (query.get_run(r.run_id, tracking_uri=store).data.tags for r in (one, two))
    assert t1["mage.tokenizer_ready"] == t2["mage.tokenizer_ready"] == "true"
    import torch

    weights = []
    for r in (one, two):
        (tmp_path / r.run_id).mkdir()
        d = query.download_artifacts(r.run_id, "tokenizer", tmp_path / r.run_id, tracking_uri=store)
        weights.append(torch.load(Path(d) / "tokenizer.pt", map_location="cpu", weights_only=True))
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        torch.testing.assert_close(weights[0][k], weights[1][k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_one_fit_resumes_stage_two_after_a_worker_failure(e2e, store, tmp_path) -> None:
    """A worker fails after stage-2 epoch 1 of a one-fit run: the restart resumes stage 2 from its checkpoint
    (stage 1 is neither retrained nor logged again) and keeps stage 1's tokenizer/ artifact."""
    from mage.distributed.train import train_stage
    from mage.tracking import query
    from mage.tracking.mlflow_logger import RunLogger

    cfg_e2e, _ = e2e
    cfg = _cfg(Path(cfg_e2e.data.path), **{"train.policy_epochs": 3})
    marker = tmp_path / "fail-once"
    marker.write_text("x")
    run = RunLogger.start(experiment="test-resume", tracking_uri=store)
    result = train_stage(
        "both",
        cfg,
        resources=Resources(use_gpu=False, max_failures=1, storage_path=str(tmp_path / "ray_results")),
        run_id=run.run_id,
        tracking_uri=store,
        fail_once={"marker": str(marker), "epoch": 3},  # stage-2 epoch 1 has the global epoch number 3
    )
    run.end()
    assert not marker.exists()  # the failure really happened
    tags = query.get_run(run.run_id, tracking_uri=store).data.tags
    assert int(tags["mage.resumed_from_epoch.policy"]) == 1  # resumed from its checkpoint, not from scratch
    assert "mage.resumed_from_epoch.tokenizer" not in tags and tags["mage.tokenizer_ready"] == "true"
    assert result.metrics["epoch"] == 5
    hist = query.metric_history(run.run_id, ["tok/loss", "pol/loss"], tracking_uri=store)
    by_key = {k: g["step"].tolist() for k, g in hist.groupby("key")}
    assert by_key == {"tok/loss": [1, 2], "pol/loss": [3, 4, 5]}  # nothing trained (or logged) twice
    assert "tokenizer/tokenizer.pt" in query.list_artifacts(run.run_id, tracking_uri=store)
    assert result.return_value[TOKENIZER_METRICS]["tok/loss"] > 0  # stage 1's last epoch, from the restart


@pytest.mark.slow
def test_a_stopped_fit_continues_when_started_again_under_its_name(e2e, store, tmp_path) -> None:
    """What a sweep's ``--resume`` relies on (``run_experiment(fit_name=...)``): a one-fit run that stopped after
    stage-2 epoch 1 (no restarts left), started again under the same Ray Train name and storage, continues from
    that checkpoint (Ray Train restores runs by name): stage 1 is not trained again and epoch 3 is not repeated."""
    from mage.distributed.train import train_stage
    from mage.tracking import query
    from mage.tracking.mlflow_logger import RunLogger

    cfg_e2e, _ = e2e
    cfg = _cfg(Path(cfg_e2e.data.path), **{"train.policy_epochs": 3})
    marker = tmp_path / "fail-once"
    marker.write_text("x")
    res = Resources(use_gpu=False, max_failures=0, storage_path=str(tmp_path / "ray_results"))
    first = RunLogger.start(experiment="test-resume-by-name", tracking_uri=store)
    with pytest.raises(Exception, match="injected failure after epoch 3"):
        train_stage("both", cfg, name="trial-x", resources=res, run_id=first.run_id, tracking_uri=store,
                    fail_once={"marker": str(marker), "epoch": 3})  # fmt: skip
    first.end("KILLED")
    second = RunLogger.start(experiment="test-resume-by-name", tracking_uri=store)
    result = train_stage("both", cfg, name="trial-x", resources=res, run_id=second.run_id, tracking_uri=store)
    second.end()
    tags = query.get_run(second.run_id, tracking_uri=store).data.tags
    assert int(tags["mage.resumed_from_epoch.policy"]) == 1 and result.metrics["epoch"] == 5
    hist = query.metric_history(second.run_id, ["tok/loss", "pol/loss"], tracking_uri=store)
    assert hist.groupby("key")["step"].apply(list).to_dict() == {"pol/loss": [4, 5]}


@pytest.mark.slow
def test_an_interrupted_run_resumes_under_its_mlflow_run_id(
    local_ray, store, tiny_maze2d_path, tmp_path, monkeypatch
):
    """``mage train --resume RUN_ID`` (``run_experiment(resume_run_id=...)``): the same MLflow run goes on, its
    one fit (name and storage from the run's tags) continues from the last checkpoint, every epoch is logged
    once; a FINISHED run or other settings are refused."""
    import mage.distributed.train as T
    from mage.tracking import query
    from mage.tracking.mlflow_logger import ResumeError

    cfg = _cfg(tiny_maze2d_path, **{"train.policy_epochs": 3})
    marker = tmp_path / "fail-once"
    marker.write_text("x")
    tracking = Tracking(tracking_uri=store, experiment="test-train-resume")
    real = T.train_stage
    monkeypatch.setattr(
        T, "train_stage", lambda *a, **k: real(*a, **k, fail_once={"marker": str(marker), "epoch": 3})
    )
    res = Resources(use_gpu=False, max_failures=0, storage_path=str(tmp_path / "ray_results"))
    with pytest.raises(Exception, match="injected failure after epoch 3"):
        T.run_experiment(cfg, resources=res, tracking=tracking, evaluate=False)
    monkeypatch.setattr(T, "train_stage", real)
    (run_id,) = query.search_runs("test-train-resume", tracking_uri=store)["run_id"]
    with pytest.raises(ResumeError, match=r"train.policy_lr=0.0005 \(asked 0.0001\)"):
        T.run_experiment(_cfg(tiny_maze2d_path, **{"train.policy_epochs": 3, "train.policy_lr": 1e-4}),
                         tracking=tracking, evaluate=False, resume_run_id=run_id)  # fmt: skip
    # no --out given: the storage comes from the run's tags
    result = T.run_experiment(cfg, resources=Resources(use_gpu=False), tracking=tracking, evaluate=False,
                              resume_run_id=run_id)  # fmt: skip
    assert result.run_id == run_id and result.metrics["epoch"] == 5
    run = query.get_run(run_id, tracking_uri=store)
    assert run.info.status == "FINISHED" and run.data.tags["mage.resumed_from_epoch.policy"] == "1"
    assert (
        "mage.error" not in run.data.tags and "injected failure" in run.data.tags["mage.error_before_resume"]
    )
    hist = query.metric_history(run_id, ["tok/loss", "pol/loss"], tracking_uri=store)
    assert hist.groupby("key")["step"].apply(list).to_dict() == {"tok/loss": [1, 2], "pol/loss": [3, 4, 5]}
    with pytest.raises(ResumeError, match="is FINISHED"):
        T.run_experiment(cfg, tracking=tracking, evaluate=False, resume_run_id=run_id)


@pytest.mark.slow
def test_failed_experiment_is_marked_failed(local_ray, store, tiny_maze2d_path) -> None:
    from mage.distributed.train import run_experiment
    from mage.tracking import query

    with pytest.raises(ValueError, match="not found in the tracking store"):
        run_experiment(
            _cfg(tiny_maze2d_path),
            tracking=Tracking(tracking_uri=store, experiment="test-fail"),
            tokenizer_from="0" * 32,
            evaluate=False,
        )
    df = query.search_runs("test-fail", tracking_uri=store)
    assert df["status"].tolist() == ["FAILED"]
    assert "not found" in df["tags.mage.error"].iloc[0]


@pytest.mark.slow
def test_actor_without_shared_storage_unpacks_checkpoint(e2e) -> None:
    """An actor on another node cannot see the driver's path: it rebuilds the dir from the object store."""
    from mage.distributed.rollouts import RolloutWorker
    from mage.eval.jobs import pack_dir

    _, res = e2e
    packed = [ray.put(pack_dir(res.checkpoint_dir))]
    runner = RolloutWorker()
    job = RolloutJob("mage", res.checkpoint_dir, "maze2d-umaze-v1", 0, 50.0, 2)
    here, _, _ = runner.run_chunk_packed(job, 0, 2, packed)
    elsewhere, _, _ = runner.run_chunk_packed(replace(job, checkpoint="/nonexistent/ckpt"), 0, 2, packed)
    local_dir = Path(runner._ckpt_dirs["/nonexistent/ckpt"])
    assert (local_dir / "policy.pt").is_file() and not (local_dir / "train_state.pt").exists()
    assert [r["return"] for r in here] == [r["return"] for r in elsewhere]
    runner.close()
    assert not local_dir.exists() and Path(res.checkpoint_dir).is_dir()


@pytest.mark.slow
def test_stage_progress_bar_follows_the_steps_a_remote_worker_posts(local_ray) -> None:
    import io

    import ray

    from mage.distributed.progress import stage_progress

    @ray.remote(num_cpus=0)
    def worker(poster, total: int) -> None:
        for step in range(1, total + 1):
            poster(step, total)

    out = io.StringIO()
    with stage_progress("train policy", 50, interval=0.05, file=out) as poster:
        ray.get(worker.remote(poster, 50))
    text = out.getvalue()
    assert "train policy" in text and "50/50" in text
    with stage_progress("off", 5, enabled=False) as poster:
        assert poster is None


def test_a_stopped_trials_train_placement_group_is_released(local_ray) -> None:
    """The id rank 0 reports (``mage/train_pg``) lets the sweep driver remove the placement group of a trial
    that ASHA stopped: its CPUs come back for the next trials (Ray Train's own cleaner needs the state API)."""
    import ray
    from ray.util.placement_group import placement_group, placement_group_table

    from mage.distributed.train import release_train_workers
    from mage.distributed.worker import TRAIN_PG, _train_pg

    free = ray.available_resources().get("CPU", 0.0)
    pg = placement_group([{"CPU": 0.5}])
    ray.get(pg.ready(), timeout=60)

    @ray.remote(num_cpus=0.5)
    def reported() -> dict:  # what a Train worker adds to its reports, read inside the group
        return _train_pg()

    strategy = ray.util.scheduling_strategies.PlacementGroupSchedulingStrategy(placement_group=pg)
    result = ray.get(reported.options(scheduling_strategy=strategy).remote(), timeout=60)
    assert result == {TRAIN_PG: pg.id.hex()} and _train_pg() == {}  # the driver runs in no group
    assert ray.available_resources().get("CPU", 0.0) == pytest.approx(free - 0.5)
    assert release_train_workers({"training_iteration": 2, **result})
    assert placement_group_table(pg)["state"] == "REMOVED"
    for _ in range(50):  # the raylet returns the bundle's CPU shortly after
        if ray.available_resources().get("CPU", 0.0) == pytest.approx(free):
            break
        time.sleep(0.1)
    assert ray.available_resources().get("CPU", 0.0) == pytest.approx(free)
    assert not release_train_workers(result) and not release_train_workers({"training_iteration": 2})


DRIVER_IN_A_COPY = """
import sys
sys.path.insert(0, sys.argv[1])  # as sweeps/*.py do: the checkout the script lives in
import ray
import mage
from mage.distributed.ray_init import init_ray, shutdown_ray

@ray.remote
def where():
    import mage
    return mage.__file__

init_ray(num_cpus=1)
try:
    print("DRIVER", mage.__file__)
    print("WORKER", ray.get(where.remote()))
finally:
    shutdown_ray()
"""


@pytest.mark.slow
def test_workers_import_the_checkout_the_driver_runs_from(tmp_path: Path) -> None:
    """A sweep started from a copy of the checkout (a git worktree) must run the copy's code in its trials, not
    the editable install's. The worker setup hook makes every worker import mage before the driver's sys.path
    reaches it, so the driver's checkout goes first on the workers' PYTHONPATH (without it: the install's)."""
    import os
    import shutil
    import subprocess
    import sys

    import mage
    from mage.distributed.ray_init import code_path

    root = Path(mage.__file__).resolve().parents[1]
    copy = tmp_path / "worktree"
    shutil.copytree(root / "mage", copy / "mage", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "pyproject.toml", copy / "pyproject.toml")
    (tmp_path / "driver.py").write_text(DRIVER_IN_A_COPY)
    env = {**os.environ, "PYTHONPATH": ""}
    out = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(copy)], env=env, capture_output=True, text=True,
        timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(
        line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("DRIVER", "WORKER"))
    )
    assert lines["DRIVER"].startswith(str(copy)) and lines["WORKER"].startswith(str(copy)), lines
    assert code_path()["PYTHONPATH"].split(os.pathsep)[0] == str(root)
