"""`recsys` / `python -m recsys_core`: thin subcommands over the same facade the dashboard uses.

Conventions: data on stdout (``--json`` where the output is data), progress and notes on stderr; exit 0 on
success, 1 when something fails while running, 2 for bad usage or bad input; every argument is checked
before a dataset is read or a model trained.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigError, DatasetError, DownloadError, RecsysError, UnknownMovieError
from . import data_cmds, model_cmds
from .common import EXIT_CODES_HELP, EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = ["build_parser", "exit_code", "main", "version"]

EPILOG = f"""\
examples:
  %(prog)s datasets
  %(prog)s info --data ml-100k
  %(prog)s similar --data ml-100k --movie "star wars" -k 10
  %(prog)s export --data ml-100k --out export/ --no-train
  %(prog)s COMMAND --help        (every command's options, with examples)

{EXIT_CODES_HELP}

environment: RECSYS_DATA_DIR (downloaded datasets), RECSYS_ARTIFACTS_DIR (trained models, caches),
  RECSYS_DEVICE (auto, cpu, cuda[:N], mps). Defaults: the checkout's data/ and artifacts/, or, when
  installed, $XDG_DATA_HOME/recsys (~/.local/share/recsys) and $XDG_CACHE_HOME/recsys (~/.cache/recsys)."""


def version() -> str:
    """The package version: pyproject.toml in a checkout (the one source), else the installed metadata."""
    from .. import paths

    if paths.in_checkout():
        import tomllib

        with open(paths.CHECKOUT_ROOT / "pyproject.toml", "rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    from importlib import metadata

    try:
        return metadata.version("recsys-core")
    except metadata.PackageNotFoundError:
        return "unknown"


def _prog() -> str:
    """How the user called us, for usage lines and examples: `recsys` or `python -m recsys_core`."""
    argv0 = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m recsys_core" if argv0 in ("__main__.py", "-m", "-c", "") else argv0


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """One parser; each command module registers its own subcommands."""
    parser = argparse.ArgumentParser(
        prog=prog or _prog(),
        description="Similar-movies explorer: datasets, training, similar movies, evaluation, export.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_cmds.register(sub)
    model_cmds.register(sub)
    return parser


def exit_code(exc: RecsysError) -> int:
    """2 for what the user gave (settings, data, a movie, --no-train without a model); 1 for failures while running."""
    from ..store import ArtifactMissingError

    if isinstance(exc, DownloadError):
        return EXIT_FAILED
    if isinstance(exc, (ConfigError, DatasetError, UnknownMovieError, ArtifactMissingError)):
        return EXIT_USAGE
    return EXIT_FAILED


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors become one line on stderr and an exit code (see EXIT_CODES_HELP)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except RecsysError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error for the user
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # disk full, permission changed mid-run: say what, not where in the code
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or _one_line(exc)}{where}; free space or fix permissions and run again.",
              file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug: one line for the user, the traceback only on request
        if os.environ.get("RECSYS_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (a bug; run again with RECSYS_DEBUG=1 "
              "for the traceback and report it)", file=sys.stderr)
        return EXIT_FAILED
