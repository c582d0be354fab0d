"""Cosine top-k over pre-normalised float32 matrices, the alpha blend, filters and the collaborative "why"."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError
from .blend import blend, calibration, query_cal, query_weight

LIKED_AT = 4.0  # a rating at or above this counts as "liked" for the collaborative reason
_BLAS: list = []


def one_blas_thread():
    """Context running BLAS on one thread: a matrix-vector product is 20x slower when threads fight for cores."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except Exception:  # threadpoolctl missing or unable to inspect: run as is
            _BLAS.append(None)
    ctl = _BLAS[0]
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()


@dataclass(frozen=True)
class Filters:
    """Which candidates a list may show; filtered lists refill to k from further down."""

    min_ratings: int = 0
    genres: tuple[str, ...] = ()  # keep movies having ANY of these genres
    year_range: tuple[int, int] | None = None  # inclusive; movies without a year are dropped when set
    max_ratings: int | None = None  # hides blockbusters
    rows: tuple[int, ...] | None = None  # keep only these catalogue rows (a map selection); None = any row

    def __post_init__(self) -> None:
        object.__setattr__(self, "genres", tuple(self.genres))
        if self.rows is not None:
            object.__setattr__(self, "rows", tuple(int(r) for r in self.rows))
        if self.year_range is not None:
            object.__setattr__(self, "year_range", tuple(int(y) for y in self.year_range))

    def validate(self) -> None:
        """Refuse filters that can only be mistakes."""
        if self.min_ratings < 0:
            raise ConfigError(f"min_ratings must be >= 0, got {self.min_ratings}.")
        if self.max_ratings is not None and self.max_ratings < self.min_ratings:
            raise ConfigError(
                f"max_ratings ({self.max_ratings}) is below min_ratings ({self.min_ratings}); raise it or clear it."
            )
        if self.year_range is not None and (len(self.year_range) != 2 or self.year_range[0] > self.year_range[1]):
            raise ConfigError(f"year_range must be (first, last) with first <= last, got {self.year_range}.")

    @property
    def active(self) -> bool:
        return bool(self.min_ratings > 0 or self.genres or self.year_range is not None or self.max_ratings is not None
                    or self.rows is not None)


