"""Parsed-dataset cache: canonical arrays as Parquet/.npy, keyed by the source files' size and mtime.

A second open of the same unchanged source reads these instead of re-parsing text. Entries are
written into a locked temp folder and renamed into place, read back without pickle. An entry is
deleted only on proven damage (unparseable Parquet/JSON, wrong version, inconsistent tables); a
transient read error (I/O error, out of memory, too many open files) is retried once and then the
source is parsed instead, leaving the entry in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pandas as pd

from ..files import cleanup_tempdirs, is_transient, locked_tempdir, once_per_process
from .dataset import Dataset, Genome, Ratings

CACHE_VERSION = 1
ZIP_TMP_PREFIX = "recsys-zip-"  # scratch folders for opening a .zip, in the system temp dir
_log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    """Counters so tests and the UI can tell a cache hit from a parse, without timing."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0
    transient: int = 0  # reads that failed for a passing reason; the entry was kept


stats = CacheStats()


def parsed_dir() -> Path:
    """$RECSYS_ARTIFACTS_DIR/parsed (default <checkout>/artifacts/parsed, or the user's cache folder when installed)."""
    from ..paths import artifacts_dir

    return artifacts_dir() / "parsed"


def cache_key(source: Path, files: list[Path], layout: str) -> tuple[str, str]:
    """(folder prefix for this source, full key): the key changes when any source file changes."""
    src = str(source.resolve())
    stamp = [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(files) if f.is_file()]
    key = json.dumps({"v": CACHE_VERSION, "source": src, "layout": layout, "files": stamp})
    prefix = hashlib.blake2b(src.encode(), digest_size=6).hexdigest()
    return prefix, hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def _entry(name: str, prefix: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40] or "data"
    return parsed_dir() / f"{safe}-{prefix}-{key}"


def load(name: str, prefix: str, key: str) -> Dataset | None:
    """The cached dataset for this key, or None (missing or damaged: a damaged entry is removed)."""
    folder = _entry(name, prefix, key)
    if not folder.is_dir():
        stats.misses += 1
        return None
    for attempt in (1, 2):
        try:
            ds = _read(folder)
        except (MemoryError, OSError) as exc:
            if not is_transient(exc):
                return _drop(folder, exc)
            if attempt == 1:
                continue  # retry once: a passing error says nothing about the entry
            _log.warning("parsed cache entry of %s could not be read (%s); parsing the source instead and "
                         "keeping the entry", name, type(exc).__name__ if isinstance(exc, MemoryError) else exc)
            stats.transient += 1
            stats.misses += 1
            return None
        except Exception as exc:  # noqa: BLE001 - anything else is damage: rebuild, never a crash
            return _drop(folder, exc)
        stats.hits += 1
        return ds
    return None


def _drop(folder: Path, exc: BaseException) -> Dataset | None:
    """Proven damage (unparseable, inconsistent, wrong version): remove the entry so it is rebuilt."""
    _log.warning("parsed cache %s is damaged (%s); rebuilding it", folder.name, exc)
    stats.corrupt += 1
    stats.misses += 1
    shutil.rmtree(folder, ignore_errors=True)
    return None


def cleanup_stale(force: bool = False) -> int:
    """Remove temp folders of killed runs in the parsed cache and the zip scratch space; live ones stay."""
    removed = 0
    for parent, prefix in ((parsed_dir(), ".tmp-"), (Path(tempfile.gettempdir()), ZIP_TMP_PREFIX)):
        if force or once_per_process(prefix, parent):
            removed += cleanup_tempdirs(parent, prefix)
    return removed


