"""`load_dataset(name_or_path)`: the one way the rest of the project gets data.

The names resolve on first use (PEP 562), so `from recsys_core.data import RELEASES` (the CLI's argument
checks, the registry) does not import pandas and pyarrow: a usage error answers before any of that loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import cache
    from .dataset import DUPLICATE_POLICY, Dataset, Genome, Ratings, build_dataset
    from .fetch import ByteProgress, download, extract_members
    from .loader import cleanup_stale, load_dataset, resolve_source
    from .registry import (
        DEFAULT_DATASET,
        RELEASES,
        Release,
        data_dir,
        get_release,
        is_present,
        list_releases,
        release_dir,
    )

__all__ = [
    "DEFAULT_DATASET", "DUPLICATE_POLICY", "RELEASES", "Dataset", "Genome", "Ratings", "Release",
    "cleanup_stale", "data_dir", "download", "get_release", "is_present", "list_releases", "load_dataset",
    "release_dir", "resolve_source", "ByteProgress", "build_dataset", "extract_members", "cache",
]

_HOME = {
    **dict.fromkeys(("DUPLICATE_POLICY", "Dataset", "Genome", "Ratings", "build_dataset"), "dataset"),
    **dict.fromkeys(("ByteProgress", "download", "extract_members"), "fetch"),
    **dict.fromkeys(("cleanup_stale", "load_dataset", "resolve_source"), "loader"),
    **dict.fromkeys(("DEFAULT_DATASET", "RELEASES", "Release", "data_dir", "get_release", "is_present",
                     "list_releases", "release_dir"), "registry"),
}


def __getattr__(name: str) -> Any:
    """Import the submodule that holds ``name`` on first use; unknown names fall through to submodules."""
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
