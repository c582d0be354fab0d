"""Shared fixtures: paths, and skips that CI turns into failures."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = Path(os.environ.get("RECSYS_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))

# Trained fixtures (the bundled ml-100k with the default config, and its maps) are kept between runs in
# .test-cache/artifacts/<code key>/, keyed by the engine's source and the pinned requirements on top of the
# store's own dataset-fingerprint + config-hash key: an engine edit retrains once, nothing is ever served
# stale. Each session works on its own copy (tests may change settings); a fresh clone starts empty.
# RECSYS_TEST_CACHE=off turns it off; RECSYS_TEST_CACHE=DIR moves it.
_CACHE_SETTING = os.environ.get("RECSYS_TEST_CACHE", "").strip()
TEST_CACHE: Path | None = (None if _CACHE_SETTING.lower() in ("0", "off", "no", "false")
                           else Path(_CACHE_SETTING or ROOT / ".test-cache").resolve())
if TEST_CACHE is not None:
    # numba's compiled kernels (rating loop, dropout, UMAP) survive between runs too, in the artifacts folder
    os.environ.setdefault("NUMBA_CACHE_DIR", str(TEST_CACHE / "artifacts" / ".numba-cache"))
_SEEDED: set[Path] = set()


_CODE_KEY: list[str] = []


def code_key() -> str:
    """A hash of what a trained artifact depends on beyond its data and config: the engine's code and the pins
    (computed once per session, so an edit made while tests run takes effect on the next run)."""
    if not _CODE_KEY:
        _CODE_KEY.append(_hash_code())
    return _CODE_KEY[0]


def _hash_code() -> str:
    h = hashlib.sha256((ROOT / "requirements.txt").read_bytes())
    pkg = ROOT / "recsys_core"
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        if rel.startswith("cli/"):
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _seed_root() -> Path | None:
    return None if TEST_CACHE is None else TEST_CACHE / "artifacts" / code_key()


def _artifact_dirs(root: Path) -> list[Path]:
    """<root>/<fingerprint>/<key>/ folders holding a complete artifact (a manifest)."""
    return [m.parent for m in root.glob("*/*/manifest.json") if not m.parent.name.startswith(".")]


def _copy_atomically(src: Path, dest: Path) -> None:
    """Copy a folder so readers see all of it or none of it; replace an older copy; lose a race quietly."""
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, tmp)
        if dest.exists():
            old = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.old"
            dest.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def session_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's artifacts folder (what RECSYS_ARTIFACTS_DIR points at), filled from the persistent cache."""
    art = tmp_path_factory.getbasetemp() / "artifacts"
    seed = _seed_root()
    if seed is not None and art not in _SEEDED:
        _SEEDED.add(art)
        for src in _artifact_dirs(seed) if seed.is_dir() else []:
            dest = art / src.relative_to(seed)
            if not dest.exists():
                _copy_atomically(src, dest)
        if seed.parent.is_dir():
            _prune(seed.parent, keep=seed.name)
    return art


def publish_artifact(folder: Path, root: Path) -> None:
    """Keep a freshly trained (or newly mapped) artifact for the next runs; best effort, never fails a test."""
    seed = _seed_root()
    if seed is None or not (folder / "manifest.json").is_file() or not folder.is_relative_to(root):
        return
    dest = seed / folder.relative_to(root)
    if dest.is_dir() and {p.name for p in dest.iterdir()} == {p.name for p in folder.iterdir()}:
        return
    _copy_atomically(folder, dest)


def _prune(base: Path, keep: str, n: int = 2) -> None:
    """Drop cached artifacts of all but the newest few code versions (they can never be used again)."""
    old = sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != keep),
                 key=lambda p: p.stat().st_mtime, reverse=True)
    for p in old[n:]:
        shutil.rmtree(p, ignore_errors=True)


def skip_or_fail(reason: str, env_var: str) -> None:
    """Skip with a how-to message, unless CI set ``env_var`` to make a skip a failure."""
    if os.environ.get(env_var, "") not in ("", "0"):
        pytest.fail(f"{reason} ({env_var} is set, so this is a failure rather than a skip)")
    pytest.skip(reason)


def train_bundled(tmp_path_factory: pytest.TempPathFactory, maps: bool = False) -> Path:
    """Train the bundled ml-100k with the default config into the session's artifact dir (once: later calls,
    and later runs through the persistent test cache, load it) and return that dir; with ``maps`` also its
    UMAP maps. RECSYS_UI_TEST_CACHE names one dir to use as it is instead."""
    reuse = os.environ.get("RECSYS_UI_TEST_CACHE", "")
    art = Path(reuse).resolve() if reuse else session_artifacts(tmp_path_factory)
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
        if not reuse:
            publish_artifact(Path(ex.artifact.path), art)
    finally:
        mp.undo()
    return art


# Tests that each train models of their own for tens of seconds: `make test` (CI) runs them, `make test-fast`
# (-m "not slow") leaves them out. Node-id prefixes; their owners may move the mark into the files.
SLOW_TESTS = (
    "tests/engine/test_scale.py::test_row_wise_training_above_threshold_learns_real_ratings",
    "tests/engine/test_scale.py::test_compiled_and_batched_row_steps_reach_the_same_quality",
    "tests/engine/test_explorer.py::test_corrupt_or_changed_data_rebuilds_through_the_facade",
    "tests/engine/test_collab.py::test_the_gradient_trained_rating_models_remain_available",
    "tests/engine/test_projection.py::test_maps_are_computed_once_and_cached",
    "tests/reliability/test_concurrency.py::test_two_processes_different_datasets_same_folder",
    "tests/reliability/test_settings_and_device.py::test_training_runs_out_of_memory_then_finishes_on_the_cpu",
    "tests/reliability/test_settings_and_device.py::test_a_cuda_error_during_training_moves_the_rest_to_the_cpu",
    "tests/reliability/test_faults.py::test_killed_mid_projection_keeps_the_artifact_and_recomputes_the_map",
    "tests/reliability/test_faults.py::test_killed_mid_training_serves_nothing_half_written_and_keeps_the_good_one",
    "tests/engine/test_cli_model.py::test_predict_and_export_on_a_training_only_folder",
    "tests/engine/test_jobs.py::test_the_server_keeps_one_warm_worker_that_outlives_its_jobs",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark SLOW_TESTS slow before -m selects (tryfirst: ahead of pytest's own deselection)."""
    for item in items:
        if item.nodeid.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture(scope="session", autouse=True)
def _scan_streamlit_components_once():
    """AppTest scans every installed distribution's metadata for Streamlit components on each run (0.6 s here,
    ~150 runs in `make test-fast`); the installed packages cannot change during a session, so scan once."""
    import functools

    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # an older or newer Streamlit without the v2 scanner: nothing to save
        yield
        return
    original = manifest_scanner.scan_component_manifests
    manifest_scanner.scan_component_manifests = functools.cache(original)
    yield
    manifest_scanner.scan_component_manifests = original
