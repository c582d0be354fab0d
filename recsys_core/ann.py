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

import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from .errors import CacheError, ConfigError
from .similarity import Filters, QueryResult, RankedList, SimilarityIndex, top_k

if TYPE_CHECKING:
    from .store import Artifact, ArtifactStore

IndexKind = Literal["hnsw", "ivf"]
Space = Literal["content", "collab"]
HybridVia = Literal["pure", "joint", "both"]
_KINDS = ("hnsw", "ivf")
_PURE = ("content", "collab")
_PARALLEL_MIN = 16  # query batches smaller than this run on one thread
_QUERY_TIME = ("threshold", "ef_search", "nprobe", "candidates")  # change answers, not the stored index


def _faiss() -> Any:
    """Import faiss on first use, with an install hint instead of a bare ImportError."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the approximate-neighbour index needs faiss: pip install faiss-cpu "
            "(or keep catalogues below AnnConfig.threshold to use exact search)"
        ) from exc
    return faiss


@dataclass(frozen=True)
class AnnConfig:
    """When to switch to approximate search and how the index trades recall for speed."""

    threshold: int = 200_000  # ANN above this many items; exact numpy top-k below (it is < 2 ms there)
    kind: IndexKind = "ivf"  # "ivf": inverted lists, cheaper build; "hnsw": graph, faster queries, slow build
    hnsw_m: int = 32  # graph degree: more -> better recall, more memory (~8*M bytes/item) and build time
    ef_construction: int = 64  # build-time beam width
    ef_search: int = 128  # query-time beam width (raised to k when k is larger)
    nlist: int = 0  # IVF lists; 0 -> 2*sqrt(n), at least 1
    nprobe: int = 32  # IVF lists visited per query
    train_size: int = 100_000  # IVF: k-means trains on at most this many sampled rows
    kmeans_iters: int = 10  # IVF: k-means iterations (faiss default 25 buys little recall here)
    hybrid_via: HybridVia = "both"  # HybridAnn candidate sources: per-space indexes, the joint one, or both
    candidates: int = 100  # HybridAnn: approximate neighbours per index, re-scored exactly
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject out-of-range settings early, with the fix in the message."""
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for a setting faiss cannot use (also run by ``EngineConfig.validate``)."""
        if self.kind not in _KINDS:
            raise ConfigError(f"AnnConfig.kind must be one of {_KINDS}, got {self.kind!r}")
        if self.hybrid_via not in ("pure", "joint", "both"):
            raise ConfigError(f"AnnConfig.hybrid_via must be 'pure', 'joint' or 'both', got {self.hybrid_via!r}")
        for name in ("hnsw_m", "ef_construction", "ef_search", "nprobe", "train_size", "kmeans_iters", "candidates"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"AnnConfig.{name} must be a positive integer, got {value!r}")
        if self.hnsw_m < 4 or self.hnsw_m > 256:
            raise ConfigError(f"AnnConfig.hnsw_m must be in [4, 256] (16-48 is typical), got {self.hnsw_m}")
        if not isinstance(self.nlist, (int, np.integer)) or self.nlist < 0:
            raise ConfigError(f"AnnConfig.nlist must be >= 0 (0 picks 2*sqrt(n)), got {self.nlist!r}")
        if not isinstance(self.threshold, (int, np.integer)) or self.threshold < 0:
            raise ConfigError(f"AnnConfig.threshold must be an item count >= 0, got {self.threshold!r}")

    def build_key(self) -> str:
        """Short hash of the settings that shape a built index (query-time knobs excluded): names its files."""
        d = asdict(self)
        for name in _QUERY_TIME:
            d.pop(name)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def use_ann(n_items: int, cfg: AnnConfig | None = None) -> bool:
    """Whether a catalogue is large enough that an ANN index beats exact search."""
    return int(n_items) > (cfg or AnnConfig()).threshold


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
        faiss = _faiss()
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
        faiss = _faiss()
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
        faiss = _faiss()
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
        faiss = _faiss()
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
        faiss = _faiss()
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
    faiss = _faiss()
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
    hits = np.array([np.isin(e_row[e_row >= 0], a_row[a_row >= 0]).sum() for e_row, a_row in zip(e, a)])
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

    def query_vector(self, row: int, alpha: float) -> np.ndarray:
        """The scaled joint query ``[alpha * c_q, (1 - alpha) * cf_q]`` for one movie row."""
        a = _check_alpha(alpha)
        r = self._check_row(row)
        return np.concatenate([a * self.content[r], (1.0 - a) * self.collab[r]]).astype(np.float32)

    def neighbours(self, row: int, source: str, n: int, alpha: float = 0.5) -> tuple[np.ndarray, float]:
        """Approximate top-n rows (sorted by row, no padding) of one index ("content", "collab" or "joint").

        Also returns the n-th best score found (+inf when none): no row left out should score above it.
        """
        if source == "joint":
            q = self.query_vector(row, alpha)
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
        scores = np.zeros(cand.size, dtype=np.float32)
        if a > 0:
            scores += np.float32(a) * (self.content[cand] @ self.content[r])
        if a < 1:
            scores += np.float32(1.0 - a) * (self.collab[cand] @ self.collab[r])
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


_NO_ROWS = np.empty(0, dtype=np.int64)


def _empty_list() -> RankedList:
    """The list a movie gets when it lacks the embedding that list ranks by."""
    none = np.empty(0, dtype=np.float32)
    return RankedList(_NO_ROWS, none, none, none)


def _row_hash(x: np.ndarray, salt: int = 0, block: int = 65_536) -> np.ndarray:
    """uint64 hash of each row's bits (integer arithmetic, so bit-identical rows always hash alike)."""
    coef = np.random.default_rng(salt).integers(1, 2**63, x.shape[1], dtype=np.uint64) | np.uint64(1)
    out = np.empty(x.shape[0], dtype=np.uint64)
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    for lo in range(0, x.shape[0], block):
        out[lo : lo + block] = (bits[lo : lo + block].astype(np.uint64) * coef).sum(axis=1, dtype=np.uint64)
    return out


