"""Which process owns a RUNNING run, and whether it is still alive (so a killed run can be told apart)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

OWNER_TAG = "mage.owner"  # "<host>:<pid>:<process start time in clock ticks since boot>"


def _start_ticks(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: tells a live process from a later one that reused its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # the fields after "(comm)" start at field 3


def owner() -> str:
    """This process, as stored in the ``mage.owner`` tag of the runs it creates."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"


def owner_gone(value: str) -> bool | None:
    """True when ``value`` names a process of this host that no longer runs; None when it cannot be told
    (another host, or no /proc)."""
    host, _, rest = value.partition(":")
    pid, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or not Path("/proc/self/stat").exists():
        return None
    now = _start_ticks(int(pid))
    return now is None or (ticks != "?" and now != ticks)
