"""Atomic writes: the one way anything lasting (datasets, checkpoints) reaches its final name.

A writer never writes under the final name. It writes a unique sibling ``<name>.<pid>.<random>.tmp`` (same
directory, so the rename stays on one filesystem), flushes it to disk (fsync), renames it over the final name
(``os.replace``, atomic on POSIX) and fsyncs the directory so the rename itself survives a power cut. So:

- a reader sees the old complete file or the new complete file, never a half-written one;
- concurrent writers of one path do not share a temporary name; the last rename wins, whole;
- an exception removes the temporary; only a hard kill (SIGKILL, power loss) can leave a ``*.tmp`` sibling,
  which no reader ever opens (its name says so, and the pid in it says who left it).

Directories (checkpoints) work the same way: the new tree is written into a unique temporary directory and
swapped in only once complete. On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``, so the final name
always holds a complete directory; elsewhere the old one is renamed aside first and removed after the new one
is in place (a kill between the two renames leaves the old tree under ``<name>.<pid>.<random>.old``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def project_root() -> Path:
    """``$MAGE_HOME``, else the checkout that holds the ``mage`` package: where data/, runs/ and the default
    MLflow store live."""
    env = os.environ.get("MAGE_HOME")
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[1]


def temp_sibling(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A unique name next to ``path``: ``<name>.<pid>.<random><suffix>``."""
    p = Path(path)
    return p.with_name(f"{p.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file (or, on POSIX, a directory entry table) to disk."""
    if os.path.isdir(path) and os.name == "nt":  # Windows cannot open a directory for fsync
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable_dir(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` if needed and prove a file can be created in it (before any long work starts).

    Raises ``OSError`` (``PermissionError``, ``NotADirectoryError``, ...) with the reason."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    probe = temp_sibling(d / ".write-probe")
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    probe.unlink()
    return d


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to (by name: h5py, torch.save, np.save ...).

    On a clean exit the temporary is fsynced and renamed over ``path``; on an exception it is removed and
    ``path`` is untouched. The parent directory is created if missing."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_path(final.parent)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh empty temporary directory to build ``path``'s new tree in.

    On a clean exit every file in it is fsynced and the tree replaces ``path`` (which may exist: the old tree
    is removed only after the new one is in place); on an exception the temporary tree is removed and ``path``
    is untouched."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
        for root, _dirs, files in os.walk(tmp):
            for f in files:
                fsync_path(os.path.join(root, f))
            fsync_path(root)
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_path(final.parent)


def _swap_in(new: Path, final: Path) -> None:
    """Put the complete tree ``new`` under ``final``; remove what ``final`` held before."""
    for _ in range(3):  # a concurrent writer may create ``final`` between our checks: retry
        if not final.exists() and not final.is_symlink():
            try:
                os.rename(new, final)  # onto nothing (or an empty dir): atomic
                return
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                continue
        if not final.is_dir() or final.is_symlink():
            raise IsADirectoryError(
                f"{final} exists and is not a directory; cannot replace it with a directory"
            )
        if _exchange(new, final):  # ``new`` now holds the old tree
            shutil.rmtree(new, ignore_errors=True)
            return
        old = temp_sibling(final, ".old")
        try:
            os.rename(final, old)
        except FileNotFoundError:
            continue
        try:
            os.rename(new, final)
        except OSError:
            with contextlib.suppress(OSError):
                os.rename(old, final)  # put the old tree back
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    raise FileExistsError(f"{final} keeps being recreated by another writer; cannot replace it")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # glibc < 2.28, musl, ...
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # the filesystem or kernel cannot exchange
        return False
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


_TEMP_NAME = re.compile(r"^.+\.(\d+)\.[0-9a-f]{8}\.(tmp|old)$")  # what temp_sibling makes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def stale_temporaries(roots: list[Path], *, min_age_s: float = 600.0) -> list[Path]:
    """Temporaries of :func:`temp_sibling` under ``roots`` (files or directories) left by writers that died
    mid-write: their pid (in the name) is not a live process here and they are older than ``min_age_s``
    (a writer on another host sharing the filesystem is not visible here; the age keeps its files safe)."""
    now = time.time()
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                m = _TEMP_NAME.match(name)
                path = Path(dirpath) / name
                if m is None or _pid_alive(int(m.group(1))):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if now - path.lstat().st_mtime >= min_age_s:
                        found.append(path)
            dirnames[:] = [d for d in dirnames if not _TEMP_NAME.match(d)]  # not inside a temporary
    return sorted(found)


def remove_path(path: Path) -> None:
    """Remove a file or a directory tree (a stale temporary)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
