"""`python -m recsys_core`: thin subcommands over the same facade the dashboard uses."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import RecsysError
from . import data_cmds, model_cmds


def build_parser() -> argparse.ArgumentParser:
    """One parser; each command module registers its own subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m recsys_core",
        description="Similar-movies explorer: datasets, training, similar movies, evaluation.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_cmds.register(sub)
    model_cmds.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a RecsysError becomes a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error for the user
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
