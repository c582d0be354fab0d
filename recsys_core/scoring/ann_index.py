"""Approximate nearest neighbours (faiss) for catalogues too large for exact cosine top-k.

Exact top-k over pre-normalised float32 is a matrix-vector product: ~10 ms per query at 1M items
(d=64) and linear in the catalogue. Past ``AnnConfig.threshold`` items the similarity layer asks an
ANN index instead. Everything here works on unit vectors with the inner-product metric, so a score
is a cosine.

One index serves every blend: it stores each movie as the concatenation ``[c_unit, cf_unit]`` (a zero
half where the movie has no embedding in that space) and the query is scaled instead,
``[alpha * c_q, (1 - alpha) * cf_q]``; the inner product is then exactly
``alpha * cos_content + (1 - alpha) * cos_collab``, the hybrid score. That joint index is weakest
near alpha 0 or 1 (its neighbourhoods mix both spaces), so ``HybridAnn`` by default also keeps one
index per space and re-scores the union of their candidates exactly: measured recall@20 >= 0.97 at
every alpha on 1M synthetic items (benchmarks/bench_ann.py).

faiss is imported inside functions so ``import recsys_core`` stays light.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..config import AnnConfig
from ..errors import CacheError, ConfigError
from .blend import blend, joint_query

Space = Literal["content", "collab"]
_PURE = ("content", "collab")
_PARALLEL_MIN = 16  # query batches smaller than this run on one thread


def faiss_module() -> Any:
    """Import faiss on first use, with an install hint instead of a bare ImportError."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the approximate-neighbour index needs faiss: pip install faiss-cpu "
            "(or keep catalogues below AnnConfig.threshold to use exact search)"
        ) from exc
    return faiss


