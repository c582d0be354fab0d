"""Fetch a GroupLens release: resumable, size-capped HTTP download, MD5 check, bounded atomic extraction.

The archive is downloaded to `<data dir>/<archive>.part` (resumed with an HTTP Range request when
a previous attempt was cut off; stopped once it passes the release's expected size), verified against
the MD5, and only the files a MovieLens layout reads are extracted (capped in total size and in
compression ratio, counted while streaming) into a temp folder inside the data dir, then renamed into
place. A partial, corrupt or oversized archive never becomes a folder that looks like a dataset.
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

from ..errors import DatasetError, DownloadError, quote_data
from .formats import LAYOUTS, detect, find_root, naming
from .registry import BUNDLED_DIR, data_dir, get_release, release_dir

ByteProgress = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None): a download, not a stage
CHUNK = 1 << 20


def _env_number(name: str, default: float) -> float:
    """A positive number from the environment (RECSYS_...), else the default."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


# Caps on what a release zip may unpack to. The biggest real releases: ml-32m ~ 0.95 GB in all (ratings.csv
# ~ 880 MB), ml-25m ~ 1.2 GB (ratings ~ 680 MB + genome-scores ~ 430 MB), ml-latest ~ 1.5 GB; real CSVs
# compress 3-10x. Override with RECSYS_MAX_EXTRACT_MB / RECSYS_MAX_COMPRESSION_RATIO.
MAX_EXTRACT_BYTES = int(_env_number("RECSYS_MAX_EXTRACT_MB", 4096) * (1 << 20))
MAX_COMPRESSION_RATIO = _env_number("RECSYS_MAX_COMPRESSION_RATIO", 100.0)
RATIO_GRACE_BYTES = 1 << 20  # members smaller than this are never refused for their ratio alone
# A download may exceed the registry's approximate size by this factor (releases are re-issued).
DOWNLOAD_MARGIN = _env_number("RECSYS_DOWNLOAD_MARGIN", 3.0)
DOWNLOAD_SLACK_BYTES = 16 << 20
LAYOUT_FILES = frozenset(f for lay in LAYOUTS for f in lay.files)
# The release's README carries its licence terms; it is kept too, but may not be big.
README_FILES = frozenset({"README.txt", "README.html", "README"})
README_MAX_BYTES = 1 << 20


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def wanted_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members a MovieLens layout reads (by file name), skipping folders, hidden and macOS files."""
    out = []
    for info in zf.infolist():
        p = Path(info.filename)
        if info.is_dir() or (p.name not in LAYOUT_FILES and p.name not in README_FILES):
            continue
        if any(part.startswith(".") or part == "__MACOSX" for part in p.parts):
            continue
        out.append(info)
    return out


def extract_members(archive: Path, dest: Path, label: str, error: type[DatasetError] = DownloadError,
                    max_bytes: int | None = None, max_ratio: float | None = None) -> list[Path]:
    """Extract only the layout's files into dest, refusing oversized or bomb-like members quickly.

    The zip's declared sizes are checked first; then bytes are counted while streaming, since declared
    sizes can lie. Over a cap it raises ``error`` (one line naming ``label``, the path in ``.detail``);
    the caller removes dest, so nothing is left behind.
    """
    cap = MAX_EXTRACT_BYTES if max_bytes is None else max_bytes
    ratio = MAX_COMPRESSION_RATIO if max_ratio is None else max_ratio
    detail = str(archive)

    def refuse(why: str) -> DatasetError:
        return error(f"{label}: {why}; this is not a MovieLens release as published, so nothing was extracted. "
                     "Check where the archive came from (caps: RECSYS_MAX_EXTRACT_MB, "
                     "RECSYS_MAX_COMPRESSION_RATIO)", detail=detail)

    written: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                p = Path(member)
                if p.is_absolute() or ".." in p.parts:
                    raise error(f"{label}: unsafe path {quote_data(member)} inside the zip; not extracting it",
                                detail=detail)
            members = wanted_members(zf)
            declared, seen = 0, set()
            for info in members:  # declared sizes first: refuse before writing a byte
                if info.filename in seen:
                    raise refuse(f"it holds {quote_data(info.filename)} twice")
                seen.add(info.filename)
                if Path(info.filename).name in README_FILES and info.file_size > README_MAX_BYTES:
                    raise refuse(f"its {quote_data(info.filename)} would unpack to {_mb(info.file_size)}")
                declared += info.file_size
                if info.file_size > RATIO_GRACE_BYTES and info.file_size > ratio * max(info.compress_size, 1):
                    raise refuse(f"{quote_data(info.filename)} would unpack to {_mb(info.file_size)}, "
                                 f"{info.file_size / max(info.compress_size, 1):,.0f}x its compressed size "
                                 f"(limit {ratio:g}x)")
                if declared > cap:
                    raise refuse(f"its MovieLens files would unpack to more than {_mb(cap)}")
            total = 0
            for info in members:
                target = dest.joinpath(*Path(info.filename).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                limit = min(info.file_size, cap - total)  # what this member may still write
                bomb = max(ratio * max(info.compress_size, 1), RATIO_GRACE_BYTES)
                n = 0
                with zf.open(info) as src, open(target, "xb") as out:
                    written.append(target)
                    while block := src.read(CHUNK):
                        n += len(block)
                        if n > limit or n > bomb:
                            raise refuse(f"{quote_data(info.filename)} unpacks to more than it declares "
                                         f"({_mb(info.file_size)}) or than the caps allow")
                        out.write(block)
                total += n
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise error(f"{label}: not a complete zip archive ({quote_data(str(exc))}); it is probably truncated or "
                    "damaged, download it again", detail=detail) from None
    return written


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
            raise DownloadError(f"another download of {path.name.strip('.').removesuffix('.lock')} is running; "
                                "wait for it to finish, then try again", detail=str(path)) from None
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


def _fetch_once(url: str, part: Path, progress: ByteProgress | None, timeout: float,
                max_bytes: int | None = None, label: str = "") -> bool:
    """One HTTP attempt, resuming from the part file's size; True when the server says it is complete.

    ``max_bytes`` caps the whole file: a larger Content-Length is refused up front, and the transfer is
    stopped (the partial file removed) once it passes the cap, whatever the server announced.
    """
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
                raise DownloadError(f"{url}: the server resumed at the wrong offset; delete {part.name} in the "
                                    "data dir and retry", detail=str(part))
            total = int(m.group(2)) if m.group(2) != "*" else None
            mode = "ab"
        else:  # 200: the server ignored Range; start over
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length else None
        if max_bytes is not None and total is not None and total > max_bytes:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{label}: the server announces {_mb(total)}, more than the {_mb(max_bytes)} "
                                "this release can be; nothing was kept. Check the mirror (RECSYS_MIRROR_URL)",
                                detail=url)
        cap = max_bytes if total is None or max_bytes is None else min(max_bytes, total)
        with part.open(mode) as out:
            done = have
            if progress:
                progress(done, total)
            while block := resp.read(CHUNK):
                if cap is not None and done + len(block) > cap:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise DownloadError(
                        f"{label}: the server sent more than {_mb(cap)}, the most this release can be; the "
                        "partial file was removed. Check the mirror (RECSYS_MIRROR_URL)", detail=url)
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise ConnectionError(f"connection closed at {done} of {total} bytes")
    return True


def fetch(url: str, part: Path, progress: ByteProgress | None = None, retries: int = 3, timeout: float = 60,
          max_bytes: int | None = None, label: str = "") -> None:
    """Download url into part, resuming after dropped connections up to `retries` times, never past max_bytes."""
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, progress, timeout, max_bytes, label or part.name)
            return
        except (ConnectionError, TimeoutError, http.client.HTTPException, urllib.error.URLError) as exc:
            if attempt == retries:
                size = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{url}: download interrupted after {size} bytes ({exc}); run the same command again "
                    f"to resume from {part.name}"
                ) from None


def extract(archive: Path, target: Path, label: str | None = None) -> Path:
    """Unzip the layout's files into a temp folder beside target, check it holds a dataset, rename it into place."""
    label = label or target.name
    parent = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-extract-", dir=parent))
    try:
        extract_members(archive, tmp, label, DownloadError)
        root = find_root(tmp)
        try:
            with naming(root, label):
                detect(root)
        except DatasetError as exc:
            raise DownloadError(f"{label}: the archive does not hold a MovieLens release: {exc}",
                                detail=str(archive)) from None
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


