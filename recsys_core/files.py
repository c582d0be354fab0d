"""Files written and read safely: atomic writes, checksums, cross-process locks, locked temp folders, retries.

A leaf: the data cache and the artifact store both build on it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import TransientReadError

# An error of these kinds while reading proves nothing about the file (busy disk, full memory, too many
# open files, no permission right now): the entry is kept and the read retried once, never deleted.
TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EINTR, errno.EMFILE, errno.ENFILE, errno.ENOMEM,
                              errno.EACCES, errno.EPERM, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE})


def is_transient(exc: BaseException) -> bool:
    """Whether a read error says nothing about the data itself (so the entry must not be deleted)."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, OSError) and (isinstance(exc, PermissionError) or exc.errno in TRANSIENT_ERRNOS)


def read_retrying(read: Callable[[], Any], what: str, retry_after: float = 0.05) -> Any:
    """Run ``read``; a transient error is retried once, then raised as TransientReadError (nothing deleted)."""
    try:
        return read()
    except (MemoryError, OSError) as exc:
        if not is_transient(exc):
            raise
    time.sleep(retry_after)
    try:
        return read()
    except (MemoryError, OSError) as exc:
        if not is_transient(exc):
            raise
        why = "out of memory" if isinstance(exc, MemoryError) else (exc.strerror or type(exc).__name__)
        raise TransientReadError(f"{what} could not be read just now ({why}); it was kept as it is. Try again "
                                 "in a moment", detail=str(getattr(exc, "filename", "") or "")) from None


def try_lock(path: Path) -> int | None:
    """An exclusive flock on ``path`` taken without waiting (the fd), or None when another holder has it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def release_lock(fd: int) -> None:
    """Undo try_lock."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextlib.contextmanager
def locked_tempdir(parent: Path, prefix: str) -> Iterator[Path]:
    """A fresh temp folder in ``parent``, held by ``<folder>.lock`` so cleanup leaves it alone while we live.

    The lock is taken before the folder exists, so a folder without a held lock is always a dead run's.
    """
    parent.mkdir(parents=True, exist_ok=True)
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    lock = parent / f"{name}.lock"
    fd = try_lock(lock)
    if fd is None:
        raise OSError(errno.EAGAIN, "cannot lock a new temporary folder", str(lock))
    folder = parent / name
    try:
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            lock.unlink()
        release_lock(fd)


def remove_path(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def remove_unlocked(lock: Path, victims: list[Path], drop_lock: bool) -> int:
    """Remove ``victims`` if nobody holds ``lock`` (a live run's temp folder stays); how many were removed."""
    if not victims and not drop_lock:
        return 0
    fd = try_lock(lock)
    if fd is None:
        return 0
    try:
        for v in victims:
            remove_path(v)
        if drop_lock:
            with contextlib.suppress(OSError):
                lock.unlink()
    finally:
        release_lock(fd)
    return len(victims)


def cleanup_tempdirs(parent: Path, prefix: str) -> int:
    """Remove ``locked_tempdir`` folders (and orphan lock files) in parent whose lock no live process holds."""
    removed = 0
    try:
        entries = list(parent.glob(f"{prefix}*"))
    except OSError:
        return 0
    for p in entries:
        if p.name.endswith(".lock"):
            if not p.with_name(p.name[:-5]).exists():
                remove_unlocked(p, [], drop_lock=True)  # an orphan lock file
            continue
        removed += remove_unlocked(p.with_name(f"{p.name}.lock"), [p], drop_lock=True)
    return removed


_CLEANED: set[str] = set()


_CLEANED_LOCK = threading.Lock()


def forget_sweeps() -> None:
    """Let the next start-up sweep run again, as in a fresh process (tests; a server told to re-sweep)."""
    with _CLEANED_LOCK:
        _CLEANED.clear()


def once_per_process(tag: str, root: Path) -> bool:
    """True the first time (tag, root) is seen in this process: stale-leftover sweeps run once per start."""
    key = f"{tag}:{root}"
    with _CLEANED_LOCK:
        if key in _CLEANED:
            return False
        _CLEANED.add(key)
        return True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Write next to the target, then rename over it: readers see the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fsync_write(tmp, data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> dict:
    """Let ``write`` fill a temp file beside ``path`` (e.g. faiss.write_index), fsync, checksum, rename over it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        info = {"bytes": tmp.stat().st_size, "sha256": sha256_file(tmp)}
        os.replace(tmp, path)
        return info
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
