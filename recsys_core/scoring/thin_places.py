"""Thin places: a user's list gives thinly rated movies the share of places they hold in the user's own ratings.

Seed-sum lists almost never reach a movie with a handful of ratings, however well it suits the user: its few
ratings cannot outvote the hundreds behind a well-known film. Calibrated recommendations (Steck, RecSys 2018)
make a list's mix follow the user's history; here over two groups, thin movies (at most ``cold_max_train``
ratings) and the rest. A user with a share ``s`` of thin movies among their ratings gets ``round(strength * k *
s)`` of the last places of a top-``k`` list (at most half of it) filled with the best thin movies by two kinds of
evidence, each standardised per user: how much the user's ``n`` nearest raters liked the movie (user-kNN over who
rated what: a thin movie's few ratings speak directly) plus half its content score. A user who rates only
well-known films keeps the plain list. Used by the evaluation (``evaluation.py``) and the taste lists
(``explorer.recommend``), so both measure and show one rule.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

CONTENT_WEIGHT = 0.5  # the content score's weight next to the neighbours' in a thin movie's fill score


def thin_share(rated: sp.csr_matrix, thin: np.ndarray) -> np.ndarray:
    """Per user row: the share of their rated movies that are thin (0 where a row has no ratings)."""
    r = rated.tocsr()
    per_user = np.diff(r.indptr)
    on_thin = np.asarray((r != 0).astype(np.float32) @ np.asarray(thin, dtype=np.float32)).ravel()
    return (on_thin / np.maximum(per_user, 1)).astype(np.float32)


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


def _standard(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Row-wise standard scores over the ``valid`` cells (others left as they are, to be masked by the caller)."""
    n = valid.sum(1, keepdim=True).clamp(min=1)
    xv = torch.where(valid, x, torch.zeros((), dtype=x.dtype, device=x.device))
    mean = xv.sum(1, keepdim=True) / n
    var = (torch.where(valid, x - mean, torch.zeros((), dtype=x.dtype, device=x.device)) ** 2).sum(1, keepdim=True) / n
    return (x - mean) / var.sqrt().clamp(min=1e-6)


def fill_scores(neighbours: torch.Tensor, content: torch.Tensor, allowed: torch.Tensor, thin: torch.Tensor
                ) -> torch.Tensor:
    """A thin movie's place score: the neighbours' likes plus half its content score, each standardised over what
    the list may show (``allowed``: listable, not rated by the user, passing any filter); -inf but for allowed thin
    movies."""
    fin = torch.isfinite(content) & allowed
    s = _standard(neighbours, allowed) + CONTENT_WEIGHT * _standard(torch.nan_to_num(content, neginf=0.0), fin)
    return s.masked_fill(~(allowed & thin), -math.inf)


def place(base: torch.Tensor, fill: torch.Tensor, places: torch.Tensor, k: int) -> torch.Tensor:
    """Scores whose top-``k`` per row is the list: the base's first ``k - places`` rows, then the best ``places``
    thin movies by ``fill`` not among them, then (where too few thin movies can be listed) the base's next rows.
    A row with ``places == 0`` lists exactly the base's top-``k``; cells outside the list are -inf."""
    b, m = base.shape
    k = min(int(k), m)
    places = places.to(base.device).clamp(min=0, max=k)
    top = torch.topk(base, k, dim=1)
    pos = torch.arange(k, device=base.device).expand(b, k)
    ok = torch.isfinite(top.values)
    keep = (pos < (k - places)[:, None]) & ok
    blocked = fill.scatter(1, top.indices, torch.where(keep, -math.inf, fill.gather(1, top.indices)))
    extra = torch.topk(blocked, k, dim=1)
    take = (pos < places[:, None]) & torch.isfinite(extra.values)
    ranked = torch.full_like(base, -math.inf)
    ranked.scatter_(1, top.indices, torch.where(keep, 3.0 * k - pos, -math.inf))
    ranked.scatter_(1, extra.indices, torch.where(take, 2.0 * k - pos, ranked.gather(1, extra.indices)))
    short = places - take.sum(1)
    if bool((short > 0).any()):
        cur = ranked.gather(1, top.indices)
        free = ok & ~keep & ~torch.isfinite(cur)
        back = free & (torch.cumsum(free.long(), 1) <= short[:, None])
        ranked.scatter_(1, top.indices, torch.where(back, float(k) - pos, cur))
    return ranked


class ThinLists:
    """Everything a batch of lists needs to give thin movies their places: who rated what, which movies are thin,
    and how many places each user's list gives them."""

    def __init__(self, rated: sp.csr_matrix, liked: sp.csr_matrix, counts: np.ndarray, thin_max: int,
                 strength: float, n_neighbours: int, k: int) -> None:
        self.thin_np = np.asarray(counts) <= int(thin_max)
        self.raters = RaterIndex(rated, liked, n_neighbours)
        self.strength, self.k = float(strength), int(k)
        self.user_places = quota(thin_share(rated, self.thin_np), self.k, self.strength)

    def places_for(self, query: sp.csr_matrix) -> np.ndarray:
        """Places for rating rows that are not the index's own users (a visitor's handful of ratings)."""
        return quota(thin_share(query, self.thin_np), self.k, self.strength)

    def lists(self, query: sp.csr_matrix, places: np.ndarray, content: torch.Tensor, allowed: torch.Tensor,
              own_rows: np.ndarray | None = None, k: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """For a batch of users (their rating rows ``query``): a function from base scores to the placed lists'
        scores. ``content`` is the users' content scores, ``allowed`` what each list may show, ``k`` the lists'
        length (the index's by default)."""
        dev = content.device
        places = np.asarray(places, dtype=np.int64)
        sel = np.flatnonzero(places > 0)  # users who rate no thin movie keep the plain list, at no cost
        if len(sel) == 0:
            return lambda base: base
        nb = torch.from_numpy(self.raters.scores(query[sel], None if own_rows is None else own_rows[sel])).to(dev)
        rows = torch.from_numpy(sel).to(dev)
        fill = fill_scores(nb, content[rows], allowed[rows], torch.from_numpy(self.thin_np).to(dev)[None, :])
        pl = torch.from_numpy(places[sel]).to(dev)
        kk = self.k if k is None else int(k)

        def apply(base: torch.Tensor) -> torch.Tensor:
            if len(sel) == base.shape[0]:
                return place(base, fill, pl, kk)
            out = base.clone()
            out[rows] = place(base[rows], fill, pl, kk)
            return out

        return apply
