"""Which code a run ran: per-file content hashes of the project's Python packages, and what changed between two
readings.

A long process imports parts of the code only when it first needs them (the evaluation after an hour of
training, say), so an edit of the checkout under a running sweep hands a trial a mix of two versions: an
ImportError or a silent mismatch hours in. The sweep driver reads the hashes when it starts and every trial
compares them (``sweeps/driver/trial.py``): a trial that starts on other code than its sweep is tagged, and one
that fails after the code changed under it says so, with the fix. A leaf module: it imports nothing of the
project.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

PACKAGES = ("mage", "sweeps")  # what a trial imports (analysis/ runs in the driver, after the trials)


def code_root() -> Path:
    """The checkout (or install) holding the ``mage`` package."""
    return Path(__file__).resolve().parents[1]


def code_hashes(root: Path | None = None, packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """``{"mage/loop.py": "<sha1 prefix>", ...}`` for every ``.py`` file under ``packages`` of ``root``
    (default :func:`code_root`); a package that is not there (an install without ``sweeps/``) is skipped."""
    root = code_root() if root is None else Path(root)
    out: dict[str, str] = {}
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            out[f.relative_to(root).as_posix()] = hashlib.sha1(f.read_bytes()).hexdigest()[:16]
    return out


def changed_files(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Files added, removed or edited between two :func:`code_hashes` readings, sorted."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def describe(files: Sequence[str], limit: int = 5) -> str:
    """``"mage/a.py, mage/b.py and 3 more"``."""
    shown = ", ".join(files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")


class CodeChangedError(RuntimeError):
    """A process failed after the project's code changed under it (it ran a mix of two versions)."""
