"""Opening a dataset: a registry name, a folder or a .zip, parsed once and then served from the cache."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from ..errors import DatasetError, quote_data
from ..files import locked_tempdir, once_per_process, remove_unlocked
from .cache import ZIP_TMP_PREFIX, cache_key
from .cache import load as load_parsed
from .cache import save as save_parsed
from .cache import cleanup_stale as cleanup_parsed
from .dataset import Dataset, build_dataset
from .fetch import ByteProgress, download, extract_members
from .formats import LAYOUTS, Layout, detect, find_root, naming
from .registry import DEFAULT_DATASET, RELEASES, data_dir, is_present, release_dir


def cleanup_stale(force: bool = False) -> int:
    """Remove temp folders that killed runs left (parsed cache, zip scratch, download extraction); live ones stay.

    Runs once per process (the data loader calls it); a folder whose lock a live process holds is kept.
    """
    removed = cleanup_parsed(force)
    base = data_dir()
    if not (force or once_per_process("data", base)):
        return removed
    groups: dict[str, list[Path]] = {}
    try:
        for p in base.iterdir():  # .<release>-extract-XXXX and .<release>-old-<pid>, under .<release>.lock
            for mark in ("-extract-", "-old-"):
                if p.name.startswith(".") and mark in p.name:
                    groups.setdefault(p.name[1:].rsplit(mark, 1)[0], []).append(p)
    except OSError:
        return removed
    for release, victims in groups.items():
        removed += remove_unlocked(base / f".{release}.lock", victims, drop_lock=False)
    return removed


def resolve_source(data: str | Path, *, fetch: bool = False, progress: ByteProgress | None = None) -> tuple[str, Path]:
    """(dataset name, folder or .zip path) for a registry name or a path; DatasetError otherwise.

    A registry name wins over a same-named folder in the working directory; write ./ml-1m for that.
    """
    if isinstance(data, str) and data in RELEASES:
        folder = release_dir(data)
        if not is_present(data):
            if not fetch:
                r = RELEASES[data]
                raise DatasetError(
                    f"{data} is not downloaded yet (about {r.approx_mb:g} MB into the data dir); run "
                    f"`python -m recsys_core download {data}` (or call load_dataset(..., download=True))",
                    detail=str(folder.parent),
                )
            folder = download(data, progress=progress)
        return data, folder
    path = Path(data).expanduser()
    if not path.exists():
        raise DatasetError(
            f"{quote_data(str(data), bare=True)}: no such folder or file; give a dataset name ({', '.join(RELEASES)}) or "
            "the path of a MovieLens folder or .zip", detail=str(path)
        )
    if path.is_file() and path.suffix.lower() != ".zip":
        if any(path.name in lay.files for lay in LAYOUTS):
            return path.parent.resolve().name, path.parent
        raise DatasetError(f"{quote_data(path.name, bare=True)}: not a folder or .zip; give the folder that holds the "
                           "MovieLens files", detail=str(path))
    name = path.resolve().name
    return (name[:-4] if name.lower().endswith(".zip") else name), path


def load_dataset(data: str | Path = DEFAULT_DATASET, *, download: bool = False,
                 progress: ByteProgress | None = None, use_cache: bool = True) -> Dataset:
    """Open a dataset by registry name, folder or .zip; parsed once, then served from the cache.

    Args:
        data: a registry name (``ml-100k``, ``ml-latest-small``, ...) or a folder / .zip path.
        download: fetch a named release that is not on disk yet (else a DatasetError says how).
        progress: ``progress(done_bytes, total_bytes)`` while downloading.
        use_cache: read and write the parsed cache under ``$RECSYS_ARTIFACTS_DIR/parsed``.
    """
    name, path = resolve_source(data, fetch=download, progress=progress)
    cleanup_stale()
    try:
        if path.is_file():
            return _load_zip(name, path, use_cache)
        root = find_root(path)
        with naming(root, name):
            layout = detect(root)
            return _load_folder(name, root, layout, use_cache)
    except OSError as exc:
        raise DatasetError(f"{name}: its files cannot be read ({exc.strerror or type(exc).__name__}); check the "
                           "path and permissions", detail=str(getattr(exc, "filename", "") or path)) from None


def _load_folder(name: str, root: Path, layout: Layout, use_cache: bool) -> Dataset:
    """Parse a folder (or serve it from the cache)."""
    prefix, key = cache_key(root, [root / f for f in layout.files], layout.name)
    if use_cache and (hit := load_parsed(name, prefix, key)) is not None:
        return hit
    ds = replace(build_dataset(layout.reader(root, name)), name=name)
    if use_cache:
        save_parsed(ds, prefix, key)
    return ds


def _load_zip(name: str, archive: Path, use_cache: bool) -> Dataset:
    """A release zip (with or without a top folder), extracted to a temp dir only when not cached."""
    prefix, key = cache_key(archive, [archive], "zip")
    if use_cache and (hit := load_parsed(name, prefix, key)) is not None:
        return hit
    with locked_tempdir(Path(tempfile.gettempdir()), ZIP_TMP_PREFIX) as tmp:
        extract_members(archive, tmp, f"{name}.zip", DatasetError)  # capped; the scratch folder is removed
        root = find_root(tmp)
        with naming(root, name):
            layout = detect(root)
            raw = layout.reader(root, name)
            ds = replace(build_dataset(raw), name=name, source=str(archive))
    if use_cache:
        save_parsed(ds, prefix, key)
    return ds
