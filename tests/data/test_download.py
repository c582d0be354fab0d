"""Downloads against a real HTTP server on 127.0.0.1 serving small GroupLens-layout zips (with Range)."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recsys_core.data import download, is_present, load_dataset
from recsys_core.errors import DatasetError, DownloadError

from .conftest import write_csv_release, zip_folder


class _Handler(BaseHTTPRequestHandler):
    """Serves server.files; honours Range; can cut a response in half to simulate a dropped link."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        m = re.match(r"bytes=(\d+)-$", rng or "")
        if m and srv.ranges:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if srv.cuts.get(self.path, 0) > 0:
            srv.cuts[self.path] -= 1
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    """A threaded HTTP server on a free loopback port; .url, .files, .log, .cuts, .ranges."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.cuts, srv.ranges = {}, [], {}, True
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch, private_cache) -> Path:
    d = tmp_path / "datadir"
    monkeypatch.setenv("RECSYS_DATA_DIR", str(d))
    return d


def _release_zip(tmp_path: Path, name: str = "ml-latest-small") -> bytes:
    """A small release zip exactly as GroupLens ships it: files under a top folder."""
    folder = write_csv_release(tmp_path / "src" / name)
    return zip_folder(folder, tmp_path / f"{name}.zip", top=name).read_bytes()


def _serve(server, name: str, body: bytes, md5: str | None = None, style: str = "bsd") -> None:
    server.files[f"/{name}.zip"] = body
    digest = md5 or hashlib.md5(body).hexdigest()
    line = f"MD5 ({name}.zip) = {digest}\n" if style == "bsd" else f"{digest}  {name}.zip\n"
    server.files[f"/{name}.zip.md5"] = line.encode()


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if not p.name.endswith(".lock")) if d.exists() else []


@pytest.mark.parametrize("style", ["bsd", "gnu"])
def test_download_verifies_extracts_and_loads(server, data_dir, tmp_path, style):
    _serve(server, "ml-latest-small", _release_zip(tmp_path), style=style)
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
    body = _release_zip(tmp_path)
    _serve(server, "ml-latest-small", body)
    server.cuts["/ml-latest-small.zip"] = 1
    download("ml-latest-small", base_url=server.url)
    zips = [rng for p, rng in server.log if p == "/ml-latest-small.zip"]
    assert zips == [None, f"bytes={len(body) // 2}-"]
    assert (data_dir / "ml-latest-small" / "movies.csv").is_file()


def test_interrupted_download_resumes_on_the_next_run(server, data_dir, tmp_path):
    body = _release_zip(tmp_path)
    _serve(server, "ml-latest-small", body)
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
    _serve(server, "ml-latest-small", _release_zip(tmp_path))
    server.ranges = False
    server.cuts["/ml-latest-small.zip"] = 1
    download("ml-latest-small", base_url=server.url)
    assert is_present("ml-latest-small")


def test_corrupt_download_is_never_extracted(server, data_dir, tmp_path):
    body = _release_zip(tmp_path)
    _serve(server, "ml-latest-small", body, md5=hashlib.md5(b"something else").hexdigest())
    with pytest.raises(DownloadError, match="checksum mismatch.*nothing was extracted"):
        download("ml-latest-small", base_url=server.url)
    assert _leftovers(data_dir) == []
    assert not is_present("ml-latest-small")


def test_stored_checksum_is_used(server, data_dir, tmp_path):
    # ml-1m has its published MD5 in the registry; our tiny stand-in cannot match it.
    _serve(server, "ml-1m", _release_zip(tmp_path, "ml-1m"))
    with pytest.raises(DownloadError, match="c4d9eecfca2ab87c1945afe126590906"):
        download("ml-1m", base_url=server.url)
    assert ("/ml-1m.zip.md5", None) not in server.log
    assert _leftovers(data_dir) == []


def test_archive_without_a_dataset_is_not_extracted(server, data_dir, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "readme.txt").write_text("not a dataset")
    _serve(server, "ml-latest-small", zip_folder(junk, tmp_path / "junk.zip", top="ml-latest-small").read_bytes())
    with pytest.raises(DownloadError, match="does not hold a MovieLens release"):
        download("ml-latest-small", base_url=server.url)
    assert _leftovers(data_dir) == []


def test_missing_file_on_server(server, data_dir):
    with pytest.raises(DownloadError, match="404"):
        download("ml-latest-small", base_url=server.url)


def test_load_dataset_can_download(server, data_dir, tmp_path, monkeypatch):
    _serve(server, "ml-latest-small", _release_zip(tmp_path))
    monkeypatch.setenv("RECSYS_MIRROR_URL", server.url)
    assert load_dataset("ml-latest-small", download=True).n_users == 3
