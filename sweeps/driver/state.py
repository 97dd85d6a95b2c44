"""The sweep's state file in its Tune experiment dir, on local disk or a URI: parent run id, store, the command
(secrets masked), the settings that define its trials (restored by ``--resume``) and its status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mage.tracking.redact import MASK

PARENT_FILE = "mage_sweep.json"  # in the Tune experiment dir: parent run id, store, command, settings, status
# Flags that say how or where a sweep runs, not what its trials are: never saved as settings, free on --resume.
OPERATIONAL = frozenset(
    {
        "resume", "name", "storage", "address", "tracking_uri", "experiment", "max_concurrent",
        "gpus_per_trial", "cpus_per_trial", "num_actors", "max_failures", "interrupt_after_trials",
        "explicit", "settings",
    }
)  # fmt: skip


class ResumeError(ValueError):
    """--resume cannot continue the sweep as asked (none found, or flags that differ from the saved ones)."""


def join_storage(storage: str, *parts: str) -> str:
    """``storage`` joined with ``parts``; keeps URIs (``s3://bucket/x``) intact, which ``Path`` would not."""
    return "/".join([storage.rstrip("/"), *parts])


def fit_state_root(tune_dir: str) -> str | None:
    """``<tune_dir>/fit_state``: where baseline trials keep their mid-training state. None without a dir or for a
    URI (``s3://``: not a filesystem the training task writes with ``open``; such a sweep restarts their fits)."""
    return join_storage(tune_dir, "fit_state") if tune_dir and "://" not in tune_dir else None


def _fs(uri: str):
    """(pyarrow filesystem, path) for a local path or a URI such as s3://bucket/ray_results."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else str(Path(uri).resolve()))


def storage_exists(uri: str) -> bool:
    import pyarrow.fs

    fs, path = _fs(uri)
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def write_state(tune_dir: str, state: Mapping[str, Any]) -> None:
    """The sweep's state file (parent run id, store, command) in the Tune experiment dir."""
    fs, path = _fs(join_storage(tune_dir, PARENT_FILE))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(state, indent=2, default=str).encode())


def read_state(tune_dir: str) -> dict[str, Any] | None:
    fs, path = _fs(join_storage(tune_dir, PARENT_FILE))
    try:
        with fs.open_input_stream(path) as f:
            return json.loads(f.read().decode())
    except FileNotFoundError:
        return None


def find_latest_sweep_dir(storage: str, prefix: str) -> str | None:
    """The most recently started sweep ``<storage>/<prefix>*`` that has a state file."""
    import pyarrow.fs

    fs, base = _fs(storage)
    try:
        infos = fs.get_file_info(pyarrow.fs.FileSelector(base, allow_not_found=True))
    except FileNotFoundError:
        return None
    dirs = [i for i in infos if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith(prefix)]
    dirs = [i for i in dirs if read_state(join_storage(storage, i.base_name)) is not None]
    if not dirs:
        return None
    latest = max(dirs, key=lambda i: i.mtime.timestamp() if i.mtime else 0.0)
    return join_storage(storage, latest.base_name)


def find_sweep(storage: str, name: str | None, prefix: str) -> tuple[str, dict[str, Any]]:
    """(Tune dir, state) of the sweep to resume: ``<storage>/<name>``, or the latest ``<prefix>*`` one."""
    tune_dir = join_storage(storage, name) if name else find_latest_sweep_dir(storage, prefix)
    state = read_state(tune_dir) if tune_dir else None
    if tune_dir is None or state is None:
        raise ResumeError(f"--resume: no sweep to resume under {storage} (name {name or prefix + '*'})")
    return tune_dir, state


def settings_of(args: Any) -> dict[str, Any]:
    """The parsed flags that define a sweep's trials (everything but ``OPERATIONAL``), as JSON data."""
    return json.loads(json.dumps({k: v for k, v in vars(args).items() if k not in OPERATIONAL}, default=str))


def _same(key: str, given: Any, saved: Any) -> bool:
    if key == "tracking_uri":  # saved with its password masked
        from mage.tracking.redact import redact_uri

        return redact_uri(str(given)) == saved
    if key == "set":  # compare what the overrides mean, not how they were spelled
        from mage.config import parse_overrides

        return parse_overrides(given or []) == parse_overrides(saved or [])
    return json.loads(json.dumps(given, default=str)) == saved


def saved_concurrency(state: Mapping[str, Any]) -> int | None:
    """The trials at a time the sweep was started with: the state's ``max_concurrent``, else (older state files)
    the last ``--max-concurrent`` of its command line; None if neither says."""
    if state.get("max_concurrent") is not None:
        return int(state["max_concurrent"])
    cmd = list(state.get("command") or [])
    given = [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a == "--max-concurrent"]
    return int(given[-1]) if given and given[-1].isdigit() else None


def restore_settings(args: Any, found: tuple[str, Mapping[str, Any]]) -> None:
    """Make ``args`` (a parsed ``--resume`` command) continue the sweep ``found`` as it was started.

    Its saved settings, MLflow store and experiment replace the parsed values; a flag the user gave
    (``args.explicit``) with another value than the saved one is a ``ResumeError`` naming every such flag,
    both values and the fixes, never a silent mix. Sets ``args.resume_dir`` and ``args.resume_state``.
    """
    tune_dir, state = found
    saved = dict(state.get("settings") or {})
    saved.update({k: state[k] for k in ("tracking_uri", "experiment") if k in state})
    explicit = set(getattr(args, "explicit", vars(args)))
    differ = [k for k in sorted(explicit & set(saved)) if not _same(k, getattr(args, k), saved[k])]
    if differ:
        flag = lambda k: "--" + k.replace("_", "-")  # noqa: E731
        diffs = "; ".join(f"{flag(k)}: saved {saved[k]!r}, given {getattr(args, k)!r}" for k in differ)
        raise ResumeError(
            f"--resume: {tune_dir} was started with other settings ({diffs}). Resume without those flags "
            "(the saved ones are restored), or start a new sweep with another --name"
        )
    if "tracking_uri" not in explicit and MASK in str(saved.get("tracking_uri", "")):
        raise ResumeError(
            f"--resume: {tune_dir} logs to {saved['tracking_uri']}; pass --tracking-uri with its credentials "
            "(or set them in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD and pass the URI without them)"
        )
    if "tracking_uri" in explicit:
        saved.pop("tracking_uri")  # the given one: the same store, with its credentials
    if "settings" not in state:
        print(f"[sweep] {tune_dir} has no saved settings (an older sweep): resuming with the flags given")
    started = saved_concurrency(state)
    if started is not None:  # Tune restores the trial concurrency it was started with; size trials for that
        if "max_concurrent" in explicit and getattr(args, "max_concurrent", None) != started:
            print(
                f"[sweep] --max-concurrent {args.max_concurrent}: a resumed sweep runs {started} trial(s) at a "
                "time, as it was started (Tune restores it); start a new sweep (--name) to change it"
            )
        args.max_concurrent = started
    for k, v in saved.items():
        setattr(args, k, v)
    args.resume_dir, args.resume_state = tune_dir, dict(state)
