"""Sweeps: search spaces, named configs and CLI (fast); --smoke end to end on an embedded Ray (slow).

The slow tests run the scripts as files in a subprocess, each with its own sqlite store, Tune storage and
data dir, and assert on what MLflow holds: one parent run per sweep, one child per trial.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mage.config import ConfigError, make_config
from mage.distributed.resources import Resources
from mage.tracking.context import Tracking
from sweeps import ablations, hierarchy_depth, search
from sweeps.driver.cli import SMOKE_OVERRIDES, build_parser, resolve_defaults
from sweeps.driver.spec import describe_space, expected_trials
from sweeps.driver.trial import TrialContext, trial_overrides

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------------
# Fast


def test_smoke_defaults_and_overrides() -> None:
    args = build_parser("x", default_experiment="e").parse_args(
        ["--smoke", "--set", "train.seed=3", "--set", "eval.sampling=sample"]
    )
    resolve_defaults(args)
    assert args.overrides == {**SMOKE_OVERRIDES, "train.seed": "3", "eval.sampling": "sample"}
    assert args.datasets == ["maze2d-umaze-v1"] and args.seeds == [0] and args.preset == "smoke"
    assert Path(args.storage).is_absolute()
    full = resolve_defaults(build_parser("x", default_experiment="e").parse_args([]))
    assert (
        full.datasets == ["maze2d-umaze-v1", "maze2d-medium-v1", "maze2d-large-v1"] and full.preset == "cpu"
    )


SET_OVERRIDES = [
    "data.rtg_horizon=16",
    "data.rtg_horizon=none",  # a later --set of the same key wins; none -> None
    "tokenizer.num_scales=4",
    "tokenizer.scale_schedule=[1,2,4,8]",
    "transformer.use_goal=true",
    "train.seed=3",
]


def test_set_grammar_is_the_config_one() -> None:
    """Repeated --set flags all count, with mage.config.parse_overrides' grammar (as in `mage train`)."""
    argv = ["--smoke"] + [a for item in SET_OVERRIDES for a in ("--set", item)]
    args = resolve_defaults(hierarchy_depth.make_parser().parse_args(argv))
    assert args.set == SET_OVERRIDES
    assert args.overrides["data.rtg_horizon"] is None and args.overrides["tokenizer.scale_schedule"] == [
        1,
        2,
        4,
        8,
    ]
    cfg = make_config(args.preset, args.overrides)
    assert cfg.data.rtg_horizon is None and cfg.tokenizer.scale_schedule == (1, 2, 4, 8)
    assert cfg.tokenizer.num_scales == 4 and cfg.transformer.use_goal is True and cfg.train.seed == 3
    assert cfg.data.max_steps == SMOKE_OVERRIDES["data.max_steps"]  # the smoke overrides stay underneath
    # the trial sees the same config: sweep-wide overrides first, then its own keys
    ctx = _ctx(base_overrides=args.overrides)
    trial = make_config(args.preset, trial_overrides(ctx, {"train.seed": 7}))
    assert trial.data.rtg_horizon is None and trial.tokenizer.scale_schedule == (1, 2, 4, 8)
    assert trial.transformer.use_goal is True and trial.train.seed == 7
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        resolve_defaults(build_parser("x", default_experiment="e").parse_args(["--set", "oops"]))
    with pytest.raises(SystemExit, match="not valid JSON"):
        resolve_defaults(build_parser("x", default_experiment="e").parse_args(["--set", "a.b=[1,"]))


@pytest.mark.parametrize("name", list(ablations.ABLATIONS))
def test_ablation_rows_are_valid_and_distinct(name: str) -> None:
    ours = make_config("smoke").flatten()
    cfg = make_config("smoke", ablations.ABLATIONS[name]).flatten()
    changed = {k for k in cfg if cfg[k] != ours[k]}
    assert (name == "ours") == (not changed), f"{name} changes {changed}"


