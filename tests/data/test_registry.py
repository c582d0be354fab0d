"""Named releases, the data dir and its override, and names that must not escape it."""

from __future__ import annotations

import pytest

from recsys_core.data import RELEASES, data_dir, get_release, list_releases, release_dir
from recsys_core.data.registry import BUNDLED_DIR, REPO_ROOT
from recsys_core.errors import DatasetError


def test_registry_names_and_sources():
    assert list(RELEASES) == ["ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m",
                              "ml-latest"]
    assert RELEASES["ml-100k"].bundled and release_dir("ml-100k") == BUNDLED_DIR
    for r in RELEASES.values():
        if not r.bundled:
            assert r.url() == f"https://files.grouplens.org/datasets/movielens/{r.name}.zip"
            assert r.md5 is None or len(r.md5) == 32
    assert RELEASES["ml-1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert RELEASES["ml-latest"].md5 is None, "re-issued releases: checksum fetched at download time"


def test_data_dir_default_and_override(tmp_path, monkeypatch):
    monkeypatch.delenv("RECSYS_DATA_DIR", raising=False)
    assert data_dir() == REPO_ROOT / "data"
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve() and release_dir("ml-25m") == tmp_path.resolve() / "ml-25m"
    assert release_dir("ml-100k") == BUNDLED_DIR, "the bundled copy stays in the repo"
    rows = {r["name"]: r for r in list_releases()}
    assert rows["ml-100k"]["present"] and not rows["ml-25m"]["present"]


def test_unknown_name_lists_choices():
    with pytest.raises(DatasetError, match=r"unknown dataset 'ml-2m'; choose one of ml-100k, ml-latest-small"):
        get_release("ml-2m")


def test_name_cannot_escape_the_data_dir(tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    base = tmp_path / "datadir"
    base.mkdir()
    (base / "ml-1m").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("RECSYS_DATA_DIR", str(base))
    with pytest.raises(DatasetError, match="points outside the data dir"):
        release_dir("ml-1m")
