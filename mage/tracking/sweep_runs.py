"""MLflow records of a sweep or study: its parent run, its child runs, and its results table.

One **parent run** per sweep/study (``mage.run_type=sweep``, ``mage.sweep=<name>``, the command line, Ray
address and smoke flag as tags; the search space and settings as params), one **child run** per trial or
evaluation (``mlflow.parentRunId``). Everything here takes plain data (:class:`Tracking`, ids, configs), never
Ray objects, so Tune-based sweeps and Ray-actor studies share it.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mage.tracking.context import Tracking
from mage.tracking.query import COLUMNS, list_artifacts, search_runs

if TYPE_CHECKING:
    import pandas as pd

    from mage.tracking.mlflow_logger import RunLogger

METRIC = "eval/norm_score"  # the score every sweep optimises and every results table shows
# Shown in every results table; the other COLUMNS only where they vary across the runs.
ALWAYS_SHOWN = ("K", "dataset", "seed", "ablation")


# ----------------------------------------------------------------------------------------------------------
# Parent run


def command_line() -> str:
    """This process's command line as a shell would re-run it (script name, not its full path), with secrets
    masked (``mage.tracking.redact``)."""
    from mage.tracking.redact import redact_argv

    return shlex.join(redact_argv([Path(sys.argv[0]).name, *sys.argv[1:]]))


def start_parent(
    tracking: Tracking,
    *,
    sweep: str,
    smoke: bool,
    params: Mapping[str, Any],
    ray_address: str | None = None,
) -> RunLogger:
    """Create the parent run of a sweep/study (RUNNING; the caller ends it) and log ``params``.

    ``tracking.tags`` are added to the standard ones (e.g. ``mage.tune_dir``, ``mlflow.note.content``);
    ``ray_address``: the cluster joined (default ``$RAY_ADDRESS``, else ``embedded``).
    """
    from mage.tracking.mlflow_logger import RunLogger, standard_tags
    from mage.tracking.redact import redact_uri

    tags = standard_tags(
        None,
        run_type="sweep",
        extra={
            "mage.sweep": sweep,
            "mage.smoke": str(bool(smoke)).lower(),
            "mage.command": command_line()[:5000],
            "mage.ray_address": redact_uri(ray_address or os.environ.get("RAY_ADDRESS", "embedded")),
            **tracking.tags,
        },
    )
    run = RunLogger.start_for(tracking, tags)
    run.log_params(params)
    return run


def resume_parent(run_id: str, *, tracking_uri: str | None) -> RunLogger:
    """Reopen an interrupted parent run: RUNNING again, with the time of the resume in ``mage.resumed``."""
    from mage.tracking.mlflow_logger import RunLogger

    parent = RunLogger.attach(run_id, tracking_uri=tracking_uri)
    parent.client.update_run(run_id, status="RUNNING")
    parent.set_tags({"mage.resumed": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return parent


def mark_stale_children(
    tracking_uri: str | None,
    experiment: str,
    parent_run_id: str,
    interrupted_trials: Collection[str] = (),
) -> int:
    """Child runs that an interruption left RUNNING: KILLED (Tune re-runs those trials on --resume). So are
    FAILED runs of ``interrupted_trials`` (Tune trial ids the sweep saw unfinished): the interruption stopped
    their training, which raised before this ran; the error it raised stays in ``mage.error_on_interrupt``."""
    from mage.tracking.mlflow_logger import RunLogger

    runs = search_runs(experiment, tracking_uri=tracking_uri, parent_run_id=parent_run_id)
    if not len(runs):
        return 0
    trial = runs.get("tags.mage.trial_id")
    hit = runs["status"] == "RUNNING"
    if trial is not None and interrupted_trials:
        hit |= (runs["status"] == "FAILED") & trial.isin(set(interrupted_trials))
    for _, row in runs[hit].iterrows():
        run = RunLogger.attach(row["run_id"], tracking_uri=tracking_uri)
        before = row.get("tags.mage.error")
        tags = {"mage.error": "sweep interrupted; --resume re-runs this trial"}
        if row["status"] == "FAILED" and isinstance(before, str):
            tags["mage.error_on_interrupt"] = before[:5000]
        run.set_tags(tags)
        run.end("KILLED")
    return int(hit.sum())


# ----------------------------------------------------------------------------------------------------------
# Child runs


def mark_trial_failed(
    tracking: Tracking,
    *,
    trial_id: str,
    cfg: Any,
    error: BaseException,
    attempt_start: float,
    replace_error: bool = False,
) -> None:
    """Make a trial's failure visible as a FAILED child run of ``tracking.parent_run_id``.

    The trial's run of this attempt (tag ``mage.trial_id``, started after ``attempt_start``) is failed if it is
    still RUNNING; when the trial died before creating one, a FAILED run is created with ``tracking``'s name
    and tags and ``cfg`` (an ``ExperimentConfig`` or None) as params. ``replace_error``: the runs of this attempt
    that already ended FAILED get ``error`` as their ``mage.error`` too (it explains theirs). Never raises: a
    logging error must not hide the trial's own error.
    """
    import pandas as pd

    from mage.tracking.mlflow_logger import RunLogger, _error_text

    try:
        runs = search_runs(
            tracking.experiment,
            tracking_uri=tracking.tracking_uri,
            parent_run_id=tracking.parent_run_id,
            filter_string=f"tags.`mage.trial_id` = '{trial_id}'",
        )
        if len(runs):
            runs = runs[runs["start_time"] >= pd.Timestamp(attempt_start - 1.0, unit="s", tz="UTC")]
        if not len(runs):
            run = RunLogger.start_for(tracking)
            if cfg is not None:
                run.log_config(cfg)
            run.fail(error)
            return
        for rid in runs[runs["status"] == "RUNNING"]["run_id"]:  # the trial died without ending its run
            RunLogger.attach(rid, tracking_uri=tracking.tracking_uri).fail(error)
        for rid in runs[runs["status"] == "FAILED"]["run_id"] if replace_error else ():
            RunLogger.attach(rid, tracking_uri=tracking.tracking_uri).set_tags(
                {"mage.error": _error_text(error)}
            )
    except Exception as log_error:
        print(
            f"[sweep] could not record the failure of trial {trial_id} in MLflow: {log_error}",
            file=sys.stderr,
        )


def log_child_evaluation(
    tracking: Tracking,
    *,
    method: str,
    params: Mapping[str, Any],
    episodes: pd.DataFrame,
    metrics: Mapping[str, float],
) -> str:
    """One evaluation of a study as a FINISHED child run of ``tracking.parent_run_id`` (``mage.run_type=eval``,
    ``tracking.tags`` on top): ``params``, ``eval/episodes.parquet`` and ``metrics``. Returns its run id."""
    from mage.tracking.evaluation import log_evaluation
    from mage.tracking.mlflow_logger import RunLogger, standard_tags

    tags = standard_tags(run_type="eval", method=method, extra=tracking.tags)
    with RunLogger.start_for(tracking, tags) as run:
        run.log_params(params)
        log_evaluation(episodes, metrics, run_id=run.run_id, tracking_uri=run.tracking_uri)
    return run.run_id


# ----------------------------------------------------------------------------------------------------------
# Results


def _typed(col: pd.Series, kind: type) -> pd.Series:
    """A COLUMNS column with its declared type (MLflow stores tags and params as strings)."""
    import pandas as pd

    if kind is str:
        return col
    num = pd.to_numeric(col, errors="coerce")
    if kind is int:
        return num.round().astype("Int64")  # nullable: a run that failed early has no value
    return num.astype(float)


def results_table(tracking_uri: str | None, experiment: str, parent_run_id: str, metric: str = METRIC):
    """One row per child run of a parent run: name, status, the knobs that vary (``COLUMNS``; K, dataset, seed
    and ablation always), ``metric``, run id, and the start of the error of failed runs."""
    import pandas as pd

    runs = search_runs(experiment, tracking_uri=tracking_uri, parent_run_id=parent_run_id)
    if not len(runs):
        return pd.DataFrame(columns=["trial", "status", metric])
    table = pd.DataFrame({"trial": runs["run_name"], "status": runs["status"]})
    for short, (col, kind) in COLUMNS.items():
        if col in runs.columns and (short in ALWAYS_SHOWN or runs[col].nunique(dropna=False) > 1):
            table[short] = _typed(runs[col], kind).values
    score = runs.get(f"metrics.{metric}")
    table[metric] = score.values if score is not None else float("nan")
    table["run_id"] = runs["run_id"].values
    if "tags.mage.error" in runs.columns:
        table["error"] = runs["tags.mage.error"].fillna("").str.slice(0, 60).values
    return table.sort_values(["trial", "run_id"], ignore_index=True)


def print_table(table: pd.DataFrame, float_format: str = "{:.4g}") -> None:
    import pandas as pd

    with pd.option_context(
        "display.max_rows",
        500,
        "display.max_columns",
        50,
        "display.width",
        200,
        "display.float_format",
        float_format.format,
    ):
        print(table.to_string(index=False), flush=True)


def best_runs(
    experiment: str,
    tracking_uri: str | None,
    datasets: Sequence[str] | None = None,
    method: str | None = None,
    metric: str = METRIC,
) -> list[tuple[str, str, float]]:
    """Per dataset, the FINISHED trained run with the highest ``metric`` that has a ``checkpoint/`` artifact:
    ``[(run id, dataset, score)]`` sorted by dataset.

    Evaluation runs of an RTG study (tag ``mage.rtg_kind``) are not trained runs and never chosen; ties go to
    the earliest run, so the choice is reproducible. Raises ``LookupError`` when nothing qualifies.
    """
    runs = search_runs(experiment, tracking_uri=tracking_uri, include_failed=False)
    col = f"metrics.{metric}"
    if not len(runs) or col not in runs:
        raise LookupError(f"no runs with {metric} in {tracking_uri}")
    runs = runs[(runs["status"] == "FINISHED") & runs[col].notna()]
    if "tags.mage.rtg_kind" in runs:
        runs = runs[runs["tags.mage.rtg_kind"].isna()]
    if method and "tags.mage.method" in runs:
        runs = runs[runs["tags.mage.method"] == method]
    if datasets:
        runs = runs[runs["tags.mage.dataset"].isin(datasets)]
    chosen = []
    ranked = runs.sort_values([col, "start_time"], ascending=[False, True])
    for ds, g in ranked.groupby("tags.mage.dataset", sort=True):
        for rid in g["run_id"]:
            if list_artifacts(rid, "checkpoint", tracking_uri=tracking_uri):
                chosen.append((rid, str(ds), float(g.set_index("run_id").loc[rid, col])))
                break
    if not chosen:
        raise LookupError("no finished run with a checkpoint/ artifact")
    return chosen


# ----------------------------------------------------------------------------------------------------------
# Tokenizer reuse across the trials of one sweep

TOKENIZER_KEY_TAG = "mage.tokenizer_key"  # on every MAGE trial run: what its stage 1 depends on, hashed
TOKENIZER_READY_TAG = "mage.tokenizer_ready"  # "true" once the run logged its tokenizer/ artifact
# Stage-1 training settings; with every data.* and tokenizer.* field they decide the tokenizer a run trains.
STAGE1_TRAIN = (
    "train.seed", "train.batch_size", "train.tokenizer_epochs", "train.tokenizer_lr", "train.weight_decay",
    "train.grad_clip", "train.steps_per_epoch", "train.warmup_steps", "train.loader", "train.precision",
)  # fmt: skip


def tokenizer_key(flat_cfg: Mapping[str, Any]) -> str:
    """A short hash of everything stage 1 depends on (``ExperimentConfig.flatten()``): two trials with the same
    key train the same tokenizer, so the second can reuse the first one's."""
    import hashlib
    import json

    keep = {k: v for k, v in flat_cfg.items() if k.startswith(("data.", "tokenizer.")) or k in STAGE1_TRAIN}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def find_tokenizer(
    key: str, parent_run_id: str, *, tracking_uri: str | None = None, not_trial: str | None = None
) -> str | None:
    """The run id of a trial of this sweep (``parent_run_id``) that logged a tokenizer with ``key``, else None.
    ``not_trial``: skip the runs of that Tune trial (a resumed trial continues its own fit instead)."""
    runs = search_runs(
        None,
        tracking_uri=tracking_uri,
        parent_run_id=parent_run_id,
        filter_string=f"tags.`{TOKENIZER_KEY_TAG}` = '{key}' and tags.`{TOKENIZER_READY_TAG}` = 'true'",
    )
    if not_trial is not None and "tags.mage.trial_id" in runs:
        runs = runs[runs["tags.mage.trial_id"] != not_trial]
    return None if runs.empty else str(runs.sort_values("start_time")["run_id"].iloc[0])