def _ctx(**kw) -> TrialContext:
    base = dict(
        sweep="s",
        tracking=Tracking(tracking_uri="sqlite:///x.db", experiment="e", parent_run_id="p"),
        preset="smoke",
        base_overrides={"train.seed": 5, "tokenizer.num_scales": 3},
        named_configs=dict(ablations.ABLATIONS),
        adjust=None,
        smoke=False,
        resources=Resources(num_workers=1, use_gpu=False, num_actors=1, storage_path="/tmp"),
    )
    base.update(kw)
    return TrialContext(**base)


def test_trial_overrides_precedence() -> None:
    # sweep-wide < named config < the trial's own keys
    o = trial_overrides(_ctx(), {"ablation": "k1", "train.seed": 7})
    assert o["tokenizer.num_scales"] == 1 and o["train.seed"] == 7
    with pytest.raises(ConfigError, match="unknown ablation"):
        trial_overrides(_ctx(), {"ablation": "nope"})
    smoke = trial_overrides(_ctx(smoke=True), {"data.dataset": "maze2d-umaze-v1"})
    assert smoke["data.path"].endswith("smoke/maze2d-umaze-v1.hdf5")


def test_trial_resources_match_what_runs(monkeypatch) -> None:
    import ray

    from sweeps.driver.run import auto_resources, trial_placement, trial_resources

    args = resolve_defaults(
        build_parser("x", default_experiment="e").parse_args(["--smoke", "--num-actors", "2"])
    )
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    auto_resources(args)
    assert args.max_concurrent == 1 and args.gpus_per_trial == 0.0  # a 2-core box: one trial at a time
    res = trial_resources(args)
    # one trial: 1.5 CPUs besides its driver, so one core for its Train worker and 0.75 for each of 2 actors
    assert res.use_gpu is False and res.cpus_per_worker == 1.0 and res.num_actors == 2
    assert res.per_worker(0.6, gpu=False) == {
        "CPU": 1.0
    }  # fixed at the sweep's start, whatever is free later
    assert res.actor_cpus(0.6) == pytest.approx(0.75) and res.storage_path.endswith("/train")
    # --max-concurrent 2 on 2 cores: each trial gets half of what the drivers leave, so both Train workers start
    args.max_concurrent = 2
    auto_resources(args)
    assert args.max_concurrent == 2 and trial_resources(args).per_worker(2.0, gpu=False) == {"CPU": 0.5}
    args.max_concurrent = 8  # drivers alone would hold 4 of 2 CPUs: only 2 trials fit
    auto_resources(args)
    assert args.max_concurrent == 2
    # Only the trial driver runs in the trial's placement group (Train V2 and the rollout actors do not).
    assert trial_placement(args).bundles == [{"CPU": 0.5}]
    # Train workers and actors are counted in the default concurrency: 0.5 + max(1, 2) CPUs per trial.
    args.max_concurrent = args.gpus_per_trial = args.cpus_per_worker = args.cpus_per_actor = None
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0})
    auto_resources(args)
    assert args.max_concurrent == 6
    args.gpus_per_trial, args.num_workers = 0.5, 2
    assert trial_resources(args).per_worker(8.0, gpu=True) == {"CPU": 1.0, "GPU": 0.25}


@pytest.mark.parametrize("preset", ["smoke", "cpu", "full"])
def test_every_k_gets_a_schedule(preset: str) -> None:
    from mage.schedule import scale_schedule

    for k in hierarchy_depth.DEFAULT_K:
        cfg = make_config(preset, hierarchy_depth.fit_horizon(preset, {"tokenizer.num_scales": k}))
        sched = scale_schedule(cfg.data.horizon, k, cfg.tokenizer.downsample)
        assert len(sched) == k and sched[-1] == cfg.data.horizon // cfg.tokenizer.downsample
    assert hierarchy_depth.fit_horizon("smoke", {"tokenizer.num_scales": "10"})["data.horizon"] == 64
    assert hierarchy_depth.fit_horizon("smoke", {"tokenizer.num_scales": 2}) == {"tokenizer.num_scales": 2}
    # The horizon it starts from is the one make_config builds: the dataset's and the preset's, not the default's.
    deep = {"tokenizer.num_scales": 40, "data.dataset": "maze2d-large-v1"}  # 40 x stride 8 = 320 <= 384
    assert hierarchy_depth.fit_horizon("demo", deep) == deep
    assert make_config("demo", deep).data.horizon == 384


