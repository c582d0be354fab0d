"""Downloads against a real HTTP server on 127.0.0.1 serving small GroupLens-layout zips (with Range)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recsys_core.data import download, is_present, load_dataset
from recsys_core.errors import DatasetError, DownloadError

from .conftest import serve_release, zip_folder


@pytest.fixture
def data_dir(tmp_path, monkeypatch, private_cache) -> Path:
    d = tmp_path / "datadir"
    monkeypatch.setenv("RECSYS_DATA_DIR", str(d))
    return d


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if not p.name.endswith(".lock")) if d.exists() else []


@pytest.mark.parametrize("style", ["bsd", "gnu"])
def test_download_verifies_extracts_and_loads(server, data_dir, tmp_path, style):
    serve_release(server, tmp_path, "ml-latest-small", style=style)
    seen = []
    path = download("ml-latest-small", base_url=server.url, progress=lambda d, t: seen.append((d, t)))
    assert path == data_dir / "ml-latest-small" and (path / "ratings.csv").is_file()
    assert seen[-1][0] == seen[-1][1] == len(server.files["/ml-latest-small.zip"])
    assert _leftovers(data_dir) == ["ml-latest-small"], "no .part, no temp folders left"
    assert is_present("ml-latest-small")
    ds = load_dataset("ml-latest-small")
    assert (ds.name, ds.n_ratings, ds.n_movies) == ("ml-latest-small", 7, 7)
    n = len(server.log)
    assert download("ml-latest-small", base_url=server.url) == path and len(server.log) == n, "present: no refetch"


def test_interrupted_download_resumes_with_range(server, data_dir, tmp_path):
    body = serve_release(server, tmp_path, "ml-latest-small")
    server.cuts["/ml-latest-small.zip"] = 1
    download("ml-latest-small", base_url=server.url)
    zips = [rng for p, rng in server.log if p == "/ml-latest-small.zip"]
    assert zips == [None, f"bytes={len(body) // 2}-"]
    assert (data_dir / "ml-latest-small" / "movies.csv").is_file()


def test_interrupted_download_resumes_on_the_next_run(server, data_dir, tmp_path):
    body = serve_release(server, tmp_path, "ml-latest-small")
    server.cuts["/ml-latest-small.zip"] = 1
    with pytest.raises(DownloadError, match=r"download interrupted after \d+ bytes.*run the same command again"):
        download("ml-latest-small", base_url=server.url, retries=0)
    assert _leftovers(data_dir) == ["ml-latest-small.zip.part"], "only the partial file, no dataset folder"
    assert not is_present("ml-latest-small")
    with pytest.raises(DatasetError, match="not downloaded yet"):
        load_dataset("ml-latest-small")
    download("ml-latest-small", base_url=server.url, retries=0)
    assert server.log[-1] == ("/ml-latest-small.zip", f"bytes={len(body) // 2}-")
    assert load_dataset("ml-latest-small").n_ratings == 7


def test_server_without_range_support_restarts(server, data_dir, tmp_path):
    serve_release(server, tmp_path, "ml-latest-small")
    server.ranges = False
    server.cuts["/ml-latest-small.zip"] = 1
    download("ml-latest-small", base_url=server.url)
    assert is_present("ml-latest-small")


def test_corrupt_download_is_never_extracted(server, data_dir, tmp_path):
    serve_release(server, tmp_path, "ml-latest-small", md5=hashlib.md5(b"something else").hexdigest())
    with pytest.raises(DownloadError, match="checksum mismatch.*nothing was extracted"):
        download("ml-latest-small", base_url=server.url)
    assert _leftovers(data_dir) == []
    assert not is_present("ml-latest-small")


def test_stored_checksum_is_used(server, data_dir, tmp_path):
    # ml-1m has its published MD5 in the registry; our tiny stand-in cannot match it.
    serve_release(server, tmp_path, "ml-1m")
    with pytest.raises(DownloadError, match="c4d9eecfca2ab87c1945afe126590906"):
        download("ml-1m", base_url=server.url)
    assert ("/ml-1m.zip.md5", None) not in server.log
    assert _leftovers(data_dir) == []


def test_archive_without_a_dataset_is_not_extracted(server, data_dir, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "readme.txt").write_text("not a dataset")
    archive = zip_folder(junk, tmp_path / "junk.zip", top="ml-latest-small")
    serve_release(server, tmp_path, "ml-latest-small", archive.read_bytes())
    with pytest.raises(DownloadError, match="does not hold a MovieLens release"):
        download("ml-latest-small", base_url=server.url)
    assert _leftovers(data_dir) == []


def test_missing_file_on_server(server, data_dir):
    with pytest.raises(DownloadError, match="404"):
        download("ml-latest-small", base_url=server.url)


def test_load_dataset_can_download(server, data_dir, tmp_path, monkeypatch):
    serve_release(server, tmp_path, "ml-latest-small")
    monkeypatch.setenv("RECSYS_MIRROR_URL", server.url)
    assert load_dataset("ml-latest-small", download=True).n_users == 3
