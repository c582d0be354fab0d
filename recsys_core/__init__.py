"""recsys_core: content + collaborative movie embeddings, blended; the facade the dashboard and CLI call.

Importing this package stays light: torch, scikit-learn and umap load only when a model is trained
or a map is computed.
"""

from __future__ import annotations

from typing import Any

from .errors import CacheError, ConfigError, DatasetError, RecsysError, UnknownMovieError

__all__ = [
    "Explorer", "Progress", "Similar", "EngineConfig", "ContentConfig", "CollabConfig", "EvalConfig",
    "ProjectionConfig", "Filters", "load_dataset", "RecsysError", "DatasetError", "ConfigError",
    "UnknownMovieError", "CacheError", "ArtifactMissingError",
]

_LAZY = {
    "Explorer": ("explorer", "Explorer"),
    "Progress": ("events", "Progress"),
    "Similar": ("explorer", "Similar"),
    "EngineConfig": ("config", "EngineConfig"),
    "ProjectionConfig": ("config", "ProjectionConfig"),
    "ContentConfig": ("config", "ContentConfig"),
    "CollabConfig": ("config", "CollabConfig"),
    "EvalConfig": ("config", "EvalConfig"),
    "load_dataset": ("data", "load_dataset"),
    "Filters": ("scoring.similarity", "Filters"),
    "ArtifactMissingError": ("store", "ArtifactMissingError"),
}


def __getattr__(name: str) -> Any:
    """Resolve the heavier names on first use (PEP 562), so `import recsys_core` stays fast."""
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{mod}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'recsys_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
