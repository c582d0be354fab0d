"""Hostile archives and passing errors (issue 14): bounded extraction, capped downloads, caches that keep
healthy entries, stale temp folders cleaned, short printable messages. Real files, real zips, a real HTTP
server on 127.0.0.1; faults are injected into the real reading functions, nothing is mocked."""

from __future__ import annotations

import errno
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from recsys_core import store as store_mod
from recsys_core.data import cache, cleanup_stale, download, is_present, load_dataset
from recsys_core.errors import DatasetError, DownloadError, TransientReadError
from recsys_core.files import forget_sweeps
from recsys_core.store import ArtifactStore
from tests.data.conftest import (  # noqa: F401
    csv_release,
    private_cache,
    serve_release,
    server,
    write_csv_release,
)
from tests.reliability.zips import MIB, deflated, release_members, write_zip, zeros

download_mod = importlib.import_module("recsys_core.data.fetch")  # the module; `download` is its function


def _io_written() -> int:
    """Bytes this process has handed to write() so far (Linux /proc/self/io 'wchar')."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()} if root.exists() else {}


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """The system temp dir, redirected so this test sees every scratch folder the loader makes."""
    d = tmp_path / "systmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@pytest.fixture
def data_dir(tmp_path, monkeypatch, private_cache):  # noqa: F811
    d = tmp_path / "datadir"
    monkeypatch.setenv("RECSYS_DATA_DIR", str(d))
    return d


@pytest.fixture(scope="module")
def bomb_zip(tmp_path_factory) -> Path:
    """A valid tiny release whose ratings.csv is 3 GiB (3,000 MiB) of zeros, 3.1 MB compressed."""
    rel = write_csv_release(tmp_path_factory.mktemp("bomb") / "src")
    members = release_members(rel, "ml-bomb", skip=("ratings.csv",)) + [zeros("ml-bomb/ratings.csv", 3000)]
    return write_zip(tmp_path_factory.mktemp("bombzip") / "ml-bomb.zip", members)


# ---------------------------------------------------------------- bounded extraction


def test_a_3gb_member_of_zeros_is_refused_at_once_and_nothing_is_written(bomb_zip, scratch, private_cache):  # noqa: F811
    assert bomb_zip.stat().st_size < 4 * MIB
    written = _io_written()
    started = time.perf_counter()
    with pytest.raises(DatasetError) as err:
        load_dataset(bomb_zip)
    elapsed = time.perf_counter() - started
    wrote = _io_written() - written
    msg = str(err.value)
    assert elapsed < 1.0, f"refused in {elapsed:.2f} s"
    assert wrote < MIB, f"{wrote} bytes written"
    assert msg.startswith("ml-bomb.zip: ") and "3.15 GB" in msg and "nothing was extracted" in msg, msg
    assert "\n" not in msg and str(bomb_zip.parent) not in msg and str(scratch) not in msg
    assert err.value.detail == str(bomb_zip), "the path is kept for an operator, out of the message"
    assert _files(scratch) == {} and list(scratch.iterdir()) == [], "the scratch folder and its lock are gone"
    assert not private_cache.exists() or not any(private_cache.iterdir())


def test_a_3gb_member_of_zeros_is_refused_when_downloaded(bomb_zip, server, data_dir, tmp_path):  # noqa: F811
    serve_release(server, tmp_path, "ml-latest-small", bomb_zip.read_bytes())
    started = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        download("ml-latest-small", base_url=server.url)
    elapsed = time.perf_counter() - started
    msg = str(err.value)
    assert elapsed < 3.0, f"{elapsed:.2f} s (download of 3 MB + refusal)"
    assert msg.startswith("ml-latest-small: ") and "unpack" in msg and str(data_dir) not in msg, msg
    assert [p.name for p in data_dir.iterdir() if not p.name.endswith(".lock")] == [], "no folder, no .part"
    assert not is_present("ml-latest-small")


def test_a_high_compression_ratio_is_refused_below_the_size_cap(tmp_path, scratch, private_cache):  # noqa: F811
    rel = write_csv_release(tmp_path / "src")
    archive = write_zip(tmp_path / "ml-ratio.zip", release_members(rel, "ml-ratio", skip=("tags.csv",))
                        + [zeros("ml-ratio/tags.csv", 64)])  # 64 MiB in ~66 kB: ratio ~1000
    started = time.perf_counter()
    with pytest.raises(DatasetError, match=r"ml-ratio.zip: 'ml-ratio/tags.csv' would unpack to 67.1 MB, "
                                           r"1,0\d\dx its compressed size \(limit 100x\)"):
        load_dataset(archive)
    assert time.perf_counter() - started < 1.0
    assert list(scratch.iterdir()) == []


def test_a_member_over_the_size_cap_is_refused(tmp_path, scratch, monkeypatch, private_cache):  # noqa: F811
    monkeypatch.setattr(download_mod, "MAX_EXTRACT_BYTES", 2 * MIB)
    rel = write_csv_release(tmp_path / "src")
    noise = os.urandom(3 * MIB)  # incompressible: ratio ~1, only the size cap can stop it
    archive = write_zip(tmp_path / "ml-big.zip", release_members(rel, "ml-big", skip=("links.csv",))
                        + [deflated("ml-big/links.csv", noise)])
    with pytest.raises(DatasetError, match=r"ml-big.zip: its MovieLens files would unpack to more than 2.1 MB"):
        load_dataset(archive)
    assert list(scratch.iterdir()) == []


def test_declared_sizes_that_lie_are_caught_while_streaming(tmp_path, scratch, private_cache):  # noqa: F811
    """The directory says 1 kB, the stream holds 200 MiB of zeros: at most the declared 1 kB is written."""
    rel = write_csv_release(tmp_path / "src")
    archive = write_zip(tmp_path / "ml-liar.zip", release_members(rel, "ml-liar", skip=("tags.csv",))
                        + [zeros("ml-liar/tags.csv", 200, declared_size=1000)])
    written = _io_written()
    started = time.perf_counter()
    with pytest.raises(DatasetError, match=r"^ml-liar.zip: "):
        load_dataset(archive)
    assert time.perf_counter() - started < 1.0
    assert _io_written() - written < MIB
    assert list(scratch.iterdir()) == []


def test_only_the_files_a_layout_reads_are_extracted(server, data_dir, tmp_path):  # noqa: F811
    rel = write_csv_release(tmp_path / "src")
    (rel / "README.txt").write_text("licence terms")
    members = release_members(rel, "ml-latest-small") + [deflated("ml-latest-small/extra.bin", os.urandom(4096)),
                                                         deflated("ml-latest-small/.hidden.csv", b"x"),
                                                         deflated("__MACOSX/ml-latest-small/._ratings.csv", b"x")]
    archive = write_zip(tmp_path / "ml-latest-small.zip", members)
    serve_release(server, tmp_path, "ml-latest-small", archive.read_bytes())
    path = download("ml-latest-small", base_url=server.url)
    assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in rel.iterdir())
    assert load_dataset("ml-latest-small").n_ratings == 7


# ---------------------------------------------------------------- capped downloads


@pytest.mark.parametrize("length", ["announced", "unannounced"])
def test_a_download_stops_at_the_expected_size(server, data_dir, tmp_path, monkeypatch, length):  # noqa: F811
    # ml-latest-small is ~1 MB; with no margin and no slack its cap is 1,000,000 bytes.
    monkeypatch.setattr(download_mod, "DOWNLOAD_MARGIN", 1.0)
    monkeypatch.setattr(download_mod, "DOWNLOAD_SLACK_BYTES", 0)
    serve_release(server, tmp_path, "ml-latest-small", os.urandom(8 * MIB))
    if length == "unannounced":
        server.no_length.add("/ml-latest-small.zip")
    with pytest.raises(DownloadError, match=r"^ml-latest-small: the server (announces 8.4 MB, more than the|sent "
                                            r"more than) 1.0 MB.*RECSYS_MIRROR_URL"):
        download("ml-latest-small", base_url=server.url, retries=0)
    assert [p.name for p in data_dir.iterdir() if not p.name.endswith(".lock")] == [], "the partial file is removed"


def test_a_release_of_the_expected_size_still_downloads_and_the_same_host_checksum_is_noted(
        server, data_dir, tmp_path):  # noqa: F811
    serve_release(server, tmp_path, "ml-latest-small")
    notes: list[str] = []
    download("ml-latest-small", base_url=server.url, on_note=notes.append)
    assert notes == ["Its checksum is published on the same server as the file, so it guards against a damaged "
                     "download, not a tampered one."]
    from recsys_core.data import RELEASES

    assert [r.name for r in RELEASES.values() if r.checksum_note] == ["ml-latest-small", "ml-latest"]
    assert all(bool(r.checksum_note) == (r.md5 is None and not r.bundled) for r in RELEASES.values())
    assert download_mod.max_download_bytes(RELEASES["ml-32m"].approx_mb) > 239e6


# ---------------------------------------------------------------- passing errors delete nothing


def _entry(private_cache: Path) -> tuple[Path, dict[str, int]]:  # noqa: F811
    (entry,) = [p for p in private_cache.iterdir() if p.is_dir()]
    return entry, _files(entry)


@pytest.mark.parametrize("fault", [MemoryError(), OSError(errno.EIO, "Input/output error"),
                                   OSError(errno.EMFILE, "Too many open files"), PermissionError(errno.EACCES, "denied")],
                         ids=["MemoryError", "EIO", "EMFILE", "EACCES"])
def test_a_passing_read_error_keeps_the_parsed_entry(csv_release, private_cache, monkeypatch, fault):  # noqa: F811
    first = load_dataset(csv_release)
    entry, files = _entry(private_cache)
    real = cache._read
    calls = {"n": 0}

    def flaky(folder):
        calls["n"] += 1
        if calls["n"] == 1:
            raise fault
        return real(folder)

    monkeypatch.setattr(cache, "_read", flaky)
    again = load_dataset(csv_release)  # once: retried, served from the cache
    assert again.from_cache and calls["n"] == 2 and again.fingerprint == first.fingerprint
    assert _entry(private_cache) == (entry, files)

    def broken(folder):
        raise fault

    monkeypatch.setattr(cache, "_read", broken)
    corrupt, transient = cache.stats.corrupt, cache.stats.transient
    parsed = load_dataset(csv_release)  # always: parsed from the source, entry kept
    assert not parsed.from_cache and parsed.fingerprint == first.fingerprint
    assert cache.stats.corrupt == corrupt and cache.stats.transient == transient + 1
    assert _entry(private_cache) == (entry, files), "the healthy entry is still there, unchanged"
    monkeypatch.setattr(cache, "_read", real)
    assert load_dataset(csv_release).from_cache, "and it still loads"


def test_proven_damage_still_drops_the_entry(csv_release, private_cache):  # noqa: F811
    load_dataset(csv_release)
    entry, _ = _entry(private_cache)
    (entry / "movies.parquet").write_bytes(b"\x00" * 100)  # wrong magic: damage
    corrupt = cache.stats.corrupt
    assert not load_dataset(csv_release).from_cache and cache.stats.corrupt == corrupt + 1


def _stored(root: Path) -> tuple[ArtifactStore, Path]:
    st = ArtifactStore(root)

    def build(w):
        w.array("vectors", __import__("numpy").arange(12.0).reshape(3, 4))
        return {}

    art, built = st.get_or_build("fp1", "key1", build)
    assert built
    return st, art.path


def test_a_passing_error_reading_a_manifest_is_not_damage(tmp_path, monkeypatch):
    st, path = _stored(tmp_path / "artifacts")
    before = _files(path)
    real = Path.read_bytes
    fails = {"n": 0}

    def read_bytes(self):
        if self.name == "manifest.json" and fails["n"] > 0:
            fails["n"] -= 1
            raise OSError(errno.EIO, "Input/output error", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    fails["n"] = 1
    art, notice = st.verify(path)  # once: retried and fine
    assert art is not None and notice == ""
    fails["n"] = 10
    built = []
    with pytest.raises(TransientReadError, match=r"could not be read just now \(Input/output error\); it was kept"):
        st.get_or_build("fp1", "key1", lambda w: built.append(1) or {})
    assert built == [] and _files(path) == before, "nothing rebuilt, nothing deleted"
    fails["n"] = 0
    assert st.open("fp1", "key1").manifest["files"]
    (path / "manifest.json").write_text("{not json")
    art, notice = st.verify(path)  # an unparseable manifest is damage
    assert art is None and "unreadable" in notice and str(path) not in notice


# ---------------------------------------------------------------- stale temp folders


_HOLD = """
import fcntl, os, sys, time
fds = []
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    fds.append(fd)
print("held", flush=True)
time.sleep(60)
"""


def test_stale_temp_folders_are_removed_at_start_and_held_ones_kept(tmp_path, monkeypatch, scratch, data_dir):
    arts = tmp_path / "artifacts"
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(arts))
    parsed = arts / "parsed"
    dead = {  # what killed runs leave behind
        parsed / ".tmp-deadbeef0001": "parsed-cache write",
        scratch / "recsys-zip-deadbeef0002": "zip scratch",
        data_dir / ".ml-25m-extract-x1y2z3": "download extraction",
        data_dir / ".ml-25m-old-4242": "download swap",
        arts / "fp9" / ".tmp-cfg-a-4242-deadbeef": "store build",
        arts / "fp9" / ".trash-cfg-a-deadbeef": "store swap",
    }
    live = {  # the same kinds, each held by a live process's lock
        parsed / ".tmp-live00000001": parsed / ".tmp-live00000001.lock",
        scratch / "recsys-zip-live00000002": scratch / "recsys-zip-live00000002.lock",
        data_dir / ".ml-1m-extract-live": data_dir / ".ml-1m.lock",
        arts / "fp9" / ".tmp-cfg-b-999-0000beef": arts / "fp9" / "cfg-b.lock",
    }
    for folder in [*dead, *live]:
        folder.mkdir(parents=True)
        (folder / "half.bin").write_bytes(b"\x00" * 1000)
    (arts / "fp9" / "cfg-a").mkdir()
    (arts / "fp9" / "cfg-a" / ".vectors.npy.deadbeef.tmp").write_bytes(b"half")
    (parsed / ".tmp-orphan000003.lock").write_text("")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, *map(str, live.values())], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        forget_sweeps()  # as in a fresh process
        load_dataset("ml-100k", use_cache=False)  # the data loader's start sweeps data dir, cache and scratch
        ArtifactStore(arts).get_or_build("fp9", "cfg-c", lambda w: w.json("x", {}) or {})  # its first build sweeps
        left = [f for f in dead if f.exists()]
        assert left == [], f"stale: {[dead[f] for f in left]}"
        assert not (arts / "fp9" / "cfg-a" / ".vectors.npy.deadbeef.tmp").exists()
        assert not (parsed / ".tmp-orphan000003.lock").exists()
        assert all((f / "half.bin").is_file() for f in live), "folders a live process holds stay"
    finally:
        holder.kill()
        holder.wait()
    assert cleanup_stale(force=True) == 3 and store_mod.cleanup_stale(arts, force=True) == 1, "free now: removed"
    assert not any(f.exists() for f in live)


def test_a_live_cache_write_is_not_swept(csv_release, private_cache, monkeypatch):  # noqa: F811
    """cleanup_stale running while this process writes an entry leaves the entry being written alone."""
    real = cache._write
    swept = []

    def write_then_sweep(ds, folder):
        real(ds, folder)
        swept.append(cache.cleanup_stale(force=True))

    monkeypatch.setattr(cache, "_write", write_then_sweep)
    load_dataset(csv_release)
    assert swept == [0]
    assert load_dataset(csv_release).from_cache


# ---------------------------------------------------------------- messages


def test_a_header_of_nul_bytes_gives_a_short_printable_message(tmp_path, private_cache):  # noqa: F811
    rel = write_csv_release(tmp_path / "ml-nul")
    (rel / "ratings.csv").write_bytes(b"\x00" * 65536 + b"\n1,1,5.0,1\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(rel)
    msg = str(err.value)
    assert msg.startswith("ml-nul/ratings.csv: missing column(s) userId, movieId, rating"), msg
    assert len(msg) < 300 and msg.isprintable() and "\\x00" in msg and "65,536 characters" in msg, msg
    assert str(tmp_path) not in msg and err.value.detail == str(rel / "ratings.csv")


def test_a_zip_of_nul_bytes_names_the_dataset_not_the_scratch_folder(tmp_path, scratch, private_cache):  # noqa: F811
    rel = write_csv_release(tmp_path / "src")
    archive = write_zip(tmp_path / "ml-z.zip", release_members(rel, "ml-z", skip=("movies.csv",))
                        + [deflated("ml-z/movies.csv", b"\x00" * 65536 + b"\n")])
    with pytest.raises(DatasetError) as err:
        load_dataset(archive)
    msg = str(err.value)
    assert msg.startswith("ml-z/movies.csv: ") and len(msg) < 300 and msg.isprintable(), msg
    assert "recsys-zip-" not in msg and str(tmp_path) not in msg
    assert list(scratch.iterdir()) == []


def test_an_unknown_layout_and_a_missing_file_name_the_dataset(tmp_path, private_cache):  # noqa: F811
    rel = write_csv_release(tmp_path / "ml-part")
    (rel / "movies.csv").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset(rel)
    assert str(err.value).startswith("ml-part/movies.csv: missing") and str(tmp_path) not in str(err.value)
    empty = tmp_path / "ml-empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"^ml-empty: unknown dataset layout") as err:
        load_dataset(empty)
    assert str(tmp_path) not in str(err.value)
    json.dumps({"detail": err.value.detail})
