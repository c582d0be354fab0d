"""The two splits every trainer and metric shares: a validation share of ratings, and a per-user hold-out.

The validation split hashes each rating's global row, so one process and any number of DDP ranks (each
holding a contiguous shard of rows) hold out exactly the same ratings.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..config import EvalConfig
from ..data.dataset import Dataset, Ratings


def validation_mask(positions: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """True for the ratings (by global row) held out for validation: about ``frac`` of them, fixed by ``seed``."""
    with np.errstate(over="ignore"):
        x = positions.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed + 1)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53) < frac


def split_ratings(ds: Dataset, cfg: EvalConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per user, hold out a random ``cfg.holdout`` share of ratings (seeded) so every test user has history."""
    cfg.validate()
    r = ds.ratings
    n = len(r)
    rng = np.random.default_rng(cfg.seed)
    key = rng.random(n)
    order = np.lexsort((key, r.user))  # grouped by user, random order inside
    counts = np.bincount(r.user, minlength=ds.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n) - np.repeat(starts, counts)
    n_test = np.minimum(np.floor(counts * cfg.holdout + 0.5), np.maximum(counts - 1, 0)).astype(np.int64)
    test = pos < n_test[r.user]
    return ~test, test


def subset_dataset(ds: Dataset, mask: np.ndarray, tag: str = "train") -> Dataset:
    """The same catalogue and users with only the masked ratings (rows keep their meaning)."""
    r = ds.ratings
    sub = Ratings(r.user[mask], r.movie[mask], r.rating[mask], r.timestamp[mask])
    return replace(ds, ratings=sub, fingerprint=f"{ds.fingerprint}-{tag}")
