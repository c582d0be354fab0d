"""Thin places: a user's list gives thinly rated movies the share of places they hold among the movies the user liked.

Seed-sum lists almost never reach a movie with a handful of ratings, however well it suits the user: its few
ratings cannot outvote the hundreds behind a well-known film. Calibrated recommendations (Steck, RecSys 2018)
make a list's mix follow the user's history; here over two groups, thin movies (at most ``cold_max_train``
ratings) and the rest. A user with a share ``s`` of thin movies among the movies they liked gets ``round(strength
* k * s)`` of the last places of a top-``k`` list (at most half of it) filled with the best thin movies by two kinds of
evidence, each standardised per user: how much the user's ``n`` nearest raters liked the movie (user-kNN over who
rated what: a thin movie's few ratings speak directly) plus its content score at a fitted weight
(``ColdStartConfig.thin_content_weight``). A user who rates only
well-known films (or only dislikes thin ones) keeps the plain list. Used by the evaluation (``evaluation.py``) and the taste lists
(``explorer.recommend``), so both measure and show one rule; numpy only, so the server's pages never import torch.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import scipy.sparse as sp


def thin_share(rated: sp.csr_matrix, thin: np.ndarray) -> np.ndarray:
    """Per user row: the share of their rated movies that are thin (0 where a row has no ratings)."""
    r = rated.tocsr()
    per_user = np.diff(r.indptr)
    on_thin = np.asarray((r != 0).astype(np.float32) @ np.asarray(thin, dtype=np.float32)).ravel()
    return (on_thin / np.maximum(per_user, 1)).astype(np.float32)


def one_row(movies: np.ndarray, n_movies: int) -> sp.csr_matrix:
    """One user's movies (a visitor's, who is not among the dataset's users) as a 1 x n_movies rating row."""
    movies = np.asarray(movies, dtype=np.int64)
    return sp.csr_matrix((np.ones(len(movies), np.float32), (np.zeros(len(movies), np.int64), movies)),
                         shape=(1, n_movies))


