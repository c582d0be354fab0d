"""Artifact cache: <root>/<dataset fingerprint>/<config hash>/, checksummed, locked, written atomically."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .config import ARTIFACT_FORMAT
from .errors import CacheError, quote_data
from .files import (
    atomic_write,
    atomic_write_with,
    fsync_write,
    once_per_process,
    read_retrying,
    remove_unlocked,
    sha256_file,
)
from .paths import artifacts_dir

# A write failing with one of these means "this folder cannot take the artifact" (read-only, full, no
# permission, over quota): the model is kept in memory and served without caching, with a notice.
WRITE_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG})
MANIFEST = "manifest.json"
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "torch", "pandas", "umap-learn")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ArtifactMissingError(CacheError):
    """Nothing usable is cached for this dataset and configuration (and training was not allowed)."""


class UnwritableError(CacheError):
    """The artifacts folder cannot be written (read-only, full, no permission)."""


# Artifacts that could not be written (read-only or full folder) live here for the rest of the process,
# so every later open in this process (other sessions, train=False reloads) finds them without retraining.
_UNCACHED: dict[tuple[str, str], "Artifact"] = {}
_UNCACHED_LOCK = threading.Lock()


def _is_write_failure(exc: BaseException) -> bool:
    return isinstance(exc, UnwritableError) or (isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS)


# ------------------------------------------------------------ temp folders and stale leftovers


def cleanup_stale(root: Path | None = None, force: bool = False) -> int:
    """Remove temp/trash folders and files that killed runs left in the artifact store; live ones stay.

    Each leftover belongs to one artifact key, whose lock a live builder holds; only leftovers of keys
    whose lock is free are removed. Cheap (a directory listing per dataset); runs once per process
    per root unless ``force``.
    """
    root = Path(root) if root is not None else artifacts_root()
    if not force and not once_per_process("store", root.resolve() if root.exists() else root):
        return 0
    removed = 0
    try:
        datasets = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "parsed"]
    except OSError:
        return 0
    for d in datasets:
        groups: dict[str, list[Path]] = {}
        try:
            for p in d.iterdir():
                key = _leftover_key(p)
                if key:
                    groups.setdefault(key, []).append(p)
            for art in d.iterdir():  # half-written files inside an artifact folder (add(), add_files())
                if art.is_dir() and not art.name.startswith("."):
                    tmps = [f for f in art.glob(".*.tmp") if f.is_file()]
                    if tmps:
                        groups.setdefault(art.name, []).extend(tmps)
        except OSError:
            continue
        for key, victims in groups.items():
            removed += remove_unlocked(d / f"{key}.lock", victims, drop_lock=False)
    return removed


def _leftover_key(p: Path) -> str:
    """The artifact key a leftover belongs to ('' when ``p`` is not one of ours)."""
    name = p.name
    if name.startswith(".tmp-"):  # .tmp-<key>-<pid>-<hex8>
        parts = name[len(".tmp-"):].rsplit("-", 2)
        return parts[0] if len(parts) == 3 else ""
    if name.startswith(".trash-"):  # .trash-<key>-<hex8>
        parts = name[len(".trash-"):].rsplit("-", 1)
        return parts[0] if len(parts) == 2 else ""
    m = re.fullmatch(r"\.(.+)\.settings\.json\.[0-9a-f]{8}\.tmp", name)
    return m.group(1) if m else ""


def _write_notice(root: Path, exc: BaseException) -> str:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (f"Cannot save to the artifacts folder {root} ({why}); running without caching: the model is kept "
            "in memory and will be trained again on the next start. Free some space or set "
            "RECSYS_ARTIFACTS_DIR to a writable folder.")


def artifacts_root() -> Path:
    """$RECSYS_ARTIFACTS_DIR, else <checkout>/artifacts, else the user's cache folder (see recsys_core.paths)."""
    return artifacts_dir()


