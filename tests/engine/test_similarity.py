"""Similarity: normalisation guards, exact top-k, alpha blend, filters that refill, reasons, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from recsys_core.errors import ConfigError
from recsys_core.scoring.similarity import Filters, SimilarityIndex, co_liked, liked_matrix, top_k, unit_rows


def _index(n=500, d=16, seed=0, drop_content=(), drop_collab=()):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, d)).astype(np.float32)
    k = rng.normal(size=(n, d + 3)).astype(np.float32)
    cm = np.ones(n, bool)
    km = np.ones(n, bool)
    cm[list(drop_content)] = False
    km[list(drop_collab)] = False
    genres = np.zeros((n, 3), bool)
    genres[np.arange(n), np.arange(n) % 3] = True
    years = 1950 + (np.arange(n) % 60).astype(float)
    n_ratings = np.arange(n)
    return SimilarityIndex(c, cm, k, km, n_ratings, years, genres, ("Drama", "Comedy", "Sci-Fi")), c, k


def _cos(x, row):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    return u @ u[row]


def test_unit_rows_guards_zero_and_nan_rows():
    x = np.array([[3, 4], [0, 0], [np.nan, 1]], dtype=np.float32)
    u, has = unit_rows(x)
    assert has.tolist() == [True, False, False]
    np.testing.assert_allclose(u[0], [0.6, 0.8])
    assert not u[1:].any() and u.dtype == np.float32


def test_top_k_matches_full_sort():
    s = np.random.default_rng(1).random(1000).astype(np.float32)
    valid = np.ones(1000, bool)
    valid[::7] = False
    got = top_k(s, 20, valid)
    want = np.flatnonzero(valid)[np.argsort(-s[valid])][:20]
    assert got.tolist() == want.tolist()


def test_three_lists_exact_and_blended():
    idx, c, k = _index()
    res = idx.query(5, k=10, alpha=0.3)
    cc, kk = _cos(c, 5), _cos(k, 5)
    cc[5] = kk[5] = -9
    assert res.content.rows.tolist() == np.argsort(-cc)[:10].tolist()
    assert res.collab.rows.tolist() == np.argsort(-kk)[:10].tolist()
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731 -- the calibrated blend: per-query standard scores
    zc, zk = z(_cos(c, 5)), z(_cos(k, 5))
    h = 0.3 * zc + 0.7 * zk
    h[5] = -99
    assert res.hybrid.rows.tolist() == np.argsort(-h)[:10].tolist()
    np.testing.assert_allclose(res.hybrid.score, h[res.hybrid.rows], rtol=1e-4)
    assert 5 not in res.hybrid.rows and res.hybrid.score.dtype == np.float32


def test_filters_refill_to_k_and_count_removed():
    idx, _, _ = _index()
    f = Filters(min_ratings=100, genres=("sci-fi",), year_range=(1960, 1990), max_ratings=400)
    res = idx.query(3, k=15, alpha=0.5, filters=f)
    for lst in (res.content, res.collab, res.hybrid):
        r = lst.rows
        assert len(r) == 15
        assert ((r >= 100) & (r <= 400) & (r % 3 == 2)).all()
        years = 1950 + r % 60
        assert ((years >= 1960) & (years <= 1990)).all()
    plain = idx.query(3, k=15, alpha=0.5)
    gone = [x for x in plain.hybrid.rows if not (100 <= x <= 400 and x % 3 == 2 and 1960 <= 1950 + x % 60 <= 1990)]
    assert res.removed["hybrid"] == len(gone) and sorted(res.removed_rows["hybrid"]) == sorted(gone)
    with pytest.raises(ConfigError):
        idx.query(3, filters=Filters(min_ratings=10, max_ratings=5))


def test_a_map_selection_filter_keeps_only_its_rows_and_refuses_rows_outside_the_catalogue():
    idx, _, _ = _index()
    picked = tuple(range(0, 500, 25))  # 20 rows, the query (row 25) among them
    res = idx.query(25, k=20, alpha=0.5, filters=Filters(rows=picked))
    for lst in (res.content, res.collab, res.hybrid):
        assert sorted(lst.rows.tolist()) == sorted(set(picked) - {25}), "every other selected row, nothing else"
    both = idx.query(25, k=20, alpha=0.5, filters=Filters(rows=picked, min_ratings=200))
    assert set(both.hybrid.rows.tolist()) == {r for r in picked if r >= 200}, "combines with the other filters"
    assert len(idx.query(25, k=20, filters=Filters(rows=())).hybrid.rows) == 0, "an empty selection keeps nothing"
    for bad in ((500,), (-1, 3)):
        with pytest.raises(ConfigError, match="outside this catalogue"):
            idx.query(25, filters=Filters(rows=bad))


def test_missing_embedding_uses_the_other_and_says_so():
    idx, c, k = _index(drop_content=[7], drop_collab=[8])
    res = idx.query(7, k=5, alpha=0.5)
    assert len(res.content.rows) == 0 and len(res.hybrid.rows) == 5
    assert res.hybrid.rows.tolist() == res.collab.rows.tolist()
    assert any("ratings only" in n for n in res.notes)
    res = idx.query(8, k=5, alpha=0.5)
    assert res.hybrid.rows.tolist() == res.content.rows.tolist() and any("content only" in n for n in res.notes)
    res = idx.query(0, k=499, alpha=0.5)
    assert 7 not in res.content.rows and 8 not in res.collab.rows
    seven = res.hybrid.rows == 7
    assert np.isnan(res.hybrid.content_score[seven]).all()
    cal = idx.cal  # the missing space counts as cosine 0, calibrated like every other candidate's
    want = 0.5 * (0.0 - cal.content_mean[0]) * cal.content_inv_std[0] \
        + 0.5 * (res.hybrid.collab_score[seven] - cal.collab_mean[0]) * cal.collab_inv_std[0]
    np.testing.assert_allclose(res.hybrid.score[seven], want, rtol=1e-4)


def test_hybrid_table_agrees_with_query():
    idx, _, _ = _index(n=300, drop_content=[4])
    t = idx.hybrid_table(k=5, alpha=0.6, block=64)
    for row in (0, 4, 123, 299):
        want = idx.query(row, k=5, alpha=0.6).hybrid
        got = t["neighbor"][t["movie"] == row]
        assert got.tolist() == want.rows.tolist()


def test_co_liked_counts_users_who_liked_both():
    user = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    movie = np.array([0, 1, 0, 1, 0, 1, 2, 0])
    rating = np.array([5, 4, 4, 2, 5, 5, 4, 3], dtype=np.float32)
    liked = liked_matrix(user, movie, rating, 4, 4)
    assert co_liked(liked, 0, np.array([1, 2, 3])).tolist() == [2, 1, 0]


def test_one_query_for_three_lists_is_fast_at_10k():
    idx, _, _ = _index(n=10_000, d=100)
    f = Filters(min_ratings=10)
    idx.query(0, 20, 0.5, f)
    times = []
    for row in range(1, 31):
        t = time.perf_counter()
        idx.query(row, 20, 0.5, f)
        times.append(time.perf_counter() - t)
    assert np.median(times) < 0.010, f"median {np.median(times) * 1e3:.2f} ms"
