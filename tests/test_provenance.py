"""mage.provenance (which code a run ran) and the sweep trial's guard against a checkout edited under it."""

from __future__ import annotations

import time
from pathlib import Path

from mage.provenance import CodeChangedError, changed_files, code_hashes, code_root, describe


def _tree(root: Path) -> Path:
    (root / "mage" / "sub").mkdir(parents=True)
    (root / "sweeps").mkdir()
    (root / "mage" / "a.py").write_text("A = 1\n")
    (root / "mage" / "sub" / "b.py").write_text("B = 1\n")
    (root / "sweeps" / "s.py").write_text("S = 1\n")
    (root / "mage" / "notes.txt").write_text("not code")
    return root


def test_code_hashes_see_edits_additions_and_removals_by_content(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = code_hashes(root)
    assert sorted(before) == ["mage/a.py", "mage/sub/b.py", "sweeps/s.py"]
    (root / "mage" / "a.py").write_text("A = 1\n")  # rewritten, same content: not a change
    assert changed_files(before, code_hashes(root)) == []
    (root / "mage" / "a.py").write_text("A = 2\n")
    (root / "mage" / "new.py").write_text("")
    (root / "sweeps" / "s.py").unlink()
    assert changed_files(before, code_hashes(root)) == ["mage/a.py", "mage/new.py", "sweeps/s.py"]
    assert code_hashes(root, packages=("mage", "absent")).keys() == {
        "mage/a.py",
        "mage/new.py",
        "mage/sub/b.py",
    }


def test_the_project_reads_its_own_code() -> None:
    hashes = code_hashes()
    assert "mage/provenance.py" in hashes and "sweeps/driver/trial.py" in hashes
    assert code_root() == Path(__file__).resolve().parents[1]
    assert describe([f"f{i}" for i in range(7)], limit=2) == "f0, f1 and 5 more"


def test_a_trial_error_after_the_code_changed_is_restated_with_the_fix(monkeypatch) -> None:
    from sweeps.driver import trial

    start = {"mage/checkpoint.py": "1", "mage/tracking/evaluation.py": "1"}
    monkeypatch.setattr(trial, "code_hashes", lambda: dict(start))
    assert trial.code_changed_under(ImportError("x"), start) is None  # nothing changed: a real bug, kept
    monkeypatch.setattr(trial, "code_hashes", lambda: {**start, "mage/checkpoint.py": "2"})
    err = ImportError("cannot import name 'read_time_limit' from 'mage.checkpoint'")
    mixed = trial.code_changed_under(err, start)
    assert isinstance(mixed, CodeChangedError)
    text = str(mixed)
    assert "mage/checkpoint.py" in text and "mage/tracking/evaluation.py" not in text
    assert "ImportError: cannot import name 'read_time_limit'" in text and "--resume" in text


def test_a_failed_trial_run_gets_the_restated_error(tmp_path: Path, monkeypatch) -> None:
    """The trial's run ended FAILED with the ImportError; ``replace_error`` puts the explanation there."""
    from mage.tracking import query
    from mage.tracking.context import Tracking
    from mage.tracking.mlflow_logger import RunLogger
    from mage.tracking.sweep_runs import mark_trial_failed

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    parent = RunLogger.start(experiment="e", tracking_uri=uri)
    tracking = Tracking(
        tracking_uri=uri, experiment="e", parent_run_id=parent.run_id, tags={"mage.trial_id": "t1"}
    )
    start = time.time()
    run = RunLogger.start_for(tracking)
    run.fail(ImportError("cannot import name"))
    mark_trial_failed(tracking, trial_id="t1", cfg=None, error=ImportError("again"), attempt_start=start)
    assert (
        query.get_run(run.run_id, tracking_uri=uri).data.tags["mage.error"]
        == "ImportError: cannot import name"
    )
    mark_trial_failed(tracking, trial_id="t1", cfg=None, error=CodeChangedError("the code changed"),
                      attempt_start=start, replace_error=True)  # fmt: skip
    got = query.get_run(run.run_id, tracking_uri=uri)
    assert got.info.status == "FAILED" and got.data.tags["mage.error"] == "CodeChangedError: the code changed"


def test_the_sweep_context_carries_the_code_of_its_start(tmp_path: Path) -> None:
    from sweeps import hierarchy_depth
    from sweeps.driver import run as driver
    from sweeps.driver.trial import TrialContext

    args = hierarchy_depth.make_parser().parse_args(["--smoke", "--storage", str(tmp_path)])
    hierarchy_depth.resolve_defaults(args)
    ctx = driver.trial_context(hierarchy_depth.make_sweep([1], ["maze2d-umaze-v1"], [0]), args, None)
    assert isinstance(ctx, TrialContext) and ctx.code == code_hashes()