def _npy_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr)
    if arr.dtype == object:
        raise CacheError("Refusing to store an object array (it would need pickle); convert it to a plain dtype.")
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the numbers, without importing them."""
    out = {}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "absent"
    return out


@dataclass(frozen=True)
class Artifact:
    """A verified artifact folder and its manifest."""

    path: Path
    manifest: dict

    # Files held in memory only (the folder could not be written); they win over the folder's files.
    memory: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def cached(self) -> bool:
        """False when (part of) this artifact lives only in memory because the folder is unwritable."""
        return not self.memory

    def has(self, name: str) -> bool:
        return name in self.manifest.get("files", {})

    def _source(self, fname: str) -> Any:
        data = self.memory.get(fname)
        return io.BytesIO(data) if data is not None else self.path / fname

    def array(self, name: str, mmap: bool = False) -> np.ndarray:
        """One stored .npy array (never unpickled)."""
        src = self._source(f"{name}.npy")
        return np.load(src, allow_pickle=False, mmap_mode="r" if mmap and isinstance(src, Path) else None)

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """All arrays of one stored .npz bundle."""
        with np.load(self._source(f"{name}.npz"), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def json(self, name: str) -> Any:
        src = self._source(f"{name}.json")
        return json.loads(src.getvalue() if isinstance(src, io.BytesIO) else src.read_text())

    def side_file(self, section: str, entry: str, fname: str) -> tuple[Path | None, str]:
        """A derived file recorded by ``ArtifactStore.add_files`` if intact, else (None, what is wrong)."""
        info = ((self.manifest.get(section) or {}).get(entry) or {}).get("files", {}).get(fname)
        path = self.path / fname
        if not isinstance(info, dict):
            return None, f"{fname} is not recorded in the manifest"
        try:
            size = path.stat().st_size
        except OSError:
            return None, f"{fname} is missing"
        if size != info.get("bytes") or sha256_file(path) != info.get("sha256"):
            return None, f"{fname} fails its checksum"
        return path, ""


class ArtifactWriter:
    """Collects an artifact's files in a private temporary folder before it is renamed into place.

    Every file is also kept in memory until the build ends, so a folder that turns out to be read-only
    or full mid-build costs no retraining: the artifact is then served from memory, uncached.
    ``folder=None`` builds in memory only.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.files: dict[str, bytes] = {}
        self.write_error: OSError | None = None

    def _put(self, fname: str, data: bytes) -> None:
        self.files[fname] = data
        if self.folder is None or self.write_error is not None:
            return
        try:
            fsync_write(self.folder / fname, data)
        except OSError as exc:
            if exc.errno not in WRITE_ERRNOS:
                raise
            self.write_error = exc

    def array(self, name: str, arr: np.ndarray) -> None:
        self._put(f"{name}.npy", _npy_bytes(arr))

    def arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        for k, v in arrays.items():
            if np.asarray(v).dtype == object:
                raise CacheError(f"Refusing to store object array {k!r} (it would need pickle).")
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]  # numpy stub
        self._put(f"{name}.npz", buf.getvalue())

    def json(self, name: str, obj: Any) -> None:
        self._put(f"{name}.json", json.dumps(obj, indent=1, default=_json_default).encode())


