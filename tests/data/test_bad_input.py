"""Every kind of bad input gives a DatasetError naming the file, the problem and the fix; nothing is cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys_core.data import load_dataset
from recsys_core.errors import DatasetError

from .conftest import write_csv_release, write_dat_1m, zip_folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _break_csv(kind: str, folder: Path) -> None:
    """Damage a valid CSV release in one specific way."""
    ratings, movies = folder / "ratings.csv", folder / "movies.csv"
    if kind == "missing movies file":
        movies.unlink()
    elif kind == "renamed column":
        _edit(ratings, "userId,movieId", "user,movieId")
    elif kind == "wrong separator":
        ratings.write_text(ratings.read_text().replace(",", ";"))
    elif kind == "undecodable":
        movies.write_bytes(movies.read_bytes().replace(b"Toy Story", "Toy Störy".encode("latin-1")))
    elif kind == "empty file":
        ratings.write_bytes(b"")
    elif kind == "header only":
        ratings.write_text("userId,movieId,rating,timestamp\n")
    elif kind == "out of scale":
        _edit(ratings, "1,50,5.0,", "1,50,7.0,")
    elif kind == "unknown movie":
        _edit(ratings, "2,32,4.5,", "2,999,4.5,")
    elif kind == "non-numeric id":
        _edit(ratings, "3,50,3.0,", "u3,50,3.0,")
    elif kind == "missing rating":
        _edit(ratings, "3,50,3.0,", "3,50,,")
    elif kind == "ragged line":
        _edit(ratings, "3,50,3.0,1306463456", "3,50,3.0")
    else:
        raise AssertionError(kind)


CASES = {
    # kind: (file named in the message, words that must appear)
    "missing movies file": ("movies.csv", ["missing", "folder holds", "ratings.csv"]),
    "renamed column": ("ratings.csv", ["missing column", "userId", "found: user"]),
    "wrong separator": ("ratings.csv", ["semicolons", "commas"]),
    "undecodable": ("movies.csv", ["UTF-8"]),
    "empty file": ("ratings.csv", ["empty"]),
    "header only": ("ratings.csv", ["no ratings"]),
    "out of scale": ("ratings.csv", ["outside the 0.5-5 scale", "rating = 7"]),
    "unknown movie": ("ratings.csv", ["not in", "movies.csv", "999", "same release"]),
    "non-numeric id": ("ratings.csv", ["userId", "non-numeric", "'u3'"]),
    "missing rating": ("ratings.csv", ["outside", "missing"]),
    "ragged line": ("ratings.csv", ["fields", "separator"]),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_csv_release(kind, tmp_path, private_cache):
    folder = write_csv_release(tmp_path / "ml-bad")
    _break_csv(kind, folder)
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    message = str(err.value)
    fname, words = CASES[kind]
    assert fname in message, message
    for w in words:
        assert w in message, f"{w!r} not in {message!r}"
    assert "\n" not in message
    assert not private_cache.exists() or not any(private_cache.iterdir()), "nothing cached on failure"


def test_missing_folder():
    with pytest.raises(DatasetError, match=r"no-such-dir: no such folder or file; give a dataset name \(ml-100k"):
        load_dataset("no-such-dir")


def test_registry_name_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="ml-1m is not downloaded yet.*recsys_core download ml-1m"):
        load_dataset("ml-1m")


def test_unknown_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "other.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"unknown dataset layout; found notes.txt, other.txt.*ratings.csv"):
        load_dataset(tmp_path)


def test_movies_without_ratings_file(tmp_path):
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="no ratings file"):
        load_dataset(tmp_path)


def test_duplicate_ratings_keep_latest_with_note(tmp_path):
    folder = write_csv_release(tmp_path / "dup")
    with (folder / "ratings.csv").open("a") as fh:
        fh.write("1,50,1.0,964982000\n")  # older than the existing 5.0 -> dropped
        fh.write("2,32,2.5,1445799999\n")  # newer than the existing 4.5 -> kept
    ds = load_dataset(folder, use_cache=False)
    assert ds.n_ratings == 7
    got = {(int(u), int(m)): float(r) for u, m, r in zip(
        ds.users["user_id"].to_numpy()[ds.ratings.user], ds.movies["movie_id"].to_numpy()[ds.ratings.movie],
        ds.ratings.rating)}
    assert got[(1, 50)] == 5.0 and got[(2, 32)] == 2.5
    assert any("2 repeated (user, movie) ratings" in n and "latest by timestamp" in n for n in ds.notes)


def test_truncated_zip(csv_release, tmp_path, private_cache):
    archive = zip_folder(csv_release, tmp_path / "ml-tiny.zip", top="ml-tiny")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"ml-tiny.zip: not a complete zip archive.*download it again"):
        load_dataset(archive)
    assert not private_cache.exists() or not any(private_cache.iterdir())


def test_zip_with_corrupt_member(csv_release, tmp_path):
    archive = zip_folder(csv_release, tmp_path / "ml-tiny.zip")
    data = bytearray(archive.read_bytes())
    start = data.find(b"PK\x03\x04") + 60
    data[start:start + 8] = b"\x00" * 8  # damage the compressed body of the first member
    archive.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="ml-tiny.zip"):
        load_dataset(archive, use_cache=False)


def test_dat_wrong_separator(tmp_path):
    folder = write_dat_1m(tmp_path / "ml-1m")
    (folder / "ratings.dat").write_text("1,1193,5,978300760\n")
    with pytest.raises(DatasetError, match=r"ratings.dat: fields must be separated by '::'.*commas"):
        load_dataset(folder, use_cache=False)


def test_dat_out_of_scale(tmp_path):
    folder = write_dat_1m(tmp_path / "ml-1m")
    (folder / "ratings.dat").write_text("1::1193::9::978300760\n")
    with pytest.raises(DatasetError, match=r"ratings.dat: 1 ratings outside the 1-5 scale"):
        load_dataset(folder, use_cache=False)


def test_a_data_file_path_means_its_folder(csv_release):
    assert load_dataset(csv_release / "ratings.csv", use_cache=False).n_ratings == 7


def test_with_ratings_wrong_mask(bundled):
    with pytest.raises(DatasetError, match="mask has 3 entries"):
        bundled.with_ratings(np.ones(3, bool))