def _as_matrix(x: np.ndarray, what: str) -> np.ndarray:
    """C-contiguous float32 2-D, which is what faiss reads without copying again."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D array [rows, dim], got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{what} contains NaN or inf; normalise with zero rows for missing embeddings")
    return np.ascontiguousarray(a)


class AnnIndex:
    """A faiss inner-product index over unit vectors that returns the caller's row ids."""

    def __init__(self, index: Any, cfg: AnnConfig) -> None:
        """Wrap a built (or loaded) faiss index; use ``build_index`` or ``AnnIndex.load``."""
        faiss = faiss_module()
        self._index = index
        self._inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
        self.cfg = cfg

    @property
    def dim(self) -> int:
        """Vector width the index expects from queries."""
        return int(self._index.d)

    def __len__(self) -> int:
        """Number of indexed vectors."""
        return int(self._index.ntotal)

    def _search_params(self, k: int) -> Any:
        """Per-call query knobs (no shared state mutated, so concurrent searches are safe)."""
        faiss = faiss_module()
        if isinstance(self._inner, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(efSearch=max(self.cfg.ef_search, k))
        if isinstance(self._inner, faiss.IndexIVF):
            # deeper lists (filters fetch more) spread over more cells: probe in proportion, as ef grows with k
            nprobe = max(self.cfg.nprobe, -(-self.cfg.nprobe * k // self.cfg.candidates))
            return faiss.SearchParametersIVF(nprobe=min(nprobe, self._inner.nlist))
        return None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and inner-product scores per query row, best first; excludes nothing.

        Returns int64 ids [m, k] and float32 scores [m, k]; where fewer than k neighbours are found
        the id is -1 and the score -inf. Callers drop the query movie itself (ask for k + 1).
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        q = _as_matrix(queries, "queries")
        if q.shape[1] != self.dim:
            raise ConfigError(f"queries have {q.shape[1]} columns but the index was built on {self.dim}")
        k_eff = int(min(k, max(len(self), 1)))
        params = self._search_params(k_eff)
        faiss = faiss_module()
        threads = faiss.omp_get_max_threads()
        if q.shape[0] < _PARALLEL_MIN and threads > 1:
            # a lone query gains nothing from OpenMP, and on a busy machine its barrier costs ~10 ms
            faiss.omp_set_num_threads(1)
            try:
                scores, ids = self._index.search(q, k_eff, params=params)
            finally:
                faiss.omp_set_num_threads(threads)
        else:
            scores, ids = self._index.search(q, k_eff, params=params)
        scores = scores.astype(np.float32, copy=False)
        scores[ids < 0] = -np.inf
        if k_eff < k:  # pad so callers always get [m, k]
            pad = k - k_eff
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return ids.astype(np.int64, copy=False), scores

    def save(self, path: str | os.PathLike) -> None:
        """Write the index atomically (temp file in the same folder + os.replace); no pickle."""
        faiss = faiss_module()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            faiss.write_index(self._index, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike, cfg: AnnConfig | None = None) -> "AnnIndex":
        """Read an index written by ``save``; ``cfg`` supplies the query-time knobs."""
        faiss = faiss_module()
        p = Path(path)
        if not p.is_file():
            raise CacheError(f"no ANN index at {p}; rebuild it with build_index(...).save(path)")
        try:
            index = faiss.read_index(str(p))
        except RuntimeError as exc:
            raise CacheError(f"ANN index {p} is unreadable ({exc}); delete it and rebuild") from exc
        return cls(index, cfg or AnnConfig())


def build_index(
    unit_vectors: np.ndarray, cfg: AnnConfig | None = None, ids: np.ndarray | None = None
) -> AnnIndex:
    """Index unit vectors (rows) for inner-product search; ``ids`` maps them back to catalogue rows."""
    faiss = faiss_module()
    cfg = cfg or AnnConfig()
    x = _as_matrix(unit_vectors, "unit_vectors")
    n, d = x.shape
    if n == 0:
        raise ConfigError("cannot build an ANN index over zero vectors; check the embedding matrix")
    row_ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    if row_ids.shape != (n,):
        raise ConfigError(f"ids must have one entry per vector ({n}), got shape {row_ids.shape}")
    if cfg.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = cfg.ef_construction
    else:
        nlist = cfg.nlist or max(1, int(2 * np.sqrt(n)))
        nlist = min(nlist, n)
        quantizer = faiss.IndexFlatIP(d)
        inner = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(cfg.seed)
        train = x if n <= cfg.train_size else x[np.sort(rng.choice(n, cfg.train_size, replace=False))]
        inner.cp.seed = cfg.seed
        inner.cp.min_points_per_centroid = 1  # small catalogues: no "please provide more points" warning on stderr
        inner.cp.niter = cfg.kmeans_iters
        inner.train(train)
    index = faiss.IndexIDMap(inner)
    index.add_with_ids(x, row_ids)
    return AnnIndex(index, cfg)


def exact_search(
    unit_vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 262_144
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product in row chunks (bounded memory): the reference for recall."""
    x = _as_matrix(unit_vectors, "unit_vectors")
    q = _as_matrix(queries, "queries")
    m, n = q.shape[0], x.shape[0]
    k_eff = min(k, n)
    best_s = np.full((m, 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((m, 0), dtype=np.int64)
    for start in range(0, n, chunk):
        s = q @ x[start : start + chunk].T
        kk = min(k_eff, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        best_i = np.concatenate([best_i, part.astype(np.int64) + start], axis=1)
        if best_s.shape[1] > k_eff:
            keep = np.argpartition(-best_s, k_eff - 1, axis=1)[:, :k_eff]
            best_s = np.take_along_axis(best_s, keep, axis=1)
            best_i = np.take_along_axis(best_i, keep, axis=1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, axis=1), np.take_along_axis(best_s, order, axis=1)


def recall_at_k(exact_ids: np.ndarray, approx_ids: np.ndarray) -> float:
    """Mean fraction of each exact top-k list found in the approximate one (-1 padding ignored)."""
    e = np.atleast_2d(np.asarray(exact_ids))
    a = np.atleast_2d(np.asarray(approx_ids))
    if e.shape[0] != a.shape[0]:
        raise ConfigError(f"exact and approximate results cover {e.shape[0]} vs {a.shape[0]} queries")
    if e.size == 0:
        return 1.0
    hits = np.array([np.isin(e_row[e_row >= 0], a_row[a_row >= 0]).sum() for e_row, a_row in zip(e, a, strict=True)])
    sizes = (e >= 0).sum(axis=1)
    return float(hits.sum() / max(int(sizes.sum()), 1))


def _check_alpha(alpha: float) -> float:
    """The blend weight is a convex weight in [0, 1]."""
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1] (1 = content only, 0 = collaborative only), got {alpha}")
    return a


class HybridAnn:
    """ANN over both spaces behind one call: pure lists and the hybrid list at any alpha.

    ``content`` and ``collab`` are the unit-normalised embedding matrices aligned by movie row, with
    zero rows for movies that lack that embedding (as the exact path stores them). Each query gathers
    candidates from the indexes ``cfg.hybrid_via`` names (per-space indexes and/or the joint
    ``[content, collab]`` index) and re-scores them exactly, so returned scores are exact cosines /
    exact blends and only membership is approximate.
    """

    def __init__(
        self, content: np.ndarray, collab: np.ndarray, indexes: dict[str, AnnIndex], cfg: AnnConfig
    ) -> None:
        """Assemble from built or loaded indexes; use ``HybridAnn.build`` or ``HybridAnn.load``."""
        self.content = _as_matrix(content, "content")
        self.collab = _as_matrix(collab, "collab")
        self.cfg = cfg
        if self.content.shape[0] != self.collab.shape[0]:
            raise ConfigError(
                f"content has {self.content.shape[0]} rows but collab {self.collab.shape[0]}; "
                "align both by movie row (zero rows where a movie has no embedding)"
            )
        dims = {"content": self.content.shape[1], "collab": self.collab.shape[1]}
        dims["joint"] = dims["content"] + dims["collab"]
        for name, index in indexes.items():
            if name not in dims or index.dim != dims[name]:
                raise ConfigError(f"the {name!r} index does not match these embeddings; rebuild with HybridAnn.build")
        if not indexes:
            raise ConfigError("HybridAnn needs at least one index; build it with HybridAnn.build")
        self.indexes = dict(indexes)
        self._has = {"content": np.any(self.content != 0, axis=1), "collab": np.any(self.collab != 0, axis=1)}

    def __len__(self) -> int:
        """Number of movie rows covered."""
        return int(self.content.shape[0])

    @classmethod
    def build(cls, content: np.ndarray, collab: np.ndarray, cfg: AnnConfig | None = None) -> "HybridAnn":
        """Build the indexes ``cfg.hybrid_via`` asks for (per space over the rows that have it; joint)."""
        cfg = cfg or AnnConfig()
        c = _as_matrix(content, "content")
        cf = _as_matrix(collab, "collab")
        if c.shape[0] != cf.shape[0]:
            raise ConfigError(f"content has {c.shape[0]} rows but collab {cf.shape[0]}; align both by movie row")
        indexes: dict[str, AnnIndex] = {}
        if cfg.hybrid_via in ("pure", "both"):
            for name, m in (("content", c), ("collab", cf)):
                rows = np.flatnonzero(np.any(m != 0, axis=1))
                if rows.size:
                    indexes[name] = build_index(m[rows], cfg, ids=rows)
        if cfg.hybrid_via in ("joint", "both"):
            indexes["joint"] = build_index(np.hstack([c, cf]), cfg)
        if not indexes:
            raise ConfigError("both embedding matrices are all zero rows; nothing to index")
        return cls(c, cf, indexes, cfg)

    def _check_row(self, row: int) -> int:
        """A movie row inside the catalogue."""
        r = int(row)
        if not 0 <= r < len(self):
            raise ConfigError(f"movie row {row} is outside the catalogue (0..{len(self) - 1})")
        return r

    def query_vector(self, row: int, alpha: float, inv_std: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
        """The scaled joint query ``[alpha c_q / std_c, (1 - alpha) cf_q / std_k]`` for one movie row."""
        a = _check_alpha(alpha)
        r = self._check_row(row)
        return joint_query(self.content[r], self.collab[r], a, inv_std)

    def neighbours(self, row: int, source: str, n: int, alpha: float = 0.5,
                   inv_std: tuple[float, float] = (1.0, 1.0)) -> tuple[np.ndarray, float]:
        """Approximate top-n rows (sorted by row, no padding) of one index ("content", "collab" or "joint").

        Also returns the n-th best score found (+inf when none): no row left out should score above it.
        """
        if source == "joint":
            q = self.query_vector(row, alpha, inv_std)
        elif source in _PURE:
            q = (self.content if source == "content" else self.collab)[self._check_row(row)]
        else:
            raise ConfigError(f"source must be 'content', 'collab' or 'joint', got {source!r}")
        ids, scores = self.indexes[source].search(q, n)
        found = ids[0] >= 0
        nth = float(scores[0][found][-1]) if found.any() else np.inf
        return np.unique(ids[0][found]), nth

    def sources(self, row: int, alpha: float) -> list[str]:
        """Indexes that can hold a good neighbour of ``row`` at this alpha (the joint one at every alpha: its
        cells differ from the per-space ones, so it adds the neighbours they miss)."""
        out = [s for s, use in (("content", alpha > 0), ("collab", alpha < 1)) if use and s in self.indexes
               and self._has[s][row]]
        return out + ["joint"] if "joint" in self.indexes else out

    def _candidates(self, row: int, alpha: float, n: int) -> np.ndarray:
        """Union of approximate top-n rows from every index that can hold a good neighbour."""
        found = [self.neighbours(row, s, n, alpha)[0] for s in self.sources(row, alpha)]
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    def search(self, row: int, alpha: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Hybrid top-k for one movie row: ids and exact ``alpha*cos_c + (1-alpha)*cos_cf``, best first.

        alpha=1 / alpha=0 give the pure content / collaborative lists. The query movie itself is
        usually among the results; ask for k + 1 and drop it. Empty when the movie has no embedding
        the blend uses.
        """
        a = _check_alpha(alpha)
        r = self._check_row(row)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        cand = self._candidates(r, a, max(int(k), self.cfg.candidates))
        if cand.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        zero = np.zeros(cand.size, dtype=np.float32)
        c = self.content[cand] @ self.content[r] if a > 0 else zero  # a space at weight 0 is never computed
        kk = self.collab[cand] @ self.collab[r] if a < 1 else zero
        scores = blend(c, kk, np.float32(a)).astype(np.float32)
        kk = min(int(k), cand.size)
        top = np.argpartition(-scores, kk - 1)[:kk]
        top = top[np.lexsort((cand[top], -scores[top]))]  # score desc, row asc on ties (deterministic)
        return cand[top], scores[top]

    def search_space(self, row: int, space: Space, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Pure-space top-k (exact cosine scores) for one movie row; empty without that embedding."""
        if space not in _PURE:
            raise ConfigError(f"space must be one of {_PURE}, got {space!r}")
        r = self._check_row(row)
        if not self._has[space][r]:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return self.search(r, 1.0 if space == "content" else 0.0, k)

    def save(self, folder: str | os.PathLike) -> None:
        """Write each index atomically into ``folder`` (the embeddings live in the artifact already)."""
        f = Path(folder)
        for name, index in self.indexes.items():
            index.save(f / f"ann_{name}.faiss")

    @classmethod
    def load(
        cls, folder: str | os.PathLike, content: np.ndarray, collab: np.ndarray, cfg: AnnConfig | None = None
    ) -> "HybridAnn":
        """Read the indexes written by ``save``; pass the same embeddings they were built from."""
        cfg = cfg or AnnConfig()
        f = Path(folder)
        names = [n for n in ("content", "collab", "joint") if (f / f"ann_{n}.faiss").is_file()]
        if not names:
            raise CacheError(f"no ANN indexes in {f}; rebuild with HybridAnn.build(...).save(folder)")
        return cls(content, collab, {n: AnnIndex.load(f / f"ann_{n}.faiss", cfg) for n in names}, cfg)


