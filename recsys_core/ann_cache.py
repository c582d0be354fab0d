"""ANN indexes kept beside the model in its artifact: loaded when intact, else built once and saved."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import Callable

from .config import AnnConfig
from .errors import CacheError, ConfigError
from .scoring.ann_index import AnnIndex, HybridAnn, faiss_module
from .scoring.ann_search import AnnSimilarity
from .scoring.similarity import SimilarityIndex
from .store import Artifact, ArtifactStore

ANN_SECTION = "ann"  # manifest section: one entry per AnnConfig.build_key()
_UNSAVED: dict[tuple[str, str, str], tuple[HybridAnn, str]] = {}  # not saved (and why): reused by later opens
_UNSAVED_LOCK = threading.Lock()


def index_file(key: str, name: str) -> str:
    """File name of one saved index ("content", "collab" or "joint") of build key ``key``."""
    return f"ann_{key}_{name}.faiss"


def _load_saved(art: "Artifact", key: str, index: SimilarityIndex, cfg: AnnConfig) -> tuple[HybridAnn | None, str]:
    """The saved indexes of ``key`` when every file is intact and fits this catalogue, else (None, why)."""
    entry = (art.manifest.get(ANN_SECTION) or {}).get(key)
    if not isinstance(entry, dict):
        return None, ""
    indexes: dict[str, AnnIndex] = {}
    for name in entry.get("indexes") or ():
        path, why = art.side_file(ANN_SECTION, key, index_file(key, name))
        if path is None:
            return None, why
        try:
            indexes[name] = AnnIndex.load(path, cfg)
        except CacheError as exc:
            return None, str(exc)
    sizes = {"content": int(index.has_content.sum()), "collab": int(index.has_collab.sum()), "joint": index.n}
    if not indexes or any(len(ix) != sizes.get(name, -1) for name, ix in indexes.items()):
        return None, "it does not cover this catalogue's movies"
    try:
        return HybridAnn(index.content, index.collab, indexes, cfg), ""
    except ConfigError as exc:
        return None, str(exc)


def _build_timed(index: SimilarityIndex, cfg: AnnConfig,
                 progress: Callable[[str], None] | None) -> tuple[HybridAnn, float]:
    """Build the indexes from the exact index's unit vectors, telling ``progress`` first (minutes at 1M movies)."""
    if progress is not None:
        progress(f"Building the approximate-neighbour index (faiss {cfg.kind}, {index.n:,} movies; first time only)")
    t0 = time.perf_counter()
    ann = HybridAnn.build(index.content, index.collab, cfg)
    return ann, time.perf_counter() - t0


def open_ann_search(
    store: "ArtifactStore",
    art: "Artifact",
    index: SimilarityIndex,
    cfg: AnnConfig,
    note: Callable[[str], None],
    progress: Callable[[str], None] | None = None,
) -> tuple[AnnSimilarity, "Artifact", dict]:
    """ANN search for an artifact: its saved index, else built once under the artifact lock and saved beside it.

    Returns (search, artifact with the manifest entry, info). A damaged or missing index file is rebuilt
    with a notice; a folder that cannot take it (read-only, full) serves it from memory, with a notice.
    """
    key = cfg.build_key()
    memo = (str(art.path), str(art.manifest.get("created")), key)
    ann, why = _load_saved(art, key, index, cfg)
    if ann is not None:
        return AnnSimilarity(index, ann), art, _info(ann, key, built=False, saved=True)
    with _UNSAVED_LOCK:
        unsaved = _UNSAVED.get(memo)
    if unsaved is not None:
        note(unsaved[1])
        return AnnSimilarity(index, unsaved[0]), art, _info(unsaved[0], key, built=False, saved=False)
    made: list[tuple[HybridAnn, float]] = []  # what a failed save leaves, so it is not built twice
    try:
        with store.lock(art.manifest["fingerprint"], art.manifest["key"], on_wait=note):
            return _load_or_build_locked(store, art, key, index, cfg, why, note, progress, made)
    except (CacheError, OSError, RuntimeError) as exc:  # RuntimeError: faiss could not write the file
        ann, seconds = made[0] if made else _build_timed(index, cfg, progress)
        msg = (f"Cannot save the approximate-neighbour index beside the model in {art.path} ({exc}); it is kept "
               "in memory for this process and built again after a restart. Free some space or set "
               "RECSYS_ARTIFACTS_DIR to a writable folder.")
        note(msg)
        with _UNSAVED_LOCK:
            _UNSAVED[memo] = (ann, msg)
        return AnnSimilarity(index, ann), art, _info(ann, key, built=True, saved=False, seconds=seconds)


def _load_or_build_locked(
    store: "ArtifactStore", art: "Artifact", key: str, index: SimilarityIndex, cfg: AnnConfig, why: str,
    note: Callable[[str], None], progress: Callable[[str], None] | None, made: list,
) -> tuple[AnnSimilarity, "Artifact", dict]:
    """Under the artifact lock: what another process saved meanwhile, else build, record in ``made``, save."""
    current = type(art)(art.path, store.read_manifest(art), art.memory)
    ann, why_now = _load_saved(current, key, index, cfg)
    if ann is not None:
        return AnnSimilarity(index, ann), current, _info(ann, key, built=False, saved=True)
    why = why or why_now
    if why:
        note(f"The saved approximate-neighbour index is unusable ({why}); rebuilding it.")
    ann, seconds = _build_timed(index, cfg, progress)
    made.append((ann, seconds))
    entry = {"backend": f"ann (faiss {cfg.kind})", "indexes": sorted(ann.indexes), "n_movies": index.n,
             "build_seconds": round(seconds, 3), "faiss": faiss_module().__version__, "config": asdict(cfg)}
    writers = {index_file(key, name): ix.save for name, ix in ann.indexes.items()}
    art = store.add_files(current, ANN_SECTION, key, writers, entry)
    return AnnSimilarity(index, ann), art, _info(ann, key, built=True, saved=True, seconds=seconds)


def _info(ann: HybridAnn, key: str, built: bool, saved: bool, seconds: float = 0.0) -> dict:
    """What served the queries, for ``Explorer.search_info`` (and tests): built now or loaded, saved or not."""
    return {"backend": f"ann (faiss {ann.cfg.kind})", "index_key": key, "indexes": sorted(ann.indexes),
            "built": built, "saved": saved, "build_seconds": round(seconds, 3),
            "files": [index_file(key, name) for name in sorted(ann.indexes)] if saved else []}