def test_a_grid_value_a_trial_would_reject_fails_before_ray(tmp_path: Path, capsys) -> None:
    """`--K 1 0`: K = 0 is a grid point, not a --set, and it fails as one line before Ray starts or a store
    or Tune dir is written (before, the sweep ran and its trial FAILED inside Ray)."""
    import ray

    from sweeps.driver.spec import grid_points

    sweep = hierarchy_depth.make_sweep([1, 0], ["maze2d-umaze-v1"], [0, 1])
    points = grid_points(sweep.param_space, skip=("data.dataset",))
    assert points == [{"tokenizer.num_scales": k, "train.seed": s} for k in (1, 0) for s in (0, 1)]
    assert grid_points(search.search_space(False, "maze2d-umaze-v1", 0, "cpu")) == [{}]  # sampled keys only
    argv = ["--smoke", "--K", "1", "0", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"]
    with pytest.raises(SystemExit, match="tokenizer.num_scales=0 must be >= 1"):
        hierarchy_depth.cli([*argv, "--storage", str(tmp_path / "tune")])
    assert not ray.is_initialized() and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--num-samples", "0"], "argument --num-samples: 0 must be >= 1"),  # searched 2 trials before
        (["--max-concurrent", "0"], "argument --max-concurrent: 0 must be >= 1"),
        (["--cpus-per-trial", "0"], "argument --cpus-per-trial: 0.0 must be > 0.0"),
        (["--gpus-per-trial", "-1"], "argument --gpus-per-trial: -1.0 must be >= 0.0"),
        (["--num-actors", "x"], "argument --num-actors: 'x' is not a whole number"),
    ],
)
def test_numeric_sweep_flags_are_checked_when_parsed(argv: list[str], said: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser("t", default_experiment="t").parse_args(["--smoke", *argv])
    assert e.value.code == 2 and said in capsys.readouterr().err
    assert (
        build_parser("t", default_experiment="t")
        .parse_args(["--num-actors", "0", "--max-failures", "0"])
        .num_actors
        == 0
    )


def test_search_space_is_optuna_compatible() -> None:
    from ray.tune.search.optuna import OptunaSearch

    for smoke in (True, False):
        space = search.search_space(smoke, "maze2d-umaze-v1", 0)
        assert not any(isinstance(v, dict) and "grid_search" in v for v in space.values())
        assert OptunaSearch.convert_search_space(space)  # raises on grids
        assert set(space) <= set(make_config("smoke").flatten())  # every key is a config override
    desc = describe_space(search.search_space(False, "maze2d-umaze-v1", 0))
    assert desc["train.policy_lr"].startswith("logfloat[") and desc["tokenizer.num_scales"].startswith(
        "choice["
    )


def test_grid_sizes() -> None:
    sweep = hierarchy_depth.make_sweep([1, 2, 4], ["a", "b"], [0, 1])
    assert expected_trials(sweep) == 12
    assert describe_space(sweep.param_space)["tokenizer.num_scales"] == "grid[1, 2, 4]"
    assert expected_trials(ablations.make_sweep(["ours", "k1"], ["a"], [0])) == 2


# ----------------------------------------------------------------------------------------------------------
# Slow: --smoke end to end


def sweep_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)  # embedded Ray, never someone's running cluster
    env.update(MAGE_DATA_DIR=str(tmp / "data"), MLFLOW_DISABLE_TELEMETRY="true", RAY_USAGE_STATS_ENABLED="0")
    return env


