"""Importing gymnasium-robotics (lazily, by the family wrappers only): ``robotics_module(name)``.

gymnasium-robotics 1.3.1 prints a notice to stderr on import (farama_notifications: the Adroit v1 reward
change of 1.2.1, which ``mage.envs.manipulation.AdroitTaskEnv`` undoes); it is swallowed here so CLI output
stays clean. Nothing else is silenced: an import error still raises."""

from __future__ import annotations

import contextlib
import importlib
import io
from types import ModuleType


def robotics_module(name: str) -> ModuleType:
    """``importlib.import_module(name)`` for a ``gymnasium_robotics`` module, without the import notice."""
    with contextlib.redirect_stderr(io.StringIO()):
        return importlib.import_module(name)
