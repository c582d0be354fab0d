"""UMAP 2-D maps per space (cosine, exact kNN passed in), aligned to the content map and cached in the artifact."""

from __future__ import annotations

import os
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .config import MAP_SPACES, ProjectionConfig
from .errors import ConfigError
from .events import ProgressFn, emit
from .scoring.blend import joint_space
from .store import Artifact

if TYPE_CHECKING:
    from .scoring.similarity import SimilarityIndex
    from .store import ArtifactStore



def hybrid_space(content_unit: np.ndarray, has_c: np.ndarray, collab_unit: np.ndarray, has_k: np.ndarray,
                 alpha: float, scale: tuple[float, float] = (1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """The joint vectors whose inner products are the blend (``scoring.blend.joint_space``), and who has one.

    ``scale``: each space's typical 1/std (``Calibration.typical``); the blend's per-query standardisation
    has no symmetric vector space, so the maps use the catalogue's median scale per space instead."""
    return joint_space(content_unit, collab_unit, alpha, scale), has_c | has_k


def exact_knn(x: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine kNN (self first, distance 1 - cos) of unit rows, in blocks: what UMAP would approximate."""
    n = x.shape[0]
    k = min(k, n)
    idx = np.empty((n, k), dtype=np.int32)
    dist = np.empty((n, k), dtype=np.float32)
    for lo in range(0, n, block):
        s = x[lo : lo + block] @ x.T
        r = np.arange(s.shape[0])
        s[r, lo + r] = np.inf  # itself first
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[lo : lo + block] = np.take_along_axis(part, order, axis=1)
        d = 1.0 - np.take_along_axis(ps, order, axis=1)
        d[:, 0] = 0.0
        dist[lo : lo + block] = np.clip(d, 0.0, 2.0)
    return idx, dist


_UMAP_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.distances", "umap.spectral", "umap.sparse")


def _cache_umap_kernels() -> None:
    """Keep umap-learn's compiled kernels on disk: it jits them without numba's cache, so every new process (a
    job worker, a test run) spent ~15 s compiling before its first map; with the cache only the first one does."""
    import sys

    from numba.core.dispatcher import Dispatcher

    for name in _UMAP_MODULES:
        for fn in list(vars(sys.modules.get(name) or object).values()):
            if isinstance(fn, Dispatcher) and not fn.signatures:
                try:
                    fn.enable_caching()
                except (RuntimeError, OSError):  # no writable place for a cache: it compiles as before
                    return


def umap_2d(x: np.ndarray, has: np.ndarray, cfg: ProjectionConfig, cache_dir: str | None = None) -> np.ndarray:
    """2-D coordinates of the rows that have a vector (NaN elsewhere); umap is imported only here."""
    n = x.shape[0]
    out = np.full((n, 2), np.nan, dtype=np.float32)
    rows = np.flatnonzero(has)
    if len(rows) == 0:
        return out
    if len(rows) < 4:  # too few points for a manifold: place them on a line
        out[rows, 0] = np.arange(len(rows), dtype=np.float32)
        out[rows, 1] = 0.0
        return out
    if cache_dir:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir)
            from numba.core import config as numba_config

            numba_config.reload_config()  # numba reads its settings once on import (our rating kernels import it)
        except OSError:  # read-only or full artifacts folder: numba just compiles without its cache
            pass
    xs = x[rows]
    norms = np.linalg.norm(xs, axis=1, keepdims=True)
    xs = xs / np.maximum(norms, 1e-12)
    k = min(cfg.n_neighbors, len(rows) - 1)
    knn = exact_knn(xs, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

        _cache_umap_kernels()
        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=k,
            min_dist=cfg.min_dist,
            metric="cosine",
            n_epochs=cfg.epochs_for(len(rows)) if hasattr(cfg, "epochs_for") else cfg.n_epochs,
            random_state=cfg.seed,
            init="spectral" if len(rows) > k + 2 else "random",
            precomputed_knn=knn,
            low_memory=True,
            verbose=False,
        )
        emb = reducer.fit_transform(xs)
    out[rows] = np.asarray(emb, dtype=np.float32)
    return out


def align(coords: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate/reflect, scale and shift ``coords`` onto ``reference`` (orthogonal Procrustes on shared rows)."""
    from scipy.linalg import orthogonal_procrustes

    both = np.isfinite(coords).all(axis=1) & np.isfinite(reference).all(axis=1)
    if both.sum() < 3:
        return coords
    a, b = coords[both].astype(np.float64), reference[both].astype(np.float64)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ma, b - mb
    r, sv = orthogonal_procrustes(a0, b0)
    scale = sv / max(float((a0**2).sum()), 1e-12)
    return ((coords - ma) @ r * scale + mb).astype(np.float32)


def projection_name(space: str, alpha: float, cfg: ProjectionConfig) -> str:
    """File stem of a cached map: hybrid maps per alpha rounded to the configured step."""
    if space == "hybrid":
        step = cfg.alpha_step
        a = round(round(alpha / step) * step, 3)
        return f"proj_hybrid_a{a:.3g}_{cfg.key()}"
    return f"proj_{space}_{cfg.key()}"


def rounded_alpha(alpha: float, cfg: ProjectionConfig) -> float:
    return float(min(1.0, max(0.0, round(round(alpha / cfg.alpha_step) * cfg.alpha_step, 6))))


def projection_for(store: "ArtifactStore", art: "Artifact", index: "SimilarityIndex", cfg: ProjectionConfig,
                   space: str, alpha: float, progress: "ProgressFn | None" = None,
                   on_notice: "Callable[[str], None] | None" = None) -> tuple[np.ndarray, "Artifact"]:
    """The cached map of ``space`` or compute it (aligned to the content map), store it; returns it and the
    artifact that now holds it (a new object when the map was added)."""
    if space not in MAP_SPACES:
        raise ConfigError(f"Unknown space {space!r}; choose {', '.join(MAP_SPACES)}.")
    if not (0.0 <= float(alpha) <= 1.0):
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}.")
    name = projection_name(space, alpha, cfg)
    if art.has(f"{name}.npy"):
        return art.array(name), art
    if not art.cached:
        return _compute(store, art, index, cfg, space, alpha, name, progress, on_notice)
    # one UMAP run per map across processes: wait for whoever computes it, then read theirs
    with store.lock(art.manifest["fingerprint"], f"{art.manifest['key']}.{name}"):
        art = Artifact(art.path, store.read_manifest(art), art.memory)
        if art.has(f"{name}.npy"):
            return art.array(name), art
        return _compute(store, art, index, cfg, space, alpha, name, progress, on_notice)


def _compute(store: "ArtifactStore", art: "Artifact", index: "SimilarityIndex", cfg: ProjectionConfig, space: str,
             alpha: float, name: str, progress: "ProgressFn | None",
             on_notice: "Callable[[str], None] | None") -> tuple[np.ndarray, "Artifact"]:
    """Run UMAP for one map (aligned to the content map, computed first when missing) and store it."""
    reference = None
    if space != "content":
        reference, art = projection_for(store, art, index, cfg, "content", 0.5, progress, on_notice)
    t0 = time.perf_counter()
    cache_dir = str(store.root / ".numba-cache")
    if space == "content":
        x, has = index.content, index.has_content
    elif space == "collab":
        x, has = index.collab, index.has_collab
    else:
        x, has = hybrid_space(index.content, index.has_content, index.collab, index.has_collab,
                              rounded_alpha(alpha, cfg), index.cal.typical)
    emit(progress, "projection", f"UMAP of {int(np.count_nonzero(has)):,} movies, first time only", epoch=0, epochs=1)
    coords = umap_2d(x, has, cfg, cache_dir)
    if reference is not None:
        coords = align(coords, reference)
    secs = time.perf_counter() - t0
    timings: dict[str, Any] = dict(art.manifest.get("projection_seconds") or {})
    timings[name] = secs
    art = store.add(art, {name: coords}, {"projection_seconds": timings}, on_notice=on_notice)
    emit(progress, "projection", f"{space} map ready in {secs:.1f} s", epoch=1, epochs=1)
    return coords, art