def unit_rows(x: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalise rows once (float32, C-contiguous); zero or masked-out rows stay zero and are flagged."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1)
    has = np.isfinite(norms) & (norms > 1e-12)
    if mask is not None:
        has &= np.asarray(mask, dtype=bool)
    out = np.zeros_like(x)
    out[has] = x[has] / norms[has, None]
    return out, has


def top_k(scores: np.ndarray, k: int, valid: np.ndarray) -> np.ndarray:
    """Rows of the k best valid scores, best first (argpartition, then sort only k)."""
    cand = np.flatnonzero(valid)
    if len(cand) == 0 or k <= 0:
        return np.empty(0, dtype=np.int64)
    s = scores[cand]
    if len(cand) > k:
        part = np.argpartition(-s, k - 1)[:k]
        cut = s[part].min()
        if np.count_nonzero(s == cut) > np.count_nonzero(s[part] == cut):  # a tie straddles the cut:
            above = np.flatnonzero(s > cut)  # keep its lowest rows, as a full sort would (argpartition picks any)
            part = np.concatenate([above, np.flatnonzero(s == cut)[: k - len(above)]])
        cand, s = cand[part], s[part]
    order = np.lexsort((cand, -s))  # ties: lower row first, so results are reproducible
    return cand[order]


@dataclass(frozen=True, eq=False)
class RankedList:
    """One ranked list as arrays: rows, blended score and both component scores (NaN when missing)."""

    rows: np.ndarray
    score: np.ndarray
    content_score: np.ndarray
    collab_score: np.ndarray


@dataclass(frozen=True, eq=False)
class QueryResult:
    """The three lists of one query plus what filters removed and notes for the reader."""

    content: RankedList
    collab: RankedList
    hybrid: RankedList
    removed: dict[str, int] = field(default_factory=dict)
    removed_rows: dict[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


class SimilarityIndex:
    """Both spaces normalised once plus the per-movie attributes filters need."""

    backend = "exact"  # what serves ``query``: a full numpy scan (recsys_core.ann.AnnSimilarity says "ann (...)")

    def __init__(
        self,
        content: np.ndarray,
        content_mask: np.ndarray,
        collab: np.ndarray,
        collab_mask: np.ndarray,
        n_ratings: np.ndarray,
        years: np.ndarray,
        genre_matrix: np.ndarray,
        genre_names: tuple[str, ...],
        collab_weight: np.ndarray | None = None,
    ) -> None:
        self.content, self.has_content = unit_rows(content, content_mask)
        self.collab, self.has_collab = unit_rows(collab, collab_mask)
        self.n = self.content.shape[0]
        # a candidate's collaborative cosine is scaled by its confidence (cold start: 1 for well-rated movies)
        w = np.ones(self.n, np.float32) if collab_weight is None else np.asarray(collab_weight, dtype=np.float32)
        self.collab_weight = np.where(self.has_collab, w, np.float32(0)).astype(np.float32)
        self.collab_cand = np.ascontiguousarray(self.collab * self.collab_weight[:, None])
        self.cal = calibration(self.content, self.has_content, self.collab, self.has_collab, self.collab_cand)
        self.n_ratings = np.asarray(n_ratings, dtype=np.int64)
        self.years = np.asarray(years, dtype=np.float64)  # NaN when unknown
        self.genre_matrix = np.asarray(genre_matrix, dtype=bool)
        self.genre_names = tuple(genre_names)
        self._genre_col = {g.lower(): i for i, g in enumerate(self.genre_names)}

    def allowed(self, filters: Filters | None) -> np.ndarray | None:
        """Boolean mask of movies the filters keep (None when no filter is active)."""
        if filters is None or not filters.active:
            return None
        filters.validate()
        ok = self.n_ratings >= filters.min_ratings
        if filters.max_ratings is not None:
            ok &= self.n_ratings <= filters.max_ratings
        if filters.year_range is not None:
            lo, hi = filters.year_range
            with np.errstate(invalid="ignore"):
                ok &= (self.years >= lo) & (self.years <= hi)
        if filters.genres:
            cols = [self._genre_col[g.lower()] for g in filters.genres if g.lower() in self._genre_col]
            ok &= self.genre_matrix[:, cols].any(axis=1) if cols else False
        if filters.rows is not None:
            rows = np.asarray(filters.rows, dtype=np.int64)
            if len(rows) and (rows.min() < 0 or rows.max() >= len(ok)):
                raise ConfigError(f"A filter row is outside this catalogue's rows 0-{len(ok) - 1}; "
                                  "pick the movies from this dataset.")
            keep = np.zeros(len(ok), dtype=bool)
            keep[rows] = True
            ok &= keep
        return ok

    def check_query(self, row: int, k: int, alpha: float) -> None:
        """Refuse a row outside the catalogue, k out of range or alpha outside [0, 1] (exact and ANN paths alike)."""
        if not 0 <= row < self.n:
            raise ConfigError(f"movie row {row} is outside the catalogue (0..{self.n - 1}).")
        if not 1 <= k <= 10_000:
            raise ConfigError(f"k must be between 1 and 10000, got {k}.")
        if not (0.0 <= alpha <= 1.0) or math.isnan(alpha):
            raise ConfigError(f"alpha must be between 0 and 1, got {alpha}.")

    def hybrid_rule(self, row: int) -> tuple[str, tuple[str, ...]]:
        """What the hybrid list of ``row`` blends ("both", "content", "collab", "none") and the note saying so."""
        hc, hk = bool(self.has_content[row]), bool(self.has_collab[row])
        if hc and hk:
            return "both", ()
        if hc:
            return "content", ("This movie has no collaborative vector (too few ratings), so the hybrid list uses content only.",)
        if hk:
            return "collab", ("This movie has no content (no tags, genres, title words or year), so the hybrid list uses ratings only.",)
        return "none", ("This movie has neither a content nor a collaborative vector, so no list can be made.",)

    def query_notes(self, row: int) -> tuple[str, ...]:
        """Every note a query of ``row`` carries (the hybrid rule's, then each missing list's)."""
        notes = self.hybrid_rule(row)[1]
        if not self.has_content[row]:
            notes += ("No content list: this movie has no content vector.",)
        if not self.has_collab[row]:
            notes += ("No collaborative list: this movie has no collaborative vector.",)
        return notes

    def scores(self, row: int, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
        """Cosine to every movie in both spaces, the blend, the hybrid's candidate mask and notes."""
        if not (0.0 <= alpha <= 1.0) or math.isnan(alpha):
            raise ConfigError(f"alpha must be between 0 and 1, got {alpha}.")
        with one_blas_thread():
            c = self.content @ self.content[row]
            k = self.collab_cand @ self.collab[row]
        rule, notes = self.hybrid_rule(row)
        if rule == "both":
            a = np.float32(alpha)
            # a candidate lacking one embedding has a zero row there, so its cosine there is 0 (then
            # calibrated, as evaluation.py measures it): scoring it by the other alone floods the lists
            h = blend(c, k, a, query_cal(self.cal, row))
            cand = self.has_content | self.has_collab
        elif rule == "content":
            h, cand = c, self.has_content
        elif rule == "collab":
            h, cand = k, self.has_collab
        else:
            h, cand = np.zeros(self.n, np.float32), np.zeros(self.n, bool)
        return c, k, h, cand, notes

    def query(self, row: int, k: int = 20, alpha: float = 0.5, filters: Filters | None = None) -> QueryResult:
        """Content, collaborative and hybrid top-k for one movie, excluding itself, filters applied and refilled."""
        self.check_query(row, k, alpha)
        c, kk, h, hyb_cand, _ = self.scores(row, alpha)
        ok = self.allowed(filters)
        lists: dict[str, RankedList] = {}
        removed: dict[str, int] = {}
        removed_rows: dict[str, np.ndarray] = {}
        spaces = {
            "content": (c, self.has_content & bool(self.has_content[row])),
            "collab": (kk, self.has_collab & bool(self.has_collab[row])),
            "hybrid": (h, hyb_cand),
        }
        for name, (s, valid) in spaces.items():
            valid = valid.copy()
            valid[row] = False
            if ok is not None:
                unfiltered = top_k(s, k, valid)
                gone = unfiltered[~ok[unfiltered]]
                removed[name], removed_rows[name] = int(len(gone)), gone
                valid &= ok
            else:
                removed[name], removed_rows[name] = 0, np.empty(0, dtype=np.int64)
            rows = top_k(s, k, valid)
            cs = np.where(self.has_content[rows], c[rows], np.nan).astype(np.float32)
            ks = np.where(self.has_collab[rows], kk[rows], np.nan).astype(np.float32)
            lists[name] = RankedList(rows, s[rows].astype(np.float32), cs, ks)
        return QueryResult(lists["content"], lists["collab"], lists["hybrid"], removed, removed_rows,
                           self.query_notes(row))

    def blended(self, rows: np.ndarray, alpha: float) -> np.ndarray:
        """Hybrid similarity of every movie to each of ``rows``: [n, len(rows)] (for recommendations)."""
        with one_blas_thread():
            c = self.content @ self.content[rows].T
            k = self.collab_cand @ self.collab[rows].T
        w = query_weight(self.has_content[rows], self.has_collab[rows], alpha)[None, :]
        cal = tuple(x[None, :] for x in query_cal(self.cal, rows))
        return blend(c, k, w, cal).astype(np.float32)

    def hybrid_table(self, k: int, alpha: float, block: int = 1024) -> dict[str, np.ndarray]:
        """Hybrid top-k of every movie with the same rules as ``query`` (for export), in row blocks."""
        hc, hk = self.has_content, self.has_collab
        outs: dict[str, list[np.ndarray]] = {n: [] for n in ("movie", "rank", "neighbor", "score", "content_score", "collab_score")}
        any_vec = hc | hk
        for lo in range(0, self.n, block):
            q = np.arange(lo, min(lo + block, self.n))
            c = self.content[q] @ self.content.T
            kk = self.collab[q] @ self.collab_cand.T
            qc, qk = hc[q][:, None], hk[q][:, None]
            both = (hc[q] & hk[q])[:, None]
            cm, ci, km, ki = (x[:, None] for x in query_cal(self.cal, q))
            # a query with one space ranks by its cosine there, as ``scores`` does (a monotone map of it)
            cal = (np.where(both, cm, 0), np.where(both, ci, 1), np.where(both, km, 0), np.where(both, ki, 1))
            h = blend(c, kk, query_weight(hc[q], hk[q], alpha)[:, None], cal)
            valid = np.where(qc & qk, any_vec[None, :], np.where(qc, hc[None, :], np.where(qk, hk[None, :], False)))
            valid[np.arange(len(q)), q] = False
            h = np.where(valid, h, -np.inf)
            kq = min(k, self.n - 1)
            if kq <= 0:
                continue
            wide = min(kq + 64, self.n)  # room for a tie straddling the cut (movies with identical vectors)
            part = np.argpartition(-h, wide - 1, axis=1)[:, :wide] if wide < self.n else np.tile(np.arange(self.n), (len(q), 1))
            ps = np.take_along_axis(h, part, axis=1)
            order = np.lexsort((part, -ps), axis=1)[:, :kq]  # ties: lower row first, as ``top_k``
            nb = np.take_along_axis(part, order, axis=1)
            sc = np.take_along_axis(ps, order, axis=1)
            keep = np.isfinite(sc)
            rr = np.broadcast_to(q[:, None], nb.shape)
            ranks = np.broadcast_to(np.arange(1, kq + 1)[None, :], nb.shape)
            cs = np.take_along_axis(c, nb, axis=1)
            ks = np.take_along_axis(kk, nb, axis=1)
            cs = np.where(hc[nb] & qc, cs, np.nan)
            ks = np.where(hk[nb] & qk, ks, np.nan)
            for name, arr in (("movie", rr), ("rank", ranks), ("neighbor", nb), ("score", sc), ("content_score", cs), ("collab_score", ks)):
                outs[name].append(arr[keep])
        return {n: (np.concatenate(v) if v else np.empty(0)) for n, v in outs.items()}

    def top_table(self, space: str, k: int, block: int = 2048) -> np.ndarray:
        """Top-k neighbour rows of every movie in one space ([n, k], -1 padding), computed in blocks."""
        x, has = (self.content, self.has_content) if space == "content" else (self.collab, self.has_collab)
        kk = min(k, max(int(has.sum()) - 1, 0))
        out = np.full((self.n, k), -1, dtype=np.int64)
        if kk == 0:
            return out
        rows = np.flatnonzero(has)
        xs = x[rows]
        for lo in range(0, len(rows), block):
            q = rows[lo : lo + block]
            s = x[q] @ xs.T
            s[np.arange(len(q)), np.arange(lo, lo + len(q))] = -np.inf  # itself
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            ps = np.take_along_axis(s, part, axis=1)
            order = np.argsort(-ps, axis=1, kind="stable")
            out[q, :kk] = rows[np.take_along_axis(part, order, axis=1)]
        return out


def liked_matrix(user: np.ndarray, movie: np.ndarray, rating: np.ndarray, n_users: int, n_movies: int) -> sp.csc_matrix:
    """Users x movies 0/1 matrix of likes (rating >= 4), column-compressed for per-movie lookups."""
    keep = rating >= LIKED_AT
    data = np.ones(int(keep.sum()), dtype=np.float32)
    return sp.csc_matrix((data, (user[keep], movie[keep])), shape=(n_users, n_movies))


def co_liked(liked: sp.csc_matrix, a: int, others: np.ndarray) -> np.ndarray:
    """Number of users who liked both ``a`` and each of ``others``."""
    others = np.asarray(others, dtype=np.int64)
    if len(others) == 0:
        return np.zeros(0, dtype=np.int64)
    users = liked.indices[liked.indptr[a] : liked.indptr[a + 1]]
    sub = liked[:, others]
    hit = np.zeros(liked.shape[0], dtype=bool)
    hit[users] = True
    cs = np.concatenate([[0], np.cumsum(hit[sub.indices], dtype=np.int64)])
    return (cs[sub.indptr[1:]] - cs[sub.indptr[:-1]]).astype(np.int64)