class _Duplicates:
    """Rows with identical vectors (MovieLens has many: same genres and year, no tags), grouped once.

    Their scores tie exactly, and exact search keeps the lowest rows of a tie; an index returns any of
    them. Adding every duplicate of a top-k row to the candidates lets the ANN lists break ties the same way.
    """

    def __init__(self, hashes: np.ndarray) -> None:
        """Group rows by hash (a collision only adds candidates, which are all re-scored exactly)."""
        _, inv, counts = np.unique(hashes, return_inverse=True, return_counts=True)
        self.group = inv.astype(np.int64)
        self.size = counts[inv]
        self.order = np.argsort(inv, kind="stable").astype(np.int64)
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def of(self, rows: np.ndarray) -> np.ndarray:
        """Every row sharing a vector with one of ``rows`` (sorted; empty when none has a twin)."""
        rows = rows[self.size[rows] > 1]
        if rows.size == 0:
            return _NO_ROWS
        groups = np.unique(self.group[rows])
        return np.unique(np.concatenate([self.order[self.starts[g] : self.starts[g + 1]] for g in groups]))


class AnnSimilarity:
    """``SimilarityIndex.query`` with candidates from a HybridAnn: the same lists, scores, rules and notes.

    Only which rows are looked at is approximate: every candidate is re-scored with the exact path's
    formulas, the query movie and rows lacking the list's embedding are dropped as there, and filters
    count what they removed from the (approximate) unfiltered top-k. Each index is asked for
    ``cfg.candidates`` rows (4k with filters), then 4x more until the list is settled: as many rows as
    exact search would give, the last of them scoring at least each index's n-th score (what a row left
    out can score at most). A list still unsettled at ``max_fetch`` per index (a narrow filter, a thin
    index) is answered by the exact scan instead, counted in ``fallbacks``.
    """

    def __init__(self, index: SimilarityIndex, ann: HybridAnn, max_fetch: int = 4096) -> None:
        """Pair the exact index (scores, filters, notes) with an ANN index built from its unit vectors."""
        if len(ann) != index.n:
            raise ConfigError(f"the ANN index covers {len(ann)} movies but the catalogue has {index.n}; rebuild it")
        self.index = index
        self.ann = ann
        self.max_fetch = int(max_fetch)
        self.fallbacks = 0
        any_vec = index.has_content | index.has_collab
        self._valid_all = {"content": index.has_content, "collab": index.has_collab, "both": any_vec}
        self._n_valid = {name: int(m.sum()) for name, m in self._valid_all.items()}
        self._dups: dict[str, _Duplicates] = {}  # per rule, built on first use (~0.5 s at 1M movies)

    @property
    def backend(self) -> str:
        """What serves ``query`` (shown to users beside the lists' provenance)."""
        return f"ann (faiss {self.ann.cfg.kind})"

    def _rule(self, row: int, name: str) -> str:
        """What list ``name`` of ``row`` ranks by: "content", "collab", "both" (the blend) or "none"."""
        if name == "hybrid":
            return self.index.hybrid_rule(row)[0]
        return name if self._valid_all[name][row] else "none"

    def _candidates(self, row: int, rule: str, alpha: float, n: int, memo: dict) -> tuple[np.ndarray, float]:
        """Sorted rows the indexes propose (n per index) among the rule's rows, the query excluded, and a bound
        on the list score of every row left out (from each index's n-th score)."""
        a = {"content": 1.0, "collab": 0.0}.get(rule, alpha)
        found: dict[str, tuple[np.ndarray, float]] = {}
        for src in self.ann.sources(row, a):
            key = (src, n, a if src == "joint" else None)
            if key not in memo:
                memo[key] = self.ann.neighbours(row, src, n, a)
            found[src] = memo[key]
        if not found:
            return _NO_ROWS, np.inf
        cand = np.unique(np.concatenate([ids for ids, _ in found.values()]))
        cand = cand[self._valid_all[rule][cand] & (cand != row)]
        if rule != "both":  # every source ranks by this space's cosine
            return cand, min(nth for _, nth in found.values())
        # a row outside both pure top-n has c <= c_n and k <= k_n (0 where it lacks the space), so its blend
        # is at most a*c_n + (1-a)*k_n; outside the joint top-n it is at most the joint n-th score
        bound = found["joint"][1] if "joint" in found else np.inf
        weights = [(src, w) for src, w in (("content", a), ("collab", 1.0 - a)) if w > 0]
        if all(src in found for src, _ in weights):
            bound = min(bound, sum(w * max(found[src][1], 0.0) for src, w in weights))
        return cand, bound

    def _score(self, row: int, rule: str, alpha: float, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """The list score and both cosines of ``rows``, with ``SimilarityIndex.scores``' formulas."""
        idx = self.index
        c = idx.content[rows] @ idx.content[row]
        kk = idx.collab[rows] @ idx.collab[row]
        if rule == "content":
            return c, c, kk
        if rule == "collab":
            return kk, c, kk
        a = np.float32(alpha)
        return a * c + (np.float32(1) - a) * kk, c, kk

    def _twins(self, rule: str) -> _Duplicates:
        """Identical-vector groups of the space(s) a rule ranks by ("both": identical in both spaces)."""
        if rule not in self._dups:
            parts = [_row_hash(getattr(self.index, sp), salt) for salt, sp in enumerate(("content", "collab"), 1)
                     if rule in (sp, "both")]
            h = parts[0] * np.uint64(0x9E3779B97F4A7C15) + parts[1] if len(parts) == 2 else parts[0]
            self._dups[rule] = _Duplicates(h)
        return self._dups[rule]

    def _settled(self, s: np.ndarray, ok: np.ndarray | None, need: tuple[int, int], bound: float) -> bool:
        """Whether the candidates fill the list as exact search would: enough of them, and the last row the
        (filtered) list needs scores at least the bound on every row left out."""
        need_all, need_ok = need
        kept = s if ok is None else s[ok]
        if len(s) < need_all or len(kept) < need_ok:
            return False
        return need_ok == 0 or float(-np.partition(-kept, need_ok - 1)[need_ok - 1]) >= bound

    def _fetch(self, row: int, rule: str, alpha: float, k: int, ok: np.ndarray | None,
               memo: dict) -> np.ndarray | None:
        """Candidates that settle the list (fetching x4 more per index each time), or None past ``max_fetch``."""
        need_all = min(k, self._n_valid[rule] - 1)  # the query has this list's embedding, so it is one of them
        need = need_all if ok is None else min(k, int(np.count_nonzero(ok & self._valid_all[rule])) - int(ok[row]))
        n = max(k + 1, self.ann.cfg.candidates) if ok is None else max(4 * k, self.ann.cfg.candidates)
        while True:
            cand, bound = self._candidates(row, rule, alpha, n, memo)
            s = self._score(row, rule, alpha, cand)[0]
            if self._settled(s, None if ok is None else ok[cand], (need_all, need), bound):
                return cand
            if n >= self.max_fetch:
                return None
            n = min(4 * n, self.max_fetch)

    def _list(self, row: int, name: str, k: int, alpha: float, ok: np.ndarray | None,
              memo: dict) -> tuple[RankedList, np.ndarray] | None:
        """One list and the rows filters removed from its unfiltered top-k; None sends it to the exact scan."""
        rule = self._rule(row, name)
        if rule == "none":
            return _empty_list(), _NO_ROWS
        cand = self._fetch(row, rule, alpha, k, ok, memo)
        if cand is None:
            return None
        for again in (True, False):
            s, c, kk = self._score(row, rule, alpha, cand)
            top = top_k(s, k, np.ones(len(cand), dtype=bool))  # cand is sorted: ties go to the lower row, as exact
            top_ok = top if ok is None else top_k(s, k, ok[cand])
            if not again:
                break
            twins = self._twins(rule).of(cand[np.union1d(top, top_ok)])
            twins = twins[self._valid_all[rule][twins] & (twins != row)]
            if np.isin(twins, cand, assume_unique=True).all():
                break
            cand = np.union1d(cand, twins)
        gone = _NO_ROWS if ok is None else cand[top][~ok[cand[top]]]
        rows = cand[top_ok]
        idx = self.index
        cs = np.where(idx.has_content[rows], c[top_ok], np.nan).astype(np.float32)
        ks = np.where(idx.has_collab[rows], kk[top_ok], np.nan).astype(np.float32)
        return RankedList(rows, s[top_ok].astype(np.float32), cs, ks), gone

    def query(self, row: int, k: int = 20, alpha: float = 0.5, filters: Filters | None = None) -> QueryResult:
        """Content, collaborative and hybrid top-k for one movie, as ``SimilarityIndex.query`` gives them."""
        idx = self.index
        idx.check_query(row, k, alpha)
        ok = idx.allowed(filters)
        memo: dict = {}
        exact: QueryResult | None = None
        lists: dict[str, RankedList] = {}
        removed: dict[str, int] = {}
        removed_rows: dict[str, np.ndarray] = {}
        for name in ("content", "collab", "hybrid"):
            got = self._list(row, name, k, alpha, ok, memo)
            if got is None:
                self.fallbacks += 1
                exact = exact if exact is not None else idx.query(row, k, alpha, filters)
                got = getattr(exact, name), exact.removed_rows[name]
            lists[name], removed_rows[name] = got
            removed[name] = int(len(got[1]))
        return QueryResult(lists["content"], lists["collab"], lists["hybrid"], removed, removed_rows,
                           idx.query_notes(row))


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
             "build_seconds": round(seconds, 3), "faiss": _faiss().__version__, "config": asdict(cfg)}
    writers = {index_file(key, name): ix.save for name, ix in ann.indexes.items()}
    art = store.add_files(current, ANN_SECTION, key, writers, entry)
    return AnnSimilarity(index, ann), art, _info(ann, key, built=True, saved=True, seconds=seconds)


def _info(ann: HybridAnn, key: str, built: bool, saved: bool, seconds: float = 0.0) -> dict:
    """What served the queries, for ``Explorer.search_info`` (and tests): built now or loaded, saved or not."""
    return {"backend": f"ann (faiss {ann.cfg.kind})", "index_key": key, "indexes": sorted(ann.indexes),
            "built": built, "saved": saved, "build_seconds": round(seconds, 3),
            "files": [index_file(key, name) for name in sorted(ann.indexes)] if saved else []}
