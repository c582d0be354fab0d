"""Fetch a GroupLens release: resumable HTTP download, MD5 check, atomic extraction.

The archive is downloaded to `<data dir>/<archive>.part` (resumed with an HTTP Range request when
a previous attempt was cut off), verified against the published MD5, extracted into a temp folder
inside the data dir and renamed into place. A partial or corrupt archive never becomes a folder
that looks like a dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DatasetError, DownloadError
from .formats import detect, find_root
from .registry import BUNDLED_DIR, data_dir, get_release, release_dir

Progress = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None)
CHUNK = 1 << 20


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One download of a release at a time; a second one is told, not blocked or corrupted."""
    fh = path.open("a+b")
    try:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no locking, still atomic on the final rename
            pass
        except OSError:
            raise DownloadError(f"another download into {path.parent} is running ({path.name}); "
                                "wait for it to finish, then try again") from None
        yield
    finally:
        fh.close()


def fetch_md5(url: str, timeout: float = 30) -> str:
    """The checksum GroupLens publishes next to an archive (both 'MD5 (x) = h' and 'h  x' forms)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read(4096).decode("ascii", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"cannot fetch the published checksum {url} ({exc}); check the network "
                            "or the mirror (RECSYS_MIRROR_URL)") from None
    match = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    if not match:
        raise DownloadError(f"{url} does not hold an MD5 checksum; the mirror may be wrong")
    return match.group(1).lower()


def md5_of(path: Path) -> str:
    """MD5 of a file, read in chunks."""
    h = hashlib.md5()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _fetch_once(url: str, part: Path, progress: Progress | None, timeout: float) -> bool:
    """One HTTP attempt, resuming from the part file's size; True when the server says it is complete."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is already whole
            return True
        raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}; check the name or mirror") from None
    with resp:
        if resp.status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                raise DownloadError(f"{url}: the server resumed at the wrong offset; delete {part} and retry")
            total = int(m.group(2)) if m.group(2) != "*" else None
            mode = "ab"
        else:  # 200: the server ignored Range; start over
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length else None
        with part.open(mode) as out:
            done = have
            if progress:
                progress(done, total)
            while block := resp.read(CHUNK):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise ConnectionError(f"connection closed at {done} of {total} bytes")
    return True


def fetch(url: str, part: Path, progress: Progress | None = None, retries: int = 3, timeout: float = 60) -> None:
    """Download url into part, resuming after dropped connections up to `retries` times."""
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, progress, timeout)
            return
        except (ConnectionError, TimeoutError, http.client.HTTPException, urllib.error.URLError) as exc:
            if attempt == retries:
                size = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{url}: download interrupted after {size} bytes ({exc}); run the same command again "
                    f"to resume from {part.name}"
                ) from None


def extract(archive: Path, target: Path) -> Path:
    """Unzip into a temp folder beside target, check it holds a dataset, then rename it into place."""
    parent = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-extract-", dir=parent))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    p = Path(member)
                    if p.is_absolute() or ".." in p.parts:
                        raise DownloadError(f"{archive}: unsafe path {member!r} inside the zip; not extracting it")
                zf.extractall(tmp)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise DownloadError(f"{archive}: damaged zip ({exc}); delete it and download again") from None
        root = find_root(tmp)
        try:
            detect(root)
        except DatasetError as exc:
            raise DownloadError(f"{archive} does not hold a MovieLens release: {exc}") from None
        old = None
        if target.exists():
            old = parent / f".{target.name}-old-{os.getpid()}"
            os.replace(target, old)
        os.replace(root, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download(name: str, *, base_url: str | None = None, progress: Progress | None = None,
             force: bool = False, retries: int = 3, keep_archive: bool = False) -> Path:
    """Make a named release present in the data dir and return its folder (no-op when present)."""
    release = get_release(name)
    if release.bundled:
        return BUNDLED_DIR
    target = release_dir(name)
    if target.is_dir() and any(target.iterdir()) and not force:
        return target
    base = data_dir()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the data dir {base} ({exc}); set RECSYS_DATA_DIR to a writable folder") from None
    url = release.url(base_url)
    part = base / f"{release.archive}.part"
    with _lock(base / f".{release.name}.lock"):
        expected = release.md5 or fetch_md5(url + ".md5")
        fetch(url, part, progress, retries)
        actual = md5_of(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{url}: checksum mismatch (got {actual}, published {expected}); the download was corrupt "
                "and has been deleted, nothing was extracted. Run the command again"
            )
        try:
            extract(part, target)
        except DownloadError:
            part.unlink(missing_ok=True)  # verified but unusable: keeping it would only be retried
            raise
        if keep_archive:
            os.replace(part, base / str(release.archive))
        else:
            part.unlink(missing_ok=True)
    return target
