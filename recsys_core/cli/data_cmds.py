"""Data subcommands (datasets, info): filled in by the data layer."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Register the data subcommands."""
