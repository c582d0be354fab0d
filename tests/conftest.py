"""Shared fixtures: paths, and skips that CI turns into failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = Path(os.environ.get("RECSYS_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


def skip_or_fail(reason: str, env_var: str) -> None:
    """Skip with a how-to message, unless CI set ``env_var`` to make a skip a failure."""
    if os.environ.get(env_var, "") not in ("", "0"):
        pytest.fail(f"{reason} ({env_var} is set, so this is a failure rather than a skip)")
    pytest.skip(reason)


def train_bundled(tmp_path_factory: pytest.TempPathFactory, maps: bool = False) -> Path:
    """Train the bundled ml-100k with the default config into the session's artifact dir (once: later calls
    load it) and return that dir; with ``maps`` also its UMAP maps. RECSYS_UI_TEST_CACHE reuses one dir across
    sessions (safe: artifacts are keyed by data fingerprint + config hash and checksummed by the store)."""
    reuse = os.environ.get("RECSYS_UI_TEST_CACHE", "")
    art = Path(reuse).resolve() if reuse else tmp_path_factory.getbasetemp() / "artifacts"
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSYS_ARTIFACTS_DIR", str(art))
    try:
        from recsys_core import EngineConfig, Explorer

        ex = Explorer.open("ml-100k", EngineConfig(), train=True)
        if maps:
            for space in ("content", "collab"):
                ex.projection(space)
            for alpha in {0.5, round(ex.default_alpha, 2)}:  # the plain average (screenshots) and the default
                ex.projection("hybrid", alpha=alpha)
        ex.agreement(k=20)
    finally:
        mp.undo()
    return art


@pytest.fixture(scope="session")
def ml_latest_small() -> Path:
    """The real ml-latest-small release from ../shared, when present."""
    path = SHARED_DATASETS / "ml-latest-small"
    if not (path / "ratings.csv").exists():
        skip_or_fail(
            f"ml-latest-small not found at {path}; put the release there (or set "
            "RECSYS_SHARED_DATASETS) to run the real-data tests",
            "RECSYS_REQUIRE_SHARED_DATA",
        )
    return path


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Every test writes artifacts and downloads under a temp dir, never the user's."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(base / "artifacts"))
    yield