def quota(share: np.ndarray, k: int, strength: float) -> np.ndarray:
    """Places of a top-``k`` list given to thin movies: ``round(strength * k * share)``, at most ``k // 2``."""
    q = np.rint(float(strength) * int(k) * np.asarray(share, dtype=np.float64))
    return np.clip(q, 0, int(k) // 2).astype(np.int64)


class RaterIndex:
    """Who rated and who liked what, row-normalised once, for user-kNN scores of any batch of rating rows."""

    def __init__(self, rated: sp.csr_matrix, liked: sp.csr_matrix, n_neighbours: int) -> None:
        r = (rated.tocsr() != 0).astype(np.float32)
        norms = np.sqrt(np.asarray(r.sum(axis=1)).ravel())
        self.rated_unit_t = (sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ r).T.tocsr()  # movies x users
        self.liked = (liked.tocsr() != 0).astype(np.float32).tocsr()
        self.n_neighbours = int(n_neighbours)

    def scores(self, query: sp.csr_matrix, own_rows: np.ndarray | None = None) -> np.ndarray:
        """For each query row (a user's ratings over the catalogue): the cosine-weighted count of likes among its
        ``n_neighbours`` most similar raters, per movie; ``own_rows`` keeps a user from being their own neighbour."""
        q = (query.tocsr() != 0).astype(np.float32)
        qn = np.sqrt(np.asarray(q.sum(axis=1)).ravel())
        q = sp.diags(1.0 / np.maximum(qn, 1e-12)).astype(np.float32) @ q
        sims = np.asarray((q @ self.rated_unit_t).todense(), dtype=np.float32)  # queries x users
        if own_rows is not None:
            sims[np.arange(len(own_rows)), own_rows] = 0.0
        n = min(self.n_neighbours, sims.shape[1])
        if n <= 0 or sims.size == 0:
            return np.zeros((q.shape[0], self.liked.shape[1]), dtype=np.float32)
        top = np.argpartition(-sims, n - 1, axis=1)[:, :n]
        w = np.take_along_axis(sims, top, axis=1)
        rows = np.repeat(np.arange(sims.shape[0]), n)
        nb = sp.csr_matrix((w.ravel(), (rows, top.ravel())), shape=sims.shape)
        return np.asarray((nb @ self.liked).todense(), dtype=np.float32)


def _standard(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise standard scores over the ``valid`` cells (the others are masked by the caller)."""
    n = np.maximum(valid.sum(1, keepdims=True), 1)
    mean = np.where(valid, x, 0.0).sum(1, keepdims=True) / n
    var = (np.where(valid, x - mean, 0.0) ** 2).sum(1, keepdims=True) / n
    return (x - mean) / np.maximum(np.sqrt(var), 1e-6)


def fill_scores(neighbours: np.ndarray, content: np.ndarray, allowed: np.ndarray, thin: np.ndarray,
                content_weight: float) -> np.ndarray:
    """A thin movie's place score: the neighbours' likes plus ``content_weight`` x its content score, each
    standardised over what the list may show (``allowed``: listable, not rated by the user, passing any filter);
    -inf but for allowed thin movies."""
    fin = np.isfinite(content) & allowed
    c = np.where(fin, content, 0.0)
    s = _standard(neighbours, allowed) + float(content_weight) * _standard(c, fin)
    return np.where(allowed & thin, s, -np.inf).astype(np.float32)


def _top(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the ``k`` largest cells' columns, best first, and their values."""
    part = np.argpartition(-x, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(x, part, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(x, idx, axis=1)


def place(base: np.ndarray, fill: np.ndarray, places: np.ndarray, k: int) -> np.ndarray:
    """Scores whose top-``k`` per row is the list: the base's first ``k - places`` rows, then the best ``places``
    thin movies by ``fill`` not among them, then (where too few thin movies can be listed) the base's next rows.
    A row with ``places == 0`` lists exactly the base's top-``k``; cells outside the list are -inf."""
    b, m = base.shape
    k = min(int(k), m)
    places = np.clip(np.asarray(places, dtype=np.int64), 0, k)
    r = np.arange(b)[:, None]
    top, vals = _top(base, k)
    pos = np.arange(k)[None, :]
    ok = np.isfinite(vals)
    keep = (pos < (k - places)[:, None]) & ok
    blocked = np.array(fill, dtype=np.float32, copy=True)
    blocked[r, top] = np.where(keep, -np.inf, blocked[r, top])
    extra, extra_vals = _top(blocked, k)
    take = (pos < places[:, None]) & np.isfinite(extra_vals)
    ranked = np.full(base.shape, -np.inf, dtype=np.float32)
    ranked[r, top] = np.where(keep, 3.0 * k - pos, -np.inf)
    ranked[r, extra] = np.where(take, 2.0 * k - pos, ranked[r, extra])
    short = places - take.sum(1)
    if (short > 0).any():
        cur = ranked[r, top]
        free = ok & ~keep & ~np.isfinite(cur)
        back = free & (np.cumsum(free, axis=1) <= short[:, None])
        ranked[r, top] = np.where(back, float(k) - pos, cur)
    return ranked


class ThinLists:
    """Everything a batch of lists needs to give thin movies their places: who rated and liked what, which movies are
    thin, and how many places each user's list gives them (from the share of thin movies among their likes)."""

    def __init__(self, rated: sp.csr_matrix, liked: sp.csr_matrix, counts: np.ndarray, thin_max: int,
                 strength: float, n_neighbours: int, k: int, content_weight: float) -> None:
        self.thin_np = np.asarray(counts) <= int(thin_max)
        self.strength, self.k, self.content_weight = float(strength), int(k), float(content_weight)
        self._sources = (rated, liked, int(n_neighbours))

    @functools.cached_property
    def raters(self) -> RaterIndex:
        """Who rated and liked what, built when a list first needs it (a catalogue without thin movies never does)."""
        return RaterIndex(*self._sources)

    @functools.cached_property
    def user_places(self) -> np.ndarray:
        """Places in each of the index's own users' lists (the evaluation's; a visitor's come from places_for)."""
        return quota(thin_share(self._sources[1], self.thin_np), self.k, self.strength)

    def places_for(self, liked: sp.csr_matrix, k: int | None = None) -> np.ndarray:
        """Places in top-``k`` lists for users who are not the index's own (a visitor): ``liked`` holds the movies
        each of them liked."""
        return quota(thin_share(liked, self.thin_np), self.k if k is None else int(k), self.strength)

    def lists(self, query: sp.csr_matrix, places: np.ndarray, content: np.ndarray, allowed: np.ndarray,
              own_rows: np.ndarray | None = None, k: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """For a batch of users (their rating rows ``query``): a function from base scores to the placed lists'
        scores. ``content`` is the users' content scores, ``allowed`` what each list may show, ``k`` the lists'
        length (the index's by default)."""
        places = np.asarray(places, dtype=np.int64)
        sel = np.flatnonzero(places > 0)  # users who rate no thin movie keep the plain list, at no cost
        if len(sel) == 0:
            return lambda base: base
        nb = self.raters.scores(query[sel], None if own_rows is None else own_rows[sel])
        fill = fill_scores(nb, content[sel], allowed[sel], self.thin_np[None, :], self.content_weight)
        kk = self.k if k is None else int(k)

        def apply(base: np.ndarray) -> np.ndarray:
            if len(sel) == base.shape[0]:
                return place(base, fill, places[sel], kk)
            out = np.array(base, copy=True)
            out[sel] = place(base[sel], fill, places[sel], kk)
            return out

        return apply
