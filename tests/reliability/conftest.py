"""Reliability fixtures: a fast config, awkward tiny datasets, a write-denying artifacts folder, AppTest."""

from __future__ import annotations

import builtins
import errno
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import train_bundled  # noqa: E402
from tests.reliability.datasets import write_release  # noqa: E402


def tiny_config(**content):
    """A fast EngineConfig for tiny data (few epochs, small codes); content overrides allowed."""
    from recsys_core.config import EngineConfig

    cfg = EngineConfig()
    opts = {"epochs": 3, "code_dim": 8, "batch_size": 16, **content}
    return replace(cfg, content=replace(cfg.content, **opts), collab=replace(cfg.collab, dim=8))


@pytest.fixture
def tiny_cfg() -> Callable[..., object]:
    return tiny_config


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A plain, well-formed 30-movie release (the baseline the fault tests damage)."""
    return write_release(tmp_path_factory.mktemp("rel_tiny") / "tiny")


@pytest.fixture(scope="session")
def tiny_ds(tiny_dir):
    from recsys_core.data import load_dataset

    return load_dataset(tiny_dir, use_cache=False)


def files_under(root: Path) -> dict[str, int]:
    """Every file below ``root`` (relative path -> size), to prove nothing was written or lost."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def deny_writes(monkeypatch) -> Callable[[Path, int], None]:
    """Make every write under a folder fail with ``err`` (EROFS: read-only, ENOSPC: full), in-process.

    We run as root here, so chmod cannot make a folder read-only; this patches the OS-level calls the
    store, the parsed-data cache and numpy use (open for writing, mkdir, rename, os.open with O_CREAT).
    """

    def install(root: Path, err: int = errno.EROFS, only_replace: bool = False) -> None:
        root_s = str(root.resolve()) if root.exists() else str(root)

        def under(p) -> bool:
            try:
                s = os.path.abspath(os.fsdecode(p))
            except TypeError:
                return False
            return s == root_s or s.startswith(root_s + os.sep)

        def fail(p):
            raise OSError(err, os.strerror(err), os.fsdecode(p))

        real_replace, real_rename = os.replace, os.rename

        def replace_(src, dst, *a, **k):
            if under(dst) or under(src):
                fail(dst)
            return real_replace(src, dst, *a, **k)

        def rename_(src, dst, *a, **k):
            if under(dst) or under(src):
                fail(dst)
            return real_rename(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", replace_)
        monkeypatch.setattr(os, "rename", rename_)
        if only_replace:
            return
        real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

        def open_(file, mode="r", *a, **k):
            if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and under(file):
                fail(file)
            return real_open(file, mode, *a, **k)

        def os_open(path, flags, *a, **k):
            if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR) and under(path):
                fail(path)
            return real_os_open(path, flags, *a, **k)

        def mkdir_(path, *a, **k):
            if under(path):
                fail(path)
            return real_mkdir(path, *a, **k)

        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(os, "mkdir", mkdir_)

    return install


# --- the bundled default, trained once per session (the UI suite's pattern) -------------------------


@pytest.fixture(scope="session")
def bundled_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train ml-100k with the default config once (the dir the UI suite uses too, so one training per run)."""
    return train_bundled(tmp_path_factory)


@pytest.fixture
def app(bundled_artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """Run app.py in AppTest (optionally with query params) over the pre-trained cache."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()
    st.cache_data.clear()
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(bundled_artifacts))

    def run(query: dict | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        if query:
            for k, v in query.items():
                at.query_params[k] = v
        at.run()
        return at

    yield run
    st.cache_resource.clear()
    st.cache_data.clear()
