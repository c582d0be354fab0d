"""Model subcommands (train, similar, evaluate, predict, export): filled in by the engine."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Register the model subcommands."""