def max_download_bytes(approx_mb: float) -> int:
    """The most a release's archive may weigh: its approximate size times DOWNLOAD_MARGIN, plus some slack."""
    return int(approx_mb * 1e6 * DOWNLOAD_MARGIN) + DOWNLOAD_SLACK_BYTES


def download(name: str, *, base_url: str | None = None, progress: ByteProgress | None = None,
             force: bool = False, retries: int = 3, keep_archive: bool = False,
             on_note: Callable[[str], None] | None = None) -> Path:
    """Make a named release present in the data dir and return its folder (no-op when present).

    ``on_note`` receives what a person should know before trusting the result (the release's
    ``checksum_note`` when its MD5 comes from the same server as the file).
    """
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
        raise DownloadError(f"cannot create the data dir for {name} ({exc.strerror or exc}); set RECSYS_DATA_DIR "
                            "to a writable folder", detail=str(base)) from None
    url = release.url(base_url)
    part = base / f"{release.archive}.part"
    if release.checksum_note and on_note is not None:
        on_note(release.checksum_note)
    with _lock(base / f".{release.name}.lock"):
        expected = release.md5 or fetch_md5(url + ".md5")
        fetch(url, part, progress, retries, max_bytes=max_download_bytes(release.approx_mb), label=name)
        actual = md5_of(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{url}: checksum mismatch (got {actual}, published {expected}); the download was corrupt "
                "and has been deleted, nothing was extracted. Run the command again"
            )
        try:
            extract(part, target, name)
        except DownloadError:
            part.unlink(missing_ok=True)  # verified but unusable: keeping it would only be retried
            raise
        if keep_archive:
            os.replace(part, base / str(release.archive))
        else:
            part.unlink(missing_ok=True)
    return target
