"""`mage train`, `mage evaluate`, `mage ui` end to end on a temporary sqlite store and the tiny dataset."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mage.cli import main
from mage.cli.evaluate import eval_agent_kwargs
from mage.cli.train import build_config
from mage.cli.ui import ui_command
from mage.config import ConfigError, make_config, parse_overrides

TINY_SET = [
    "train.steps_per_epoch=3",
    "train.batch_size=32",
    "train.val_batches=1",
    "eval.episodes=2",
    "eval.num_envs=2",
]


def _train_argv(data: Path, out: Path) -> list[str]:
    argv = ["train", "--preset", "smoke", "--local", "--data-path", str(data), "--out", str(out)]
    for s in TINY_SET:
        argv += ["--set", s]
    return argv


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MAGE_ARTIFACT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    return uri


def _run_id(out: str) -> str:
    m = re.search(r"MLflow run id: ([0-9a-f]{32})", out)
    assert m, out
    return m.group(1)


def test_parse_overrides() -> None:
    assert parse_overrides(["a.b=1", "c.d = none", "e=NULL"]) == {"a.b": "1", "c.d": None, "e": None}
    assert parse_overrides(["k=[1, 2, 4]", "k2=x", "k2=y"]) == {"k": [1, 2, 4], "k2": "y"}  # later wins
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["oops"])
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_overrides(["k=[1, 2"])


# The same overrides, spelled the same way, for every entry point that takes --set.
SHARED_SETS = [
    "data.rtg_horizon=none",
    "tokenizer.scale_schedule=[1, 2, 4, 8]",
    "tokenizer.num_scales=4",
    "transformer.use_goal=true",
    "eval.sampling=sample",
    "eval.top_k=5",
    "eval.rtg_update=hold",
]


def test_one_set_grammar_for_train_and_evaluate() -> None:
    from mage.cli import build_parser

    args = build_parser().parse_args(
        ["train", "--preset", "smoke", *sum((["--set", x] for x in SHARED_SETS), [])]
    )
    cfg = build_config(args)
    assert cfg.data.rtg_horizon is None and cfg.tokenizer.scale_schedule == (1, 2, 4, 8)
    assert cfg.transformer.use_goal is True and cfg.eval.sampling == "sample" and cfg.eval.top_k == 5
    ev = build_parser().parse_args(
        [
            "evaluate",
            "--checkpoint",
            "x",
            *sum((["--set", x] for x in SHARED_SETS if x.startswith("eval.")), []),
        ]
    )
    kw = eval_agent_kwargs(ev.overrides)
    assert kw == {
        "sampling": {"greedy": False, "temperature": 1.0, "top_k": 5, "scales": 0},
        "rtg_update": "hold",
    }
    with pytest.raises(SystemExit, match="eval.sampling='greedyy'"):  # an enum typo is an error, not a sample
        build_config(build_parser().parse_args(["train", "--set", "eval.sampling=greedyy"]))
    with pytest.raises(SystemExit, match="only eval.sampling"):
        eval_agent_kwargs(["data.horizon=8"])
    # ... and a sweep: the same list through the sweep CLI gives the same config
    from sweeps import hierarchy_depth
    from sweeps.driver.cli import resolve_defaults

    sweep_argv = ["--preset", "smoke", *sum((["--set", x] for x in SHARED_SETS), [])]
    sargs = resolve_defaults(hierarchy_depth.make_parser().parse_args(sweep_argv))
    swept = make_config(sargs.preset, sargs.overrides)
    for section in ("data", "tokenizer", "transformer", "eval"):
        assert getattr(swept, section) == getattr(cfg, section), section


def test_bad_override_names_the_key(store: str, tiny_maze2d_path: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="tokenizer.nope"):
        main(_train_argv(tiny_maze2d_path, tmp_path / "o") + ["--set", "tokenizer.nope=1"])


def test_evaluate_unknown_run_is_one_clear_error(store: str) -> None:
    with pytest.raises(SystemExit, match="run id 'deadbeef' not found in the tracking store"):
        main(["evaluate", "--run-id", "deadbeef", "--local"])


def test_resume_flags_are_one_clear_error_where_they_cannot_work(store: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="needs the MLflow run id of the interrupted run"):
        main(["train", "--resume"])  # Ray: which run?
    with pytest.raises(SystemExit, match="pass the --out of the interrupted run"):
        main(["train", "--local", "--resume"])  # local: which dir?
    with pytest.raises(SystemExit, match="nothing to resume in"):
        main(["train", "--local", "--resume", "--out", str(tmp_path / "never-ran")])
    with pytest.raises(SystemExit, match="--time-limit needs --local"):
        main(["train", "--time-limit", "60"])  # not silently ignored on Ray
    with pytest.raises(SystemExit, match="--time-limit -5.0 must be > 0 seconds"):
        main(["train", "--local", "--time-limit", "-5"])


@pytest.mark.slow
def test_train_local_then_evaluate_on_actors(
    store: str, tiny_maze2d_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from mage.tracking import query

    assert main(_train_argv(tiny_maze2d_path, tmp_path / "local")) == 0
    out = capsys.readouterr().out
    train_id = _run_id(out)
    assert "mage ui" in out
    run = query.get_run(train_id, tracking_uri=store)
    assert run.info.status == "FINISHED" and run.data.tags["mage.local"] == "true"
    assert run.data.params["train.steps_per_epoch"] == "3"
    assert query.metric_history(train_id, ["epoch"], tracking_uri=store)["step"].tolist() == [1, 2, 3, 4]
    files = query.list_artifacts(train_id, tracking_uri=store)
    assert "checkpoint/policy.pt" in files and "eval/episodes.parquet" in files
    assert run.data.metrics["eval/episodes"] == 2

    from mage.distributed.ray_init import shutdown_ray

    try:
        rc = main(["evaluate", "--run-id", train_id, "--episodes", "3", "--num-envs", "2", "--actors", "2",
                   "--rtg-percentile", "90", "--row-name", "H200 budget"])  # fmt: skip
    finally:
        shutdown_ray()
    assert rc == 0
    eval_id = _run_id(capsys.readouterr().out)
    ev = query.get_run(eval_id, tracking_uri=store)
    assert ev.data.tags["mlflow.parentRunId"] == train_id
    assert ev.data.tags["mage.run_type"] == "eval" and ev.data.tags["mage.rtg_kind"] == "percentile"
    assert ev.data.tags["mage.row"] == "H200 budget" and ev.data.tags["mage.budget"] == "6+6 steps, batch 32"
    assert ev.data.metrics["eval/episodes"] == 3
    assert len(query.load_episodes(eval_id, tracking_uri=store)) == 3


@pytest.mark.slow
def test_train_local_without_ray_or_mlflow(tiny_maze2d_path: Path, tmp_path: Path) -> None:
    """The GPU box has neither: --local must not import them and logs to <out>/run.jsonl."""
    out = tmp_path / "bare"
    code = (
        "import sys\n"
        "sys.modules['ray'] = None; sys.modules['mlflow'] = None  # as if not installed\n"
        "from mage.cli import main\n"
        f"rc = main({_train_argv(tiny_maze2d_path, out)!r})\n"
        "assert rc == 0\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mlflow not installed" in r.stdout
    recs = [json.loads(line) for line in (out / "run.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in recs]
    assert kinds[0] == "tags" and kinds[-1] == "end" and recs[-1]["status"] == "FINISHED"
    epochs = [r["step"] for r in recs if r["kind"] == "metrics" and "pol/loss" in r["metrics"]]
    assert epochs == [3, 4]
    assert (out / "checkpoint" / "policy.pt").is_file() and (out / "eval" / "episodes.parquet").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ui_serves_the_store_on_loopback(store: str, tmp_path: Path) -> None:
    argv, env, url = ui_command(_free_port())
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--workers") + 1] == "1"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert argv[argv.index("--backend-store-uri") + 1] == store
    assert argv[argv.index("--default-artifact-root") + 1] == (tmp_path / "mlartifacts").as_uri()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_evaluate_protocol_flags() -> None:
    from mage.cli import build_parser
    from mage.cli.evaluate import eval_protocol

    def proto(*argv: str):
        return eval_protocol(build_parser().parse_args(["evaluate", "--checkpoint", "x", *argv]))

    assert proto().label == "R / own"  # the default: the paper's text, track R
    assert proto("--protocol", "paper").label == "G / track + hold"
    assert proto("--set", "eval.goal=given", "--set", "eval.hold=true").label == "G / own + hold"
    assert proto("--protocol", "paper", "--acting", "own", "--no-hold").label == "G / own"  # flags win
    with pytest.raises(SystemExit, match="eval.hold"):
        proto("--set", "eval.hold=maybe")