def run_sweep_script(script: str, tmp: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(REPO / "sweeps" / script),
        "--smoke",
        "--tracking-uri",
        f"sqlite:///{tmp}/mlruns.db",
        "--storage",
        str(tmp / "ray"),
        *args,
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=sweep_env(tmp), capture_output=True, text=True, timeout=timeout)
    (tmp / f"{script}.log").write_text(proc.stdout + proc.stderr)
    return proc


def sweep_runs(tmp: Path, experiment: str):
    """(parent runs, child runs) of ``experiment`` in the test's store."""
    from mage.tracking.query import search_runs

    runs = search_runs(experiment, tracking_uri=f"sqlite:///{tmp}/mlruns.db")
    parents = runs[runs["tags.mage.run_type"] == "sweep"]
    children = runs[runs["parent_run_id"].notna()]
    return parents, children


def assert_one_sweep(tmp: Path, experiment: str, sweep: str, n_finished: int):
    parents, children = sweep_runs(tmp, experiment)
    assert len(parents) == 1, parents[["run_id", "status"]]
    parent = parents.iloc[0]
    assert parent["tags.mage.sweep"] == sweep and parent["status"] == "FINISHED"
    assert parent["tags.mage.git_sha"] and "--smoke" in parent["tags.mage.command"]
    assert any(c.startswith("params.space.") for c in parents.columns)
    assert (children["parent_run_id"] == parent["run_id"]).all()
    finished = children[children["status"] == "FINISHED"]
    assert len(finished) == n_finished, children[["run_name", "status"]]
    assert (finished["tags.mage.run_type"] == "trial").all()
    assert all(math.isfinite(x) for x in finished["metrics.eval/norm_score"])
    return parent, finished


@pytest.mark.slow
def test_hierarchy_depth_smoke_interrupt_and_resume(tmp_path_factory: pytest.TempPathFactory) -> None:
    """hierarchy_depth --smoke (K 1, 2) interrupted after its first trial (exit 130), then resumed: the
    session's memoised smoke store (tests/conftest.py), which the analysis and dashboard tests read too."""
    import pandas as pd
    from conftest import build_smoke_sweep_store, smoke_sweep_root

    build_smoke_sweep_store(tmp_path_factory)  # asserts the exit codes
    tmp = smoke_sweep_root(tmp_path_factory)
    runs = pd.read_pickle(tmp / "hd-after-first.pkl")
    after_first = runs[runs["parent_run_id"].notna()]
    second = (tmp / "hd-resume.log").read_text()
    done_first = after_first[after_first["status"] == "FINISHED"]
    assert "RUNNING" not in set(after_first["status"])  # the interrupted trial's run is KILLED at once
    assert len(done_first) == 1 and done_first["params.tokenizer.num_scales"].tolist() == [1]
    assert "resuming" in second

    parent, finished = assert_one_sweep(tmp, "mage-hierarchy-depth", "hierarchy-depth", n_finished=2)
    assert sorted(finished["params.tokenizer.num_scales"]) == [1, 2]
    # The finished trial was not re-run: same run, and exactly one run for its Tune trial.
    assert done_first["run_id"].iloc[0] in set(finished["run_id"])
    assert finished["tags.mage.trial_id"].is_unique
    _, children = sweep_runs(tmp, "mage-hierarchy-depth")
    trial0 = done_first["tags.mage.trial_id"].iloc[0]
    assert (children["tags.mage.trial_id"] == trial0).sum() == 1
    assert "RUNNING" not in set(children["status"])  # an interrupted trial's run is KILLED, not left running
    assert "eval/norm_score" in second and finished["run_name"].iloc[0] in second


