"""The biased-MF rating loop compiled with numba: per-rating SGD with row-wise Adagrad, for large data on the CPU.

On the CPU a batch of torch ops touches every gathered row several times (gather, gradient, square, scatter)
and tops out near 1M ratings/s at 64 factors here; this loop reads and writes each user and movie row once
per rating, in cache, and runs ~3M ratings/s on one core (docs/SCALE.md). It is the same objective and the
same row-wise Adagrad as ``row_updates.dot_bias_step`` (which CUDA uses), applied one rating at a time.
numba comes with umap-learn; it is imported on first use so cached starts never load it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np


@lru_cache(maxsize=1)
def _kernel() -> Callable:
    """Compile (or load from numba's on-disk cache) the per-rating loop."""
    import numba

    @numba.njit(cache=True, fastmath=True, nogil=True)
    def sgd_rows(users, movies, ratings, P, Q, bu, bm, aP, aQ, abu, abm,  # pragma: no cover - compiled
                 offset, lr, reg, breg, eps):
        d = P.shape[1]
        sse = 0.0
        for i in range(users.shape[0]):
            u = users[i]
            m = movies[i]
            pred = offset + bu[u] + bm[m]
            for k in range(d):
                pred += P[u, k] * Q[m, k]
            e = pred - ratings[i]
            sse += e * e
            su = 0.0
            sm = 0.0
            for k in range(d):
                gu = e * Q[m, k] + reg * P[u, k]
                gm = e * P[u, k] + reg * Q[m, k]
                su += gu * gu
                sm += gm * gm
            aP[u] += su / d
            aQ[m] += sm / d
            cu = lr / (math.sqrt(aP[u]) + eps)
            cm = lr / (math.sqrt(aQ[m]) + eps)
            for k in range(d):
                pu = P[u, k]
                qm = Q[m, k]
                P[u, k] = pu - cu * (e * qm + reg * pu)
                Q[m, k] = qm - cm * (e * pu + reg * qm)
            g = e + breg * bu[u]
            abu[u] += g * g
            bu[u] -= lr * g / (math.sqrt(abu[u]) + eps)
            g = e + breg * bm[m]
            abm[m] += g * g
            bm[m] -= lr * g / (math.sqrt(abm[m]) + eps)
        return sse

    return sgd_rows


def available() -> bool:
    """Whether numba can be imported here (it is a dependency of umap-learn, so normally yes)."""
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


class RowSGD:
    """State of the compiled loop over numpy views of a DotBias model's CPU tables (updated in place)."""

    def __init__(self, user: np.ndarray, movie: np.ndarray, user_bias: np.ndarray, movie_bias: np.ndarray,
                 offset: float, lr: float, reg: float, bias_weight: float, eps: float = 1e-8) -> None:
        for a in (user, movie, user_bias, movie_bias):
            if a.dtype != np.float32 or not a.flags.c_contiguous:
                raise ValueError("RowSGD needs C-contiguous float32 tables")
        self.user, self.movie, self.user_bias, self.movie_bias = user, movie, user_bias, movie_bias
        self.acc = [np.zeros(len(user), np.float32), np.zeros(len(movie), np.float32),
                    np.zeros(len(user), np.float32), np.zeros(len(movie), np.float32)]
        self.scalars = (np.float32(offset), np.float32(lr), np.float32(reg), np.float32(reg * bias_weight),
                        np.float32(eps))
        self.kernel = _kernel()

    def run(self, users: np.ndarray, movies: np.ndarray, ratings: np.ndarray) -> float:
        """One SGD step per rating, in the order given; returns their squared error sum.

        The caller gathers a shuffled batch into contiguous arrays first (a vectorised gather): read through a
        shuffled index here instead, each rating cost three more dependent cache misses (1.1M ratings/s at 25M).
        """
        return float(self.kernel(users, movies, ratings, self.user, self.movie, self.user_bias,
                                 self.movie_bias, *self.acc, *self.scalars))
