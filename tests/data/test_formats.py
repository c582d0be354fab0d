"""Each layout read from fixtures in the exact real formats, plus the real bundled and shared data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_core.data import load_dataset
from recsys_core.data.formats import detect, find_root

from .conftest import write_csv_release, write_dat_1m, write_dat_10m, write_ml100k_original, zip_folder


def assert_canonical(ds) -> None:
    """The invariants every reader must give (dtypes, contiguous rows, sorted ids)."""
    r = ds.ratings
    assert r.user.dtype == np.int32 and r.movie.dtype == np.int32
    assert r.rating.dtype == np.float32 and r.timestamp.dtype == np.int64
    assert len(np.unique(r.user)) == ds.n_users and r.user.max() == ds.n_users - 1
    assert r.movie.min() >= 0 and r.movie.max() < ds.n_movies
    assert ds.movies["movie_id"].is_monotonic_increasing and ds.movies["movie_id"].is_unique
    assert ds.users["user_id"].is_monotonic_increasing
    assert list(ds.movies.columns[:4]) == ["movie_id", "title", "year", "genres"]
    assert str(ds.movies["year"].dtype) == "Int16"
    assert all(isinstance(g, tuple) for g in ds.movies["genres"])
    assert ds.rating_scale[0] <= r.rating.min() and r.rating.max() <= ds.rating_scale[1]
    assert not ds.movies["title"].str.contains(r"\(\d{4}\)$").any()
    assert list(ds.tags.columns) == ["user", "movie", "tag"] and ds.tags["movie"].dtype == np.int32
    key = r.user.astype(np.int64) * ds.n_movies + r.movie
    assert np.all(np.diff(key) > 0), "ratings sorted by (user, movie), no duplicates"
    assert len(ds.fingerprint) == 32


def test_bundled_default_exact_counts(bundled):
    ds = bundled
    assert (ds.n_users, ds.n_movies, ds.n_ratings) == (943, 1682, 100000)
    assert ds.rating_scale == (1.0, 5.0) and ds.n_tags == 0 and ds.genome is None
    assert_canonical(ds)
    m = ds.movies.set_index("movie_id")
    assert (m.loc[1, "title"], m.loc[1, "year"], m.loc[1, "genres"]) == ("Toy Story", 1995, ("Animation", "Children's", "Comedy"))
    assert m.loc[12, "title"] == "Usual Suspects, The"
    assert m.loc[267, "title"] == "unknown" and pd.isna(m.loc[267, "year"]) and m.loc[267, "genres"] == ()
    assert list(ds.users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert ds.users.loc[0].tolist() == [1, 24, "M", "technician", "85711"]
    assert ds.year_range == (1922, 1998)


def test_ml_latest_small_exact_counts(ml_latest_small, private_cache):
    ds = load_dataset(ml_latest_small)
    assert (ds.n_users, ds.n_movies, ds.n_ratings, ds.n_tags) == (610, 9742, 100836, 3683)
    assert ds.rating_scale == (0.5, 5.0)
    assert_canonical(ds)
    m = ds.movies.set_index("movie_id")
    assert m.loc[1, "title"] == "Toy Story" and m.loc[1, "year"] == 1995 and m.loc[1, "imdb_id"] == 114709
    assert (ds.movies["genres"].map(len) == 0).sum() == 34  # "(no genres listed)"
    rated = np.zeros(ds.n_movies, bool)
    rated[ds.ratings.movie] = True
    assert (~rated).sum() == 18, "movies without ratings stay in the catalogue"


def test_original_ml100k_layout_matches_bundled(bundled, tmp_path):
    folder = write_ml100k_original(tmp_path / "ml-100k", bundled)
    assert detect(folder).name == "movielens-100k"
    ds = load_dataset(folder, use_cache=False)
    assert (ds.n_users, ds.n_movies, ds.n_ratings) == (943, 1682, 100000)
    assert_canonical(ds)
    assert ds.fingerprint == bundled.fingerprint, "same data in another layout -> same fingerprint"
    assert ds.movies.set_index("movie_id").loc[73, "title"] == bundled.movies.set_index("movie_id").loc[73, "title"]


def test_csv_layout_every_file(csv_release):
    ds = load_dataset(csv_release, use_cache=False)
    assert_canonical(ds)
    assert (ds.n_users, ds.n_movies, ds.n_ratings, ds.n_tags) == (3, 7, 7, 3)
    m = ds.movies.set_index("movie_id")
    assert m.loc[11, "title"] == "American President, The" and m.loc[11, "year"] == 1995
    assert m.loc[32, "title"] == "Twelve Monkeys (a.k.a. 12 Monkeys)"
    assert m.loc[149532, "title"] == "Marco Polo: One Hundred Eyes" and pd.isna(m.loc[149532, "year"])
    assert m.loc[149532, "genres"] == () and m.loc[171495, "title"] == "Cosmos"
    assert m.loc[180000, "title"] == "Babylon 5" and m.loc[180000, "year"] == 1994
    assert m.loc[1, "imdb_id"] == 114709 and pd.isna(m.loc[149532, "tmdb_id"])
    assert set(ds.tags["tag"]) == {"pixar", "twist ending, classic", "time travel"}
    assert ds.tags.set_index("tag").loc["time travel", "user"] == -1, "tag-only user -> -1"
    assert ds.genome is not None and ds.genome.scores.shape == (3, 3) and ds.genome.tags[1] == "time travel"
    assert ds.genome.scores.dtype == np.float32
    assert ds.movies["movie_id"].iloc[ds.genome.movie].tolist() == [1, 32, 50]
    assert ds.genome.scores[0].tolist() == pytest.approx([0.2, 0.3, 0.4])
    assert ds.rating_scale == (0.5, 5.0) and ds.ratings.rating.min() == 0.5


def test_partial_folder_ratings_and_movies_only(tmp_path):
    folder = write_csv_release(tmp_path / "part", tags=False, links=False, genome=False)
    ds = load_dataset(folder, use_cache=False)
    assert (ds.n_movies, ds.n_ratings, ds.n_tags, ds.genome) == (7, 7, 0, None)
    assert "imdb_id" not in ds.movies.columns


def test_ml1m_dat_layout_latin1(tmp_path):
    ds = load_dataset(write_dat_1m(tmp_path / "ml-1m"), use_cache=False)
    assert_canonical(ds)
    assert (ds.n_users, ds.n_movies, ds.n_ratings) == (3, 4, 5)
    assert ds.rating_scale == (1.0, 5.0)
    m = ds.movies.set_index("movie_id")
    assert m.loc[73, "title"] == "Misérables, Les" and m.loc[73, "genres"] == ("Drama", "Musical")
    assert ds.users["occupation"].tolist() == ["K-12 student", "self-employed", "doctor/health care"]
    assert ds.users["age"].tolist() == [1, 56, 25] and ds.users["gender"].tolist() == ["F", "M", "M"]


def test_ml10m_dat_layout_tags_and_half_stars(tmp_path):
    ds = load_dataset(write_dat_10m(tmp_path / "ml-10m"), use_cache=False)
    assert_canonical(ds)
    assert ds.rating_scale == (0.5, 5.0) and ds.n_tags == 2 and ds.n_movies == 3
    assert ds.movies.set_index("movie_id").loc[65133, "genres"] == ()
    assert (ds.tags["user"] == -1).all()  # tag users 15 and 20 have no ratings


def test_zip_with_top_folder_matches_folder(csv_release, tmp_path, private_cache):
    archive = zip_folder(csv_release, tmp_path / "ml-tiny.zip", top="ml-tiny")
    flat = zip_folder(csv_release, tmp_path / "flat.zip")
    a, b = load_dataset(archive), load_dataset(flat)
    ref = load_dataset(csv_release, use_cache=False)
    assert a.fingerprint == b.fingerprint == ref.fingerprint
    assert a.source == str(archive) and a.name == "ml-tiny"
    assert load_dataset(archive).from_cache


def test_find_root_descends_into_single_subfolder(csv_release):
    assert find_root(csv_release.parent) == csv_release


def test_fingerprint_stable_and_content_based(csv_release, tmp_path):
    a = load_dataset(csv_release, use_cache=False)
    b = load_dataset(csv_release, use_cache=False)
    assert a.fingerprint == b.fingerprint
    other = write_csv_release(tmp_path / "other")
    (other / "ratings.csv").write_text((other / "ratings.csv").read_text().replace("4.0,964982703", "3.0,964982703"))
    assert load_dataset(other, use_cache=False).fingerprint != a.fingerprint


def test_with_ratings_keeps_rows_and_changes_fingerprint(bundled):
    mask = bundled.ratings.timestamp < np.median(bundled.ratings.timestamp)
    sub = bundled.with_ratings(mask)
    assert sub.n_ratings == int(mask.sum()) and sub.n_movies == bundled.n_movies and sub.n_users == bundled.n_users
    assert sub.fingerprint != bundled.fingerprint
    assert sub.fingerprint == bundled.with_ratings(np.flatnonzero(mask)).fingerprint
    assert np.array_equal(sub.ratings.movie, bundled.ratings.movie[mask])


def test_lookup_helpers(bundled):
    assert bundled.movie_rows([1, 1682, 999999]).tolist() == [0, 1681, -1]
    assert bundled.user_rows([943]).tolist() == [942]
    s = bundled.summary()
    assert s["ratings"] == 100000 and s["year_range"] == [1922, 1998] and 0.93 < s["sparsity"] < 0.94