def _same_build(a: Any, b: dict) -> bool:
    """Whether two manifests describe the same build of an artifact (not a retrain swapped in since)."""
    same = ("key", "fingerprint", "created", "build_seconds")
    return isinstance(a, dict) and all(a.get(f) == b.get(f) for f in same)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class ArtifactStore:
    """Finds, verifies, builds (once, under a lock) and extends artifacts."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else artifacts_root()

    def folder(self, fingerprint: str, key: str) -> Path:
        return self.root / _SAFE.sub("_", fingerprint) / _SAFE.sub("_", key)

    # ------------------------------------------------------------ reading

    def exists(self, fingerprint: str, key: str) -> bool:
        """Whether an artifact folder for this key has a manifest (cheap; ``open`` verifies it)."""
        return (self.folder(fingerprint, key) / MANIFEST).is_file()

    def verify(self, path: Path) -> tuple[Artifact | None, str]:
        """The artifact at ``path`` if complete and intact, else (None, a notice saying what is wrong)."""
        man_path = path / MANIFEST
        if not path.is_dir():
            return None, ""
        try:  # a transient error (EIO, EMFILE, MemoryError...) is retried, then raised: it is not damage
            manifest = json.loads(read_retrying(man_path.read_bytes, "The cached model's manifest"))
        except FileNotFoundError:
            return None, "The cached model has no manifest (an interrupted write); it will be rebuilt."
        except (ValueError, IsADirectoryError, NotADirectoryError) as exc:
            return None, (f"The cached model's manifest is unreadable ({quote_data(str(exc))}); "
                          "it will be rebuilt.")
        if not isinstance(manifest, dict) or manifest.get("format_version") != ARTIFACT_FORMAT:
            return None, "The cached model was written by another version of this program; it will be rebuilt."
        files = manifest.get("files")
        if not isinstance(files, dict) or not files:
            return None, "The cached model's manifest lists no files; it will be rebuilt."
        for name, info in files.items():
            f = path / name
            try:
                size = read_retrying(f.stat, f"The cached model's {name}").st_size
            except FileNotFoundError:
                return None, f"The cached model is missing {name}; it will be rebuilt."
            if not isinstance(info, dict) or size != info.get("bytes") or \
                    read_retrying(partial(sha256_file, f), f"The cached model's {name}") != info.get("sha256"):
                return None, f"The cached model is damaged ({name} fails its checksum); it will be rebuilt."
        return Artifact(path, manifest), ""

    def open(self, fingerprint: str, key: str) -> Artifact:
        """The verified artifact, or ArtifactMissingError saying why there is none."""
        path = self.folder(fingerprint, key)
        art, notice = self.verify(path)
        if art is None:
            art = self.uncached(path)
        if art is None:
            raise ArtifactMissingError(
                (notice.replace("it will be rebuilt", "train again to rebuild it") if notice else
                 "No trained model is cached for this dataset and these settings yet; train it first "
                 "(python -m recsys_core train --data ..., or the dashboard's Train button).")
            )
        return art

    def uncached(self, path: Path) -> Artifact | None:
        """The in-memory artifact this process built for ``path`` when its folder could not be written."""
        with _UNCACHED_LOCK:
            return _UNCACHED.get((str(self.root.resolve()), str(path)))

    def _remember(self, art: Artifact) -> Artifact:
        with _UNCACHED_LOCK:
            _UNCACHED[(str(self.root.resolve()), str(art.path))] = art
        return art

    # ------------------------------------------------------------ locking and building

    @contextlib.contextmanager
    def lock(self, fingerprint: str, key: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Exclusive per-artifact lock (flock: released by the kernel if the holder dies)."""
        parent = self.folder(fingerprint, key).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(parent / f"{_SAFE.sub('_', key)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            cls = UnwritableError if exc.errno in WRITE_ERRNOS else CacheError
            raise cls(f"Cannot write to the artifacts folder {self.root} ({exc.strerror}); "
                      "set RECSYS_ARTIFACTS_DIR to a writable folder.") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if on_wait is not None:
                    on_wait("Another process is training this model right now; waiting to reuse its result.")
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def get_or_build(
        self,
        fingerprint: str,
        key: str,
        build: Callable[[ArtifactWriter], dict],
        on_notice: Callable[[str], None] | None = None,
    ) -> tuple[Artifact, bool]:
        """The verified artifact, building it once under the lock when absent or damaged; (artifact, built).

        When the artifacts folder cannot be written (read-only, full), the artifact is built in memory
        and returned uncached (``artifact.cached`` is False), with a notice; nothing half-written is left.
        """
        path = self.folder(fingerprint, key)
        art, notice = self.verify(path)
        if art is None and not notice:
            art = self.uncached(path)
        if art is not None:
            return art, False
        cleanup_stale(self.root)  # before the first build of this process: leftovers of killed runs
        try:
            lock = self.lock(fingerprint, key, on_notice)
            lock.__enter__()
        except UnwritableError as exc:
            if notice and on_notice is not None:
                on_notice(notice)
            return self._build_in_memory(path, fingerprint, key, build, exc, on_notice), True
        try:
            art, notice = self.verify(path)  # someone else may have built it while we waited
            if art is not None:
                return art, False
            if notice and on_notice is not None:
                on_notice(notice)
            self._clear_leftovers(path)
            tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            try:
                tmp.mkdir(parents=True)
            except OSError as exc:
                if not _is_write_failure(exc):
                    raise
                return self._build_in_memory(path, fingerprint, key, build, exc, on_notice), True
            writer = ArtifactWriter(tmp)
            try:
                started = time.perf_counter()
                extra = build(writer) or {}
                manifest = self._manifest(writer.files, fingerprint, key, extra, time.perf_counter() - started)
                data = json.dumps(manifest, indent=1, default=_json_default).encode()
                if writer.write_error is not None:
                    raise writer.write_error
                fsync_write(tmp / MANIFEST, data)
                self._swap_in(tmp, path)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if not _is_write_failure(exc) or "manifest" not in locals():
                    raise
                msg = _write_notice(self.root, exc)
                if on_notice is not None:
                    on_notice(msg)
                return self._remember(Artifact(path, {**manifest, "uncached": msg}, dict(writer.files))), True
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            art, notice = self.verify(path)
            if art is None:
                raise CacheError(f"The model was trained but could not be stored intact ({notice}); "
                                 "check the disk space and permissions of the artifacts folder.")
            return art, True
        finally:
            lock.__exit__(None, None, None)

    def _build_in_memory(self, path: Path, fingerprint: str, key: str, build: Callable[[ArtifactWriter], dict],
                         reason: BaseException, on_notice: Callable[[str], None] | None) -> Artifact:
        """No usable folder: build with a memory-only writer and serve that, uncached."""
        msg = _write_notice(self.root, reason)
        if on_notice is not None:
            on_notice(msg)
        writer = ArtifactWriter(None)
        started = time.perf_counter()
        extra = build(writer) or {}
        manifest = self._manifest(writer.files, fingerprint, key, extra, time.perf_counter() - started)
        return self._remember(Artifact(path, {**manifest, "uncached": msg}, dict(writer.files)))

    def _clear_leftovers(self, path: Path) -> None:
        """Remove temp/trash folders of this key left by killed processes (we hold the lock)."""
        for p in path.parent.glob(f".tmp-{path.name}-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in path.parent.glob(f".trash-{path.name}-*"):
            shutil.rmtree(p, ignore_errors=True)

    def _swap_in(self, tmp: Path, path: Path) -> None:
        """Rename the finished folder into place; a damaged old one is moved aside first."""
        if path.exists():
            trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:8]}")
            os.replace(path, trash)
            os.replace(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, path)
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)

    def _manifest(self, files_data: dict[str, bytes], fingerprint: str, key: str, extra: dict, seconds: float) -> dict:
        files: dict[str, dict[str, Any]] = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                                            for name, data in sorted(files_data.items()) if name != MANIFEST}
        manifest: dict[str, Any] = {
            "format_version": ARTIFACT_FORMAT,
            "key": key,
            "fingerprint": fingerprint,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "libraries": library_versions(),
            "build_seconds": seconds,
        }
        manifest.update(extra)
        manifest["files"] = files
        manifest["size_bytes"] = int(sum(v["bytes"] for v in files.values()))
        return manifest

    # ------------------------------------------------------------ extending

    def add(
        self,
        art: Artifact,
        arrays: dict[str, np.ndarray] | None = None,
        manifest_updates: dict | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> Artifact:
        """Add arrays (e.g. projections) to an existing artifact: each file and the manifest replaced atomically.

        An uncached (in-memory) artifact, or a folder that cannot be written any more, gets the arrays in
        memory only (with a notice); the files on disk are left as they were, still valid.
        """
        fingerprint, key = art.manifest["fingerprint"], art.manifest["key"]
        new = {f"{name}.npy": _npy_bytes(arr) for name, arr in (arrays or {}).items()}

        def in_memory(manifest: dict) -> Artifact:
            files = dict(manifest["files"])
            for fname, data in new.items():
                files[fname] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            manifest = {**manifest, **(manifest_updates or {}), "files": files}
            manifest["size_bytes"] = int(sum(v["bytes"] for v in files.values()))
            return self._remember(Artifact(art.path, manifest, {**art.memory, **new}))

        if not art.cached:
            return in_memory(art.manifest)
        try:
            with self.lock(fingerprint, key):
                current, notice = self.verify(art.path)
                if current is None:
                    raise CacheError(f"{notice or 'The cached model disappeared'}; open the dataset again to rebuild it.")
                manifest = dict(current.manifest)
                files = dict(manifest["files"])
                for fname, data in new.items():
                    atomic_write(art.path / fname, data)
                    files[fname] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                manifest.update(manifest_updates or {})
                manifest["files"] = files
                manifest["size_bytes"] = int(sum(v["bytes"] for v in files.values()))
                atomic_write(art.path / MANIFEST, json.dumps(manifest, indent=1, default=_json_default).encode())
                return Artifact(art.path, manifest)
        except (UnwritableError, OSError) as exc:
            if not _is_write_failure(exc):
                raise
            msg = _write_notice(self.root, exc)
            if on_notice is not None:
                on_notice(msg)
            return in_memory({**art.manifest, "uncached": msg})

    def read_manifest(self, art: Artifact) -> dict:
        """The manifest as on disk now (another process may have extended it); the one in hand if unreadable."""
        if not art.cached:
            return art.manifest
        try:
            data = json.loads((art.path / MANIFEST).read_text())
        except (OSError, ValueError):
            return art.manifest
        return data if _same_build(data, art.manifest) else art.manifest

    def add_files(self, art: Artifact, section: str, entry: str, writers: Mapping[str, Callable[[Any], None]],
                  info: dict | None = None) -> Artifact:
        """Write derived files (each by its own writer) into the folder, checksummed in manifest[section][entry].

        For files rebuilt from the model (an ANN index): they stay out of manifest["files"], so a damaged
        one costs only its own rebuild, never the model's. The caller holds ``lock``; a write failure
        raises (OSError, UnwritableError) for the caller to turn into a notice.
        """
        if not art.cached:
            raise UnwritableError(art.manifest.get("uncached") or f"{art.path} is held in memory only.")
        manifest = json.loads((art.path / MANIFEST).read_text())
        if not _same_build(manifest, art.manifest):
            raise CacheError(f"The cached model in {art.path} changed since it was opened (retrained?); "
                             "open it again to index the new one.")
        recorded = {fname: atomic_write_with(art.path / fname, write) for fname, write in writers.items()}
        sec = dict(manifest.get(section) or {})
        sec[entry] = {**(info or {}), "files": recorded}
        manifest = {**manifest, section: sec}
        atomic_write(art.path / MANIFEST, json.dumps(manifest, indent=1, default=_json_default).encode())
        return Artifact(art.path, manifest)

    # ------------------------------------------------------------ small mutable settings

    def settings_path(self, fingerprint: str, key: str) -> Path:
        p = self.folder(fingerprint, key)
        return p.with_name(f"{p.name}.settings.json")

    def read_settings(self, fingerprint: str, key: str) -> dict:
        """User settings kept beside the artifact (e.g. the default alpha); {} when none or unreadable."""
        try:
            data = json.loads(self.settings_path(fingerprint, key).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_settings(self, fingerprint: str, key: str, updates: dict) -> dict:
        """Merge ``updates`` into the settings file (a None value removes its key), atomically and under the
        artifact lock."""
        with self.lock(fingerprint, key):
            data = self.read_settings(fingerprint, key)
            for name, value in updates.items():
                if value is None:
                    data.pop(name, None)
                else:
                    data[name] = value
            atomic_write(self.settings_path(fingerprint, key), json.dumps(data, indent=1).encode())
            return data
