"""Download cases tests/data/test_download.py does not try: a zip that tries to escape its folder, and a
stale, damaged partial download from an earlier run."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from recsys_core.data import download, is_present
from recsys_core.errors import DownloadError
from tests.data.conftest import private_cache, serve_release, server, write_csv_release  # noqa: F401


@pytest.fixture
def data_dir(tmp_path, monkeypatch, private_cache):  # noqa: F811
    d = tmp_path / "datadir"
    monkeypatch.setenv("RECSYS_DATA_DIR", str(d))
    return d


def test_a_zip_escaping_its_folder_is_never_extracted(server, data_dir, tmp_path):  # noqa: F811
    rel = write_csv_release(tmp_path / "rel")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(rel.iterdir()):
            zf.write(f, f"ml-latest-small/{f.name}")
        zf.writestr("ml-latest-small/../../../evil.txt", "pwned")
    serve_release(server, tmp_path, "ml-latest-small", buf.getvalue())
    with pytest.raises(DownloadError, match="unsafe path .*evil.txt.* not extracting it"):
        download("ml-latest-small", base_url=server.url)
    assert not list(tmp_path.rglob("evil.txt")) and not is_present("ml-latest-small")
    assert not [p for p in data_dir.iterdir() if not p.name.endswith(".lock")] if data_dir.exists() else True


def test_a_damaged_partial_download_is_resumed_detected_and_dropped(server, data_dir, tmp_path):  # noqa: F811
    body = serve_release(server, tmp_path, "ml-latest-small")
    data_dir.mkdir(parents=True)
    part = data_dir / "ml-latest-small.zip.part"
    part.write_bytes(b"\x00" * (len(body) // 2))  # an earlier run's partial file, but garbage
    with pytest.raises(DownloadError, match="checksum mismatch.*nothing was extracted"):
        download("ml-latest-small", base_url=server.url)
    assert ("/ml-latest-small.zip", f"bytes={len(body) // 2}-") in server.log, "it did resume"
    assert not part.exists() and not is_present("ml-latest-small"), "the bad file is gone, no dataset"
    path = download("ml-latest-small", base_url=server.url)  # the next run starts clean and succeeds
    assert hashlib.md5(body).hexdigest() and (Path(path) / "ratings.csv").is_file()
