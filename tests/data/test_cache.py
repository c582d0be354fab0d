"""The parsed cache: served on the second open, invalidated by a changed source, rebuilt when damaged."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from recsys_core.data import cache, load_dataset

from .conftest import write_csv_release


def _same(a, b) -> None:
    assert a.fingerprint == b.fingerprint and a.rating_scale == b.rating_scale and a.notes == b.notes
    for f in ("user", "movie", "rating", "timestamp"):
        x, y = getattr(a.ratings, f), getattr(b.ratings, f)
        assert x.dtype == y.dtype and np.array_equal(x, y)
    pd.testing.assert_frame_equal(a.movies, b.movies)
    pd.testing.assert_frame_equal(a.users, b.users)
    pd.testing.assert_frame_equal(a.tags, b.tags)


def test_second_open_is_served_from_cache(csv_release, private_cache):
    before = cache.stats.hits
    first = load_dataset(csv_release)
    assert not first.from_cache
    second = load_dataset(csv_release)
    assert second.from_cache and cache.stats.hits == before + 1
    _same(first, second)
    assert second.genome is not None and np.array_equal(second.genome.scores, first.genome.scores)
    assert second.genome.tags == first.genome.tags
    entries = list(private_cache.iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("ml-tiny-")


def test_bundled_cached_round_trip(private_cache, bundled):
    load_dataset("ml-100k")
    ds = load_dataset("ml-100k")
    assert ds.from_cache
    _same(ds, bundled)


def test_changed_source_is_reparsed_and_old_entry_dropped(csv_release, private_cache):
    first = load_dataset(csv_release)
    ratings = csv_release / "ratings.csv"
    ratings.write_text(ratings.read_text() + "3,1,1.0,1306463999\n")
    st = ratings.stat()
    os.utime(ratings, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    second = load_dataset(csv_release)
    assert not second.from_cache and second.n_ratings == first.n_ratings + 1
    assert second.fingerprint != first.fingerprint
    assert len(list(private_cache.iterdir())) == 1, "the stale entry of the same source is removed"


def test_corrupt_cache_is_ignored_and_rebuilt(csv_release, private_cache):
    first = load_dataset(csv_release)
    (entry,) = private_cache.iterdir()
    (entry / "ratings.parquet").write_bytes(b"PAR1 garbage")
    corrupt = cache.stats.corrupt
    second = load_dataset(csv_release)
    assert not second.from_cache and cache.stats.corrupt == corrupt + 1
    _same(first, second)
    assert load_dataset(csv_release).from_cache, "the rebuilt entry is used next time"


def test_truncated_meta_is_ignored(csv_release, private_cache):
    load_dataset(csv_release)
    (entry,) = private_cache.iterdir()
    (entry / "meta.json").write_text('{"version": 1, "name"')
    assert not load_dataset(csv_release).from_cache


def test_cache_files_are_not_pickles(csv_release, private_cache):
    load_dataset(csv_release)
    (entry,) = private_cache.iterdir()
    names = sorted(p.name for p in entry.iterdir())
    assert names == ["genome_movie.npy", "genome_scores.npy", "meta.json", "movies.parquet", "ratings.parquet",
                     "tags.parquet", "users.parquet"]
    np.load(entry / "genome_scores.npy", allow_pickle=False)


def test_unwritable_cache_dir_still_loads(csv_release, tmp_path, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the artifacts dir should be")
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(blocker))
    assert load_dataset(csv_release).n_ratings == 7


def test_no_temp_folders_left(csv_release, private_cache):
    load_dataset(csv_release)
    load_dataset(write_csv_release(csv_release.parent / "second"))
    assert not [p for p in private_cache.iterdir() if p.name.startswith(".tmp")]
