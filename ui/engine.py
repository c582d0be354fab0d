"""The UI's one door into recsys_core: every engine name the dashboard uses is imported here.

The engine is being re-layered; keeping its module paths in one file means a move in recsys_core is
fixed here once instead of in every UI module. Nothing in this file draws anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from recsys_core import ArtifactMissingError, EngineConfig, Explorer, Filters, RecsysError
from recsys_core.jobs import CANCELLED as JOB_CANCELLED
from recsys_core.jobs import DONE as JOB_DONE
from recsys_core.jobs import FAILED as JOB_FAILED
from recsys_core.jobs import QUEUED as JOB_QUEUED
from recsys_core.jobs import RUNNING as JOB_RUNNING
from recsys_core.jobs import Job, JobKey, JobRunner, prewarm, run_in_process

__all__ = [
    "ArtifactMissingError", "EngineConfig", "Explorer", "Filters", "RecsysError",
    "setting_choices", "releases", "release_names", "release_present", "data_dir", "download_release",
    "release_mb", "open_explorer", "map_step", "artifacts_dir", "atomic_write",
    "region_labels", "group_traits", "trait_text",
    "Job", "JobKey", "JobRunner", "prewarm", "run_in_process", "JOB_CANCELLED", "JOB_DONE", "JOB_FAILED", "JOB_QUEUED", "JOB_RUNNING",
]


def setting_choices() -> dict[str, tuple[str, ...]]:
    """The values the engine accepts for each fixed-choice setting, keyed "section.field" (or "device")."""
    from recsys_core.config import choices

    return {k: tuple(v) for k, v in choices().items()}


# --- datasets: the registry and the data folder ---------------------------------------------------


def releases() -> list[dict]:
    """The registry rows (name, title, bundled, present, approx_mb, description; 'path' is server-only)."""
    from recsys_core.data import registry

    return registry.list_releases()


def release_names() -> tuple[str, ...]:
    """Names of the MovieLens releases the engine knows."""
    from recsys_core.data import registry

    return tuple(registry.RELEASES)


def release_present(name: str) -> bool:
    """Whether a registry release is on this machine."""
    from recsys_core.data import registry

    return name in registry.RELEASES and registry.is_present(name)


def release_mb(name: str) -> float:
    """Approximate download size of a release."""
    from recsys_core.data import registry

    return float(registry.RELEASES[name].approx_mb)


def data_dir() -> Path:
    """Where downloaded releases and other dataset folders live (server-side; never shown to visitors)."""
    from recsys_core.data import registry

    return registry.data_dir()


def artifacts_dir() -> Path:
    """The server's artifact cache (RECSYS_ARTIFACTS_DIR): models, maps, and the shared map selections."""
    from recsys_core.paths import artifacts_dir as root

    return root()


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file whole (temporary file, then rename): readers never see half of it."""
    from recsys_core.files import atomic_write as write

    write(path, data)


def download_release(name: str, progress: Callable[[int, int | None], None]) -> None:
    """Download and extract a registry release (raises RecsysError on failure)."""
    from recsys_core.data import download

    download(name, progress=progress)


# --- models and maps ------------------------------------------------------------------------------


def open_explorer(source: str, cfg: EngineConfig, train: bool, progress: Callable[[Any], None] | None = None,
                  complete: bool = False) -> Explorer:
    """Open (or, with ``train``, build) the artifact for a dataset source and settings.

    The dashboard opens artifacts as soon as the lists can be served; the rating model and the evaluation
    are added by the server's jobs (``ui.jobs``), not by a page.
    """
    return Explorer.open(source, cfg, train=train, progress=progress, complete=complete)


def map_step(ex: Explorer) -> float:
    """The α step blended maps are stored at (the lists use the exact α)."""
    return float(ex.config.projection.alpha_step)


def region_labels(ex: Explorer, coords: Any) -> list[Any]:
    """The map's regions (k-means on its 2-D coordinates), each named by its most distinctive traits."""
    from recsys_core.map_labels import region_labels as labels

    return labels(ex, coords)


def group_traits(ex: Explorer, rows: Any, n: int = 4) -> tuple[Any, ...]:
    """The genres and content terms that most set these movie rows apart from the whole catalogue."""
    from recsys_core.map_labels import traits

    return traits(ex, rows, n=n)


def trait_text(traits: tuple[Any, ...], n: int = 2) -> str:
    """Traits as one short label ('Sci-Fi · #space')."""
    from recsys_core.map_labels import trait_text as text

    return text(traits, n)
