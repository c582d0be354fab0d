"""What every subcommand shares: exit codes, help layout, argument checks done before any work, and output.

Conventions (also in ``recsys --help``): data goes to stdout (text, or JSON with ``--json``); progress,
notes and errors go to stderr; exit 0 on success, 1 when something failed while running, 2 for bad
usage or bad input. Every argument is checked before a dataset is read or a model is trained.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from ..errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1  # something went wrong while running (download, disk, device, a damaged cache)
EXIT_USAGE = 2  # bad usage or bad input (unknown option, value out of range, malformed dataset, unknown movie)

MAX_K = 1000

EXIT_CODES_HELP = """\
exit codes: 0 success; 1 failure while running (download, disk, device); 2 bad usage or bad input.
output: data on stdout (--json for machine-readable); progress, notes and errors on stderr."""


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str, examples: str,
               extra_epilog: str = "") -> argparse.ArgumentParser:
    """A subcommand with a description, worked examples and the exit codes in its --help."""
    epilog = "examples:\n" + examples.rstrip() + "\n\n" + (extra_epilog.rstrip() + "\n\n" if extra_epilog else "")
    return sub.add_parser(name, help=help, description=textwrap.fill(description, 100), epilog=epilog + EXIT_CODES_HELP,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_json(p: argparse.ArgumentParser, what: str = "the result") -> None:
    """The --json flag every data-producing command takes."""
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")


def note(message: str) -> None:
    """A note for the person at the terminal: stderr, so stdout stays data."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def print_json(obj: Any) -> None:
    """Data as JSON on stdout (NaN becomes null, numpy scalars become numbers)."""
    print(json.dumps(_plain(obj), indent=1, default=str))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# ---------------------------------------------------------------- checks made before any work


def check_k(k: int) -> int:
    """-k in 1..MAX_K."""
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"-k must be between 1 and {MAX_K}, got {k}.")
    return k


def check_alpha(alpha: float | None) -> float | None:
    """--alpha in [0, 1] (None: the saved default, checked when the model is open)."""
    if alpha is not None and (math.isnan(alpha) or not 0.0 <= alpha <= 1.0):
        raise ConfigError(f"--alpha must be between 0 and 1 (the content weight), got {alpha:g}.")
    return alpha


def writable_dir(path: Path, flag: str) -> Path:
    """Create the folder now and prove it takes a file, so a bad output folder fails in a second, not after training."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder; give a folder to write into.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".recsys-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot create or write there ({exc.strerror or exc}); "
                          "give a folder you can write to.") from None
    return path


def writable_file(path: Path, flag: str) -> Path:
    """The output file's folder exists (or is created) and takes a file; the path itself is not a folder."""
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file name, e.g. {path / 'out.csv'}.")
    writable_dir(path.parent if str(path.parent) else Path("."), flag)
    return path


def readable_file(path: Path, flag: str) -> Path:
    """An input file that exists and can be read."""
    if not path.is_file():
        raise ConfigError(f"{flag} {path} does not exist (or is not a file); check the path.")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{flag} {path} cannot be read (permission denied).")
    return path


def check_data(data: str) -> None:
    """--data is a registry name that is on disk, or a path that exists (what is in it is checked when read)."""
    from ..data import RELEASES, is_present

    if data in RELEASES:
        if not is_present(data):
            raise ConfigError(f"{data} is not downloaded yet; get it with `recsys download {data}` "
                              "(or give a folder or .zip with --data).")
        return
    if not Path(data).expanduser().exists():
        raise ConfigError(f"--data {data}: no dataset of that name and no such folder or .zip. Names: "
                          f"{', '.join(RELEASES)}; or give a folder / .zip in a MovieLens layout.")
