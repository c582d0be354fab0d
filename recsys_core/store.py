"""Artifact cache: <root>/<dataset fingerprint>/<config hash>/, checksummed, locked, written atomically."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .errors import CacheError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "torch", "pandas", "umap-learn")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ArtifactMissingError(CacheError):
    """Nothing usable is cached for this dataset and configuration (and training was not allowed)."""


def artifacts_root() -> Path:
    """$RECSYS_ARTIFACTS_DIR, else <repo>/artifacts."""
    env = os.environ.get("RECSYS_ARTIFACTS_DIR", "").strip()
    return Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "artifacts"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _atomic_write(path: Path, data: bytes) -> None:
    """Write next to the target, then rename over it: readers see the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _fsync_write(tmp, data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

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

    def has(self, name: str) -> bool:
        return name in self.manifest.get("files", {})

    def array(self, name: str, mmap: bool = False) -> np.ndarray:
        """One stored .npy array (never unpickled)."""
        return np.load(self.path / f"{name}.npy", allow_pickle=False, mmap_mode="r" if mmap else None)

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """All arrays of one stored .npz bundle."""
        with np.load(self.path / f"{name}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def json(self, name: str) -> Any:
        return json.loads((self.path / f"{name}.json").read_text())


class ArtifactWriter:
    """Collects an artifact's files in a private temporary folder before it is renamed into place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def array(self, name: str, arr: np.ndarray) -> None:
        _fsync_write(self.folder / f"{name}.npy", _npy_bytes(arr))

    def arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        path = self.folder / f"{name}.npz"
        for k, v in arrays.items():
            if np.asarray(v).dtype == object:
                raise CacheError(f"Refusing to store object array {k!r} (it would need pickle).")
        with open(path, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
            f.flush()
            os.fsync(f.fileno())

    def json(self, name: str, obj: Any) -> None:
        _fsync_write(self.folder / f"{name}.json", json.dumps(obj, indent=1, default=_json_default).encode())


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

    def verify(self, path: Path) -> tuple[Artifact | None, str]:
        """The artifact at ``path`` if complete and intact, else (None, a notice saying what is wrong)."""
        man_path = path / MANIFEST
        if not path.is_dir():
            return None, ""
        try:
            manifest = json.loads(man_path.read_text())
        except FileNotFoundError:
            return None, f"The cached model in {path} has no manifest (an interrupted write); it will be rebuilt."
        except (OSError, ValueError) as exc:
            return None, f"The cached model's manifest in {path} is unreadable ({exc}); it will be rebuilt."
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            return None, f"The cached model in {path} was written by another version of this program; it will be rebuilt."
        files = manifest.get("files")
        if not isinstance(files, dict) or not files:
            return None, f"The cached model's manifest in {path} lists no files; it will be rebuilt."
        for name, info in files.items():
            f = path / name
            try:
                size = f.stat().st_size
            except FileNotFoundError:
                return None, f"The cached model in {path} is missing {name}; it will be rebuilt."
            if size != info.get("bytes") or _sha256(f) != info.get("sha256"):
                return None, f"The cached model in {path} is damaged ({name} fails its checksum); it will be rebuilt."
        return Artifact(path, manifest), ""

    def open(self, fingerprint: str, key: str) -> Artifact:
        """The verified artifact, or ArtifactMissingError saying why there is none."""
        path = self.folder(fingerprint, key)
        art, notice = self.verify(path)
        if art is None:
            raise ArtifactMissingError(
                (notice.replace("it will be rebuilt", "train again to rebuild it") if notice else
                 "No trained model is cached for this dataset and these settings yet; train it first "
                 "(python -m recsys_core train --data ..., or the dashboard's Train button).")
            )
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
            raise CacheError(f"Cannot write to the artifacts folder {self.root} ({exc.strerror}); "
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
        """The verified artifact, building it once under the lock when absent or damaged; (artifact, built)."""
        path = self.folder(fingerprint, key)
        art, notice = self.verify(path)
        if art is not None:
            return art, False
        with self.lock(fingerprint, key, on_notice):
            art, notice = self.verify(path)  # someone else may have built it while we waited
            if art is not None:
                return art, False
            if notice and on_notice is not None:
                on_notice(notice)
            self._clear_leftovers(path)
            tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            tmp.mkdir(parents=True)
            try:
                started = time.perf_counter()
                extra = build(ArtifactWriter(tmp)) or {}
                manifest = self._manifest(tmp, fingerprint, key, extra, time.perf_counter() - started)
                _fsync_write(tmp / MANIFEST, json.dumps(manifest, indent=1, default=_json_default).encode())
                self._swap_in(tmp, path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            art, notice = self.verify(path)
            if art is None:
                raise CacheError(f"The model was trained but could not be stored intact ({notice}); "
                                 "check the disk space and permissions of the artifacts folder.")
            return art, True

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

    def _manifest(self, folder: Path, fingerprint: str, key: str, extra: dict, seconds: float) -> dict:
        files = {}
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.name != MANIFEST:
                files[f.name] = {"bytes": f.stat().st_size, "sha256": _sha256(f)}
        manifest = {
            "format_version": FORMAT_VERSION,
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
    ) -> Artifact:
        """Add arrays (e.g. projections) to an existing artifact: each file and the manifest replaced atomically."""
        fingerprint, key = art.manifest["fingerprint"], art.manifest["key"]
        with self.lock(fingerprint, key):
            current, notice = self.verify(art.path)
            if current is None:
                raise CacheError(f"{notice or 'The cached model disappeared'}; open the dataset again to rebuild it.")
            manifest = dict(current.manifest)
            files = dict(manifest["files"])
            for name, arr in (arrays or {}).items():
                fname = f"{name}.npy"
                data = _npy_bytes(arr)
                _atomic_write(art.path / fname, data)
                files[fname] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            manifest.update(manifest_updates or {})
            manifest["files"] = files
            manifest["size_bytes"] = int(sum(v["bytes"] for v in files.values()))
            _atomic_write(art.path / MANIFEST, json.dumps(manifest, indent=1, default=_json_default).encode())
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
        """Merge ``updates`` into the settings file, atomically and under the artifact lock."""
        with self.lock(fingerprint, key):
            data = self.read_settings(fingerprint, key)
            data.update(updates)
            _atomic_write(self.settings_path(fingerprint, key), json.dumps(data, indent=1).encode())
            return data