@pytest.mark.slow
def test_search_smoke(tmp_path: Path) -> None:
    proc = run_sweep_script("search.py", tmp_path, "--num-samples", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parent, finished = assert_one_sweep(tmp_path, "mage-search", "search", n_finished=1)
    assert (
        parent["params.sweep.searcher"].endswith("OptunaSearch")
        and parent["params.sweep.scheduler"] == "AsyncHyperBandScheduler"
    )
    assert int(finished["params.tokenizer.num_scales"].iloc[0]) in (1, 2)


@pytest.mark.slow
def test_ablations_smoke(tmp_path: Path) -> None:
    """The A + CQL row end to end: the trial trains CQL (a sibling child run, evaluated as CQL), then MAGE
    with scheme A, stores the critic in the checkpoint artifact and evaluates with critic selection, and
    again with the hold (``--also-hold``: the critic path once skipped it)."""
    from mlflow.tracking import MlflowClient

    proc = run_sweep_script("ablations.py", tmp_path, "--ablations", "a_cql", "--also-hold")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parents, runs = sweep_runs(tmp_path, "mage-ablations")
    assert len(parents) == 1 and parents["status"].iloc[0] == "FINISHED"
    trials = runs[runs["parent_run_id"] == parents["run_id"].iloc[0]]
    finished = trials[trials["status"] == "FINISHED"]
    assert len(finished) == 2 and (finished["tags.mage.run_type"] == "trial").all()
    critic = finished[finished["tags.mage.role"] == "critic"]
    row = finished[finished["tags.mage.ablation"] == "a_cql"]
    assert len(critic) == 1 and len(row) == 1
    critic, row = critic.iloc[0], row.iloc[0]
    assert critic["tags.mage.method"] == "cql" and int(critic["params.baseline.steps"]) == 20
    assert row["tags.mage.method"] == "mage" and row["tags.mage.critic_run_id"] == critic["run_id"]
    assert row["params.eval.critic"] == "cql" and row["params.tokenizer.scheme"] == "A"
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    files = {f.path for f in client.list_artifacts(row["run_id"], "checkpoint/critic")}
    assert "checkpoint/critic/meta.json" in files
    (hold,) = runs[runs["parent_run_id"] == row["run_id"]].itertuples()  # the row's model, with the hold
    tags = client.get_run(hold.run_id).data.tags
    assert tags["mage.ablation"] == "a_cql" and tags["mage.hold"] == "true" and hold.status == "FINISHED"
    assert math.isfinite(client.get_run(hold.run_id).data.metrics["eval/norm_score"])
    assert not len(runs[runs["parent_run_id"] == critic["run_id"]])  # the critic's own evaluation: no hold


@pytest.mark.slow
def test_failed_trial_is_a_failed_child_run(tmp_path: Path) -> None:
    # A data file that is not there passes the driver's checks (configs only; K = 0 no longer does, see
    # test_a_grid_value_a_trial_would_reject_fails_before_ray) and fails inside the trial.
    missing = tmp_path / "missing.hdf5"
    proc = run_sweep_script(
        "hierarchy_depth.py", tmp_path, "--K", "1", "--set", f"data.path={missing}", timeout=300
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    parents, children = sweep_runs(tmp_path, "mage-hierarchy-depth")
    assert len(parents) == 1 and len(children) == 1
    child = children.iloc[0]
    assert child["status"] == "FAILED" and "missing.hdf5" in child["tags.mage.error"]
    assert child["parent_run_id"] == parents.iloc[0]["run_id"]


def test_sweep_state_round_trip(tmp_path: Path) -> None:
    from sweeps.driver.state import (
        find_latest_sweep_dir,
        join_storage,
        read_state,
        storage_exists,
        write_state,
    )

    assert join_storage("s3://bucket/ray_results/", "hd", "x") == "s3://bucket/ray_results/hd/x"
    storage = str(tmp_path / "ray")
    assert find_latest_sweep_dir(storage, "hd") is None
    for name in ("hd-1", "hd-2", "other-3"):
        write_state(join_storage(storage, name), {"parent_run_id": name})
        os.utime(tmp_path / "ray" / name, (1, 1 + len(name) + int(name[-1])))
    (tmp_path / "ray" / "hd-9").mkdir()  # no state file: not a sweep of ours
    assert read_state(join_storage(storage, "hd-2")) == {"parent_run_id": "hd-2"}
    assert read_state(join_storage(storage, "hd-9")) is None and storage_exists(join_storage(storage, "hd-9"))
    assert find_latest_sweep_dir(storage, "hd") == join_storage(storage, "hd-2")


def test_ensure_dataset_generates_once_and_maps_multi_tasks(tmp_path: Path, monkeypatch) -> None:
    from sweeps.driver.data import SMOKE_DATA_STEPS, ensure_dataset

    monkeypatch.setenv("MAGE_DATA_DIR", str(tmp_path))
    path = Path(ensure_dataset("maze2d-umaze-multi-v1", smoke=True))  # Multi2D trains on the single-task file
    assert path == tmp_path / "smoke" / "maze2d-umaze-v1.hdf5" and path.is_file()
    stamp = path.stat().st_mtime_ns
    assert ensure_dataset("maze2d-umaze-v1", smoke=True) == str(path) and path.stat().st_mtime_ns == stamp
    assert list((tmp_path / "smoke").iterdir()) == [path]  # no temp files left behind

    from mage.data.d4rl_io import load_dataset

    assert len(load_dataset(str(path))["observations"]) == SMOKE_DATA_STEPS


@pytest.mark.slow
def test_a_tokenizer_sweep_then_a_sweep_that_reuses_its_tokenizer(tmp_path: Path) -> None:
    """Two levels: sweeps/tokenizer.py trains stage 1 only (objective -tok/val_rec, no evaluation); a K sweep
    given --tokenizers-from its parent trains stage 2 only on that tokenizer."""
    proc = run_sweep_script("tokenizer.py", tmp_path, "--K", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parents, children = sweep_runs(tmp_path, "mage-tokenizer")
    assert len(parents) == 1 and len(children) == 1
    tok = children.iloc[0]
    assert tok["status"] == "FINISHED" and tok["tags.mage.tokenizer_ready"] == "true"
    assert math.isfinite(tok["metrics.tok/val_rec"]) and "metrics.eval/norm_score" not in children.columns
    assert "metrics.pol/loss" not in children.columns  # no stage 2
    assert "tok/val_rec" in proc.stdout  # the results table ranks by it

    proc = run_sweep_script(
        "hierarchy_depth.py", tmp_path, "--K", "1", "--tokenizers-from", parents.iloc[0]["run_id"]
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _, finished = assert_one_sweep(tmp_path, "mage-hierarchy-depth", "hierarchy-depth", n_finished=1)
    trial = finished.iloc[0]
    assert trial["tags.mage.tokenizer_from"] == tok["run_id"]
    assert trial["tags.mage.tokenizer_key"] == tok["tags.mage.tokenizer_key"]
    assert "metrics.time/tokenizer_s" not in finished.columns or math.isnan(trial["metrics.time/tokenizer_s"])


def test_cpu_space_fits_the_demo_preset_and_fifo_is_the_control() -> None:
    from ray.tune.schedulers import ASHAScheduler

    from mage.schedule import scale_schedule

    space = search.search_space(False, "maze2d-umaze-v1", 0, "cpu")
    for k in space["tokenizer.num_scales"].categories:
        cfg = make_config("demo", {"tokenizer.num_scales": k})
        assert len(scale_schedule(cfg.data.horizon, k, cfg.tokenizer.downsample)) == k
    asha = search.make_sweep(False, "maze2d-umaze-v1", 0, 8, 0, 9, 2, 3, "cpu", "asha")
    fifo = search.make_sweep(False, "maze2d-umaze-v1", 0, 8, 0, 9, 2, 3, "cpu", "fifo")
    assert isinstance(asha.scheduler, ASHAScheduler) and fifo.scheduler is None  # None: Tune's FIFO
    assert asha.param_space.keys() == fifo.param_space.keys()


def test_the_same_sampler_seed_proposes_the_same_configs_whatever_the_results() -> None:
    """analysis/pruning.py pairs an ASHA and a FIFO sweep by config: during TPE's random start-up (10 trials)
    the proposals depend on the seed only, not on the scores or prunings reported back."""
    from sweeps.driver.searchers import optuna_search
    from sweeps.driver.spec import FINAL, OBJECTIVE

    space = search.search_space(False, "maze2d-umaze-v1", 0, "cpu")
    runs = []
    for feedback in (False, True):
        s = optuna_search(0)
        s.set_search_properties(OBJECTIVE, "max", space)
        configs = []
        for i in range(8):
            configs.append(s.suggest(f"t{i}"))
            if feedback:  # some trials report and finish, others are stopped after a rung
                s.on_trial_result(f"t{i}", {OBJECTIVE: float(i), "training_iteration": 1})
                last = {OBJECTIVE: 10.0 * i, FINAL: True} if i % 2 else {OBJECTIVE: -1.0}  # else: stopped
                s.on_trial_complete(f"t{i}", last)
        runs.append(configs)
    assert runs[0] == runs[1] and len({str(c) for c in runs[0]}) == 8


def test_every_sweep_can_add_the_hold_evaluation() -> None:
    """``--also-hold`` is a shared flag: a MAGE sweep (here the K sweep) gets one more protocol per trained
    model, the sweep's own with the hold on, as the baseline sweeps do."""
    from sweeps.driver.run import trial_context

    argv = ["--smoke", "--set", "eval.acting=track", "--also-hold"]
    args = resolve_defaults(hierarchy_depth.make_parser().parse_args(argv))
    tracking = Tracking(tracking_uri="sqlite:///x.db", experiment="e", parent_run_id="p")
    sweep = hierarchy_depth.make_sweep([1, 2], args.datasets, args.seeds)
    (extra,) = trial_context(sweep, args, tracking).also
    assert (extra.goal, extra.acting, extra.hold) == ("none", "track", True)
    plain = resolve_defaults(hierarchy_depth.make_parser().parse_args(["--smoke"]))
    assert trial_context(sweep, plain, tracking).also == ()


def test_trials_keep_their_fits_resumable_under_names_of_the_sweep() -> None:
    """Each baseline trial (and its A + CQL critic) gets its own state dir under ``<Tune dir>/fit_state``, and
    each MAGE trial a Ray Train run stem ``<sweep dir name>_<trial id>``: both the same on ``--resume`` (trial ids
    persist), so the fits continue; a URI storage gets no state dir (the baseline fit restarts from step 0)."""
    from sweeps import baselines
    from sweeps.driver.run import trial_context

    args = resolve_defaults(baselines.make_parser().parse_args(["--smoke"]))
    sweep = baselines.make_sweep(["bc"], args.datasets, args.seeds)
    ctx = trial_context(sweep, args, Tracking())
    assert ctx.fit_state_dir("t") is None and ctx.fit_name("t") is None  # the checks before Ray: no Tune dir
    ctx.tune_dir = "/data/ray/baselines-x"  # what run_sweep sets
    assert ctx.fit_name("ab12_00000") == "baselines-x_ab12_00000"
    assert ctx.fit_state_dir("ab12_00000") == "/data/ray/baselines-x/fit_state/ab12_00000/fit"
    assert ctx.fit_state_dir("ab12_00000", "critic") == "/data/ray/baselines-x/fit_state/ab12_00000/critic"
    ctx.tune_dir = "s3://bucket/baselines-x"
    assert ctx.fit_state_dir("t") is None
