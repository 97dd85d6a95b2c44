"""The error boundary of the `mage` subcommands: ``run_command`` (``mage.cli.main``) over ``mage.errors``."""

from __future__ import annotations

import argparse

from mage.errors import CliError, guarded, known_error, one_line

__all__ = ["CliError", "command_name", "guarded", "known_error", "one_line", "run_command"]


def command_name(args: argparse.Namespace) -> str:
    """``train``, ``data generate``, ``runs clean``: the subcommand as typed."""
    parts = [getattr(args, k, None) for k in ("command", "data_command", "runs_command")]
    return " ".join(p for p in parts if p)


def run_command(args: argparse.Namespace) -> int:
    """``args.func(args)`` inside the boundary (:func:`mage.errors.guarded`) as ``mage <subcommand>``."""
    return guarded(f"mage {command_name(args)}".strip(), lambda: args.func(args))
