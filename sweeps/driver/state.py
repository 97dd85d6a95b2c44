"""The sweep's state file in its Tune experiment dir (parent run id, store, command), on local disk or a URI."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PARENT_FILE = "mage_sweep.json"  # in the Tune experiment dir: parent run id, store, command


def join_storage(storage: str, *parts: str) -> str:
    """``storage`` joined with ``parts``; keeps URIs (``s3://bucket/x``) intact, which ``Path`` would not."""
    return "/".join([storage.rstrip("/"), *parts])


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
