"""Similar-movie lists from the ANN indexes, with the exact search's rules and an exact fallback when unsure."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .ann_index import HybridAnn
from .blend import blend, calibrate, query_cal
from .similarity import Filters, QueryResult, RankedList, SimilarityIndex, top_k

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
        cal = query_cal(self.index.cal, row)
        for src in self.ann.sources(row, a):
            key = (src, n, a if src == "joint" else None)
            if key not in memo:  # the joint query carries the calibration's per-query scales (blend's order)
                memo[key] = self.ann.neighbours(row, src, n, a, (float(cal[1]), float(cal[3])))
            found[src] = memo[key]
        if not found:
            return _NO_ROWS, np.inf
        cand = np.unique(np.concatenate([ids for ids, _ in found.values()]))
        cand = cand[self._valid_all[rule][cand] & (cand != row)]
        if rule != "both":  # every source ranks by this space's cosine
            return cand, min(nth for _, nth in found.values())
        # a row outside both pure top-n has c <= c_n and k <= k_n (0 where it lacks the space; a confidence
        # weight in [0, 1] keeps w*k <= max(k_n, 0)), so its calibrated blend is at most that of (c_n, k_n);
        # the joint index only adds candidates (its scores ignore the confidence weights)
        bound = np.inf
        weights = [(src, w, cal[2 * i], cal[2 * i + 1]) for i, (src, w) in enumerate((("content", a), ("collab", 1.0 - a)))
                   if w > 0]
        if all(src in found for src, *_ in weights):
            bound = sum(w * float(calibrate(max(found[src][1], 0.0), m, s)) for src, w, m, s in weights)
        return cand, bound

    def _score(self, row: int, rule: str, alpha: float, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """The list score and both cosines of ``rows``, with ``SimilarityIndex.scores``' formulas."""
        idx = self.index
        c = idx.content[rows] @ idx.content[row]
        kk = idx.collab_cand[rows] @ idx.collab[row]
        if rule == "content":
            return c, c, kk
        if rule == "collab":
            return kk, c, kk
        return blend(c, kk, np.float32(alpha), query_cal(idx.cal, row)), c, kk

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


