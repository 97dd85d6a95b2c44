"""`mage` console script. Each area registers its subcommands from its own module; heavy imports
happen inside the handlers so `mage --help` stays fast. Every handler runs inside one error boundary
(`mage.cli.errors.run_command`): known errors are one line, unknown ones keep their traceback."""

from __future__ import annotations

import argparse
import importlib

from mage.cli.errors import run_command

# Modules under mage.cli that define `register(subparsers)`.
COMMAND_MODULES = ("data", "train", "validate", "evaluate", "ui", "runs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mage",
        description="MAGE offline-RL platform: data, training, evaluation and tracking.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"mage.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"mage.cli.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    return run_command(args)
