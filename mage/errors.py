"""The error boundary of every entry point: `mage` commands (``mage.cli.errors.run_command``), sweep scripts
and analysis scripts (``guarded``). A leaf: it imports nothing of the project (errors are looked up in
``sys.modules``), so every layer and ``analysis/`` may use it.

Known errors (a bad setting, a missing or bad input file, an unreachable store, a NaN loss, resources the
machine does not have) end the command with one line ``mage <cmd>: error: <what and the fix>`` on stderr and
exit status 1, without a traceback; ``MAGE_DEBUG=1`` prints the traceback as well. Anything else is a bug
and keeps its traceback, followed by one summary line. Usage errors (argparse) keep argparse's status 2.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator

DEBUG_ENV = "MAGE_DEBUG"  # 1: show the traceback of known errors too

# Errors the platform raises on purpose, each naming the input and the fix. Looked up in sys.modules: a module
# that was never imported cannot have raised its error, and `mage --help` stays free of heavy imports.
KNOWN_ERRORS = (
    ("mage.config_base", "ConfigError"),  # bad --set / preset value (ScheduleError is one)
    ("mage.data.d4rl_io", "DatasetError"),  # missing / unreadable / invalid dataset file
    ("mage.envs.registry", "UnknownTaskError"),  # a task / dataset name the registry does not have
    ("mage.loop", "NonFiniteLossError"),  # the training loss became NaN / inf
    ("mage.loop", "DeviceError"),  # a device this machine does not have (--device cuda on a CPU box)
    ("mage.tracking.query", "NoRunsError"),  # no runs where the command looked
    ("mage.tracking.store", "TrackingUnreachableError"),  # MLFLOW_TRACKING_URI does not answer
    ("mage.tracking.mlflow_logger", "ResumeError"),  # mage train --resume of a run that cannot continue
    ("mage.distributed.resources", "ResourceError"),  # GPUs / workers this cluster cannot give
)
# Input files and directories the user named.
KNOWN_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


class CliError(Exception):
    """An error a handler explains itself: one line (without the ``mage <cmd>: error:`` prefix), an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _known_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [CliError, *KNOWN_OS_ERRORS]
    for mod, name in KNOWN_ERRORS:
        t = getattr(sys.modules.get(mod), name, None)
        if isinstance(t, type):
            types.append(t)
    return tuple(types)


def _causes(e: BaseException) -> Iterator[BaseException]:
    """``e`` and the errors it wraps: Ray's task errors (``.cause``) and Ray Train's per-worker failures."""
    yield e
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException) and cause is not e:
        yield from _causes(cause)
    failures = getattr(e, "worker_failures", None)
    if isinstance(failures, dict):
        for f in failures.values():
            if isinstance(f, BaseException):
                yield from _causes(f)


def known_error(e: BaseException) -> BaseException | None:
    """The known error ``e`` is or wraps, else None."""
    types = _known_types()
    return next((c for c in _causes(e) if isinstance(c, types)), None)


def one_line(cmd: str, message: str) -> str:
    """``<cmd>: error: <message>`` (a message that already starts with ``error:`` is not doubled); ``cmd`` is
    ``mage train``, ``sweeps/search.py``, ..."""
    message = str(message).strip()
    if message.startswith("error:"):
        message = message[len("error:") :].strip()
    return f"{cmd}: error: {message}"


def describe(e: BaseException) -> str:
    """The message of a known error: ours say what is wrong and the fix; others get their type name."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    text = str(e) or type(e).__name__
    return text if type(e).__module__.startswith("mage.") else f"{type(e).__name__}: {text}"


def guarded(cmd: str, fn: Callable[[], int | None]) -> int:
    """``fn()`` inside the boundary: its exit status, 1 after a known error's line, 130 on Ctrl-C. ``cmd``
    names the entry point in the messages (``mage train``; a sweep script's path)."""
    try:
        return int(fn() or 0)
    except KeyboardInterrupt:
        print(f"{cmd}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # handlers end with SystemExit("error: ...") for a bad flag
        if not isinstance(e.code, str):
            raise
        if debug() and e.__context__ is not None:
            traceback.print_exception(e.__context__)
        raise SystemExit(one_line(cmd, e.code)) from None
    except Exception as e:
        known = known_error(e)
        if known is None:
            traceback.print_exc()
            print(
                f"{cmd}: unexpected error {type(e).__name__}: {e} (the traceback above; "
                "please report it with the command line)",
                file=sys.stderr,
            )
            return 1
        if debug():
            traceback.print_exc()
        print(one_line(cmd, describe(known)), file=sys.stderr)
        return known.code if isinstance(known, CliError) else 1