def save(ds: Dataset, prefix: str, key: str) -> None:
    """Write the entry atomically; on failure (disk full, read-only) keep going without a cache."""
    root = parsed_dir()
    final = _entry(ds.name, prefix, key)
    if final.is_dir():  # kept after a transient read error (or written meanwhile by another process)
        return
    try:
        with locked_tempdir(root, ".tmp-") as tmp:
            _write(ds, tmp)
            os.replace(tmp, final)
            stats.writes += 1
    except OSError as exc:
        if not final.is_dir():
            _log.warning("cannot write the parsed cache under %s (%s); continuing without it", root, exc)
        return
    for old in root.glob(f"*-{prefix}-*"):  # older entries of the same source
        if old != final and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def _write(ds: Dataset, folder: Path) -> None:
    """Arrays and tables in Parquet/.npy; everything else in meta.json."""
    r = ds.ratings
    pq.write_table(pa.table({"user": r.user, "movie": r.movie, "rating": r.rating, "timestamp": r.timestamp}),
                   folder / "ratings.parquet", compression="lz4")
    movies = ds.movies.copy()
    movies["genres"] = ["|".join(g) for g in movies["genres"]]
    pq.write_table(pa.Table.from_pandas(movies, preserve_index=False), folder / "movies.parquet")
    pq.write_table(pa.Table.from_pandas(ds.users, preserve_index=False), folder / "users.parquet")
    pq.write_table(pa.Table.from_pandas(ds.tags, preserve_index=False), folder / "tags.parquet")
    meta = {
        "version": CACHE_VERSION, "name": ds.name, "source": ds.source, "fingerprint": ds.fingerprint,
        "rating_scale": list(ds.rating_scale), "notes": list(ds.notes), "n_ratings": ds.n_ratings,
        "n_movies": ds.n_movies, "n_users": ds.n_users,
        "genome_tags": list(ds.genome.tags) if ds.genome is not None else None,
    }
    if ds.genome is not None:
        np.save(folder / "genome_movie.npy", ds.genome.movie)
        np.save(folder / "genome_scores.npy", ds.genome.scores)
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def read_tables(folder: Path) -> tuple["pd.DataFrame", "pd.DataFrame", "pd.DataFrame"]:
    """Movies, users and tags of a parsed entry, with the canonical dtypes (shared with distributed ranks)."""
    movies = pq.read_table(folder / "movies.parquet").to_pandas()
    movies["title"] = movies["title"].astype("str")
    movies["year"] = movies["year"].astype("Int16")
    movies["genres"] = [tuple(g.split("|")) if g else () for g in movies["genres"]]
    users = pq.read_table(folder / "users.parquet").to_pandas()
    tags = pq.read_table(folder / "tags.parquet").to_pandas()
    tags["tag"] = tags["tag"].astype("str")
    return movies, users, tags


def _read(folder: Path) -> Dataset:
    """Inverse of _write; raises on anything inconsistent."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if meta.get("version") != CACHE_VERSION:
        raise ValueError(f"cache version {meta.get('version')} != {CACHE_VERSION}")
    rt = pq.read_table(folder / "ratings.parquet")
    ratings = Ratings(*(rt.column(c).to_numpy() for c in ("user", "movie", "rating", "timestamp")))
    expect = {"user": np.int32, "movie": np.int32, "rating": np.float32, "timestamp": np.int64}
    for c, dt in expect.items():
        if getattr(ratings, c).dtype != dt or len(getattr(ratings, c)) != meta["n_ratings"]:
            raise ValueError(f"ratings.{c} has the wrong type or length")
    movies, users, tags = read_tables(folder)
    if len(movies) != meta["n_movies"] or len(users) != meta["n_users"]:
        raise ValueError("movies or users table has the wrong length")
    if len(ratings) and (int(ratings.movie.max()) >= len(movies) or int(ratings.user.max()) >= len(users)):
        raise ValueError("rating rows point outside the movies/users tables")
    genome = None
    if meta["genome_tags"] is not None:
        gm = np.load(folder / "genome_movie.npy", allow_pickle=False)
        gs = np.load(folder / "genome_scores.npy", allow_pickle=False)
        if gs.shape != (len(gm), len(meta["genome_tags"])):
            raise ValueError("genome matrix has the wrong shape")
        genome = Genome(gm, gs, tuple(meta["genome_tags"]))
    ds = Dataset(meta["name"], ratings, movies, users, tags, genome, tuple(meta["rating_scale"]),
                 meta["fingerprint"], meta["source"], tuple(meta["notes"]))
    return replace(ds, from_cache=True)
