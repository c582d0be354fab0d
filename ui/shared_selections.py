"""Map selections too big for a link, kept on the server under a short id so that the link can still carry them.

A box over a dense region easily picks a few hundred movies: more than an address bar should hold. The link
then carries ``?selref=<id>`` and the ids live in ``<artifacts>/.shared-selections/<id>.json``. The id is a hash
of the dataset and the ids, so the same selection is stored once however often it is shared. Visitors create
these, so the folder is bounded: the least recently used files go beyond ``MAX_FILES`` or ``MAX_BYTES``.
Nothing here is Streamlit; files are written whole (temporary file, then rename) and read back as JSON only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ui import engine

FOLDER = ".shared-selections"  # hidden: the artifact store's sweeps and listings skip dot-folders
MAX_FILES = 500
MAX_BYTES = 50_000_000  # a 62k-movie catalogue selected whole is about 0.4 MB
MAX_IDS = 200_000  # more than any MovieLens catalogue holds
_REF = re.compile(r"[0-9a-f]{16}")


def ref_for(dataset: str, ids: Iterable[int]) -> str:
    """The selection's id: the same dataset and movies (in any order) always give the same one."""
    body = f"{dataset}\n" + ",".join(str(int(m)) for m in sorted(set(ids)))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def _root(root: Path | None) -> Path:
    return Path(root) if root is not None else engine.artifacts_dir() / FOLDER


def keep(dataset: str, ids: Iterable[int], root: Path | None = None) -> str | None:
    """Store the selection (or mark it used again) and return its id; None when it cannot be kept here."""
    ids = tuple(int(m) for m in ids)
    if not ids or len(ids) > MAX_IDS:
        return None
    ref = ref_for(dataset, ids)
    folder = _root(root)
    path = folder / f"{ref}.json"
    try:
        if path.exists():
            os.utime(path)  # recently used: the last to go
            return ref
        folder.mkdir(parents=True, exist_ok=True)
        engine.atomic_write(path, json.dumps({"dataset": dataset, "ids": list(ids)}).encode("utf-8"))
        _prune(folder, keep_name=path.name)
    except OSError:
        return None
    return ref


def _prune(folder: Path, keep_name: str) -> None:
    """Drop the least recently used files beyond the bounds (never the one just written)."""
    files = []
    for p in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            st = p.stat()
            files.append((st.st_mtime, st.st_size, p))
    files.sort(reverse=True)
    total = 0
    for n, (_, size, p) in enumerate(files):
        total += size
        if p.name != keep_name and (n >= MAX_FILES or total > MAX_BYTES):
            with contextlib.suppress(OSError):
                p.unlink()


def find(ref: str, root: Path | None = None) -> tuple[str, tuple[int, ...]] | None:
    """The (dataset, ids) kept under ``ref``; None for a malformed, unknown or unreadable id."""
    if not isinstance(ref, str) or not _REF.fullmatch(ref):
        return None
    path = _root(root) / f"{ref}.json"
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        dataset, ids = str(data["dataset"]), tuple(int(m) for m in data["ids"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (dataset, ids) if ids else None
