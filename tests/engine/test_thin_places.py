"""Thin places: rarely rated movies get the share of a user's list they have among the user's ratings."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recsys_core.config import FitOptions
from recsys_core.config.collab import ColdStartConfig, CollabConfig
from recsys_core.data.dataset import Dataset, Ratings
from recsys_core.errors import ConfigError
from recsys_core.evaluation import EvalConfig, evaluate, genre_matrix
from recsys_core.scoring.similarity import Filters
from recsys_core.scoring.thin_places import RaterIndex, fill_scores, place, quota, thin_share

CPU = torch.device("cpu")
INF = math.inf


def _order(ranked: np.ndarray, k: int) -> list[list[int]]:
    """Each row's listed columns, best first (-inf cells are not listed)."""
    return [[int(c) for c in np.argsort(-r, kind="stable")[:k] if np.isfinite(r[c])] for r in ranked]


def test_a_list_keeps_its_head_and_gives_its_last_places_to_the_best_thin_movies():
    base = np.array([[10.0, 9, 8, 7, 6, 5, 4, 3]] * 2, np.float32)
    thin = np.array([False, False, False, False, True, True, False, True])
    fill = np.where(thin, np.array([[0.0, 0, 0, 0, 1, 5, 0, 2]] * 2), -INF).astype(np.float32)
    ranked = place(base, fill, np.array([0, 2]), 4)
    # no places: exactly the base's top 4; two: the kept head first, then the thin movies by their fill score
    assert _order(ranked, 4) == [[0, 1, 2, 3], [0, 1, 5, 7]]


def test_places_thin_movies_cannot_fill_go_back_to_the_base_list():
    base = np.array([[10.0, 9, 8, 7, 6, 5]], np.float32)
    fill = np.array([[-INF, -INF, -INF, -INF, -INF, 1.0]], np.float32)  # one thin movie can be listed
    ranked = place(base, fill, np.array([3]), 4)
    assert _order(ranked, 6) == [[0, 5, 1, 2]]


def test_the_content_weight_decides_between_what_near_raters_liked_and_what_the_movie_is():
    # thin movies 2, 3 and 4: the raters favour 2, content favours 4; movie 1 is not thin and 0 is not allowed
    neighbours = np.array([[9.0, 0, 3, 1, 0, 0]], np.float32)
    content = np.array([[0.0, 0.9, 0.1, 0.3, 0.8, 0.2]], np.float32)
    allowed = np.array([[False, True, True, True, True, True]])
    thin = np.array([[False, False, True, True, True, False]])
    best = [int(np.argmax(fill_scores(neighbours, content, allowed, thin, w))) for w in (0.0, 0.66, 5.0)]
    assert best == [2, 2, 4]
    s = fill_scores(neighbours, content, allowed, thin, 0.66)
    assert np.isneginf(s[0, [0, 1, 5]]).all() and np.isfinite(s[0, [2, 3, 4]]).all()


def test_quota_follows_the_users_own_share_and_never_takes_more_than_half():
    rated = sp.csr_matrix(np.array([[1, 1, 1, 1, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], np.float32))
    thin = np.array([False, False, False, False, True])
    share = thin_share(rated, thin)
    np.testing.assert_allclose(share, [0.0, 0.5, 1.0, 0.0])
    assert quota(share, 20, 1.0).tolist() == [0, 10, 10, 0]
    assert quota(share, 20, 0.5).tolist() == [0, 5, 10, 0]
    assert quota(share, 20, 0.0).tolist() == [0, 0, 0, 0]


def test_a_thin_movie_ranks_by_what_the_nearest_raters_liked_not_by_the_user_themself():
    # users 0-2 share movies 0-2; user 3 rates 3-4; movie 5 is liked by users 1 and 2 only, movie 6 by user 3
    rated = np.zeros((4, 7), np.float32)
    rated[0, [0, 1, 2]] = rated[1, [0, 1, 2, 5]] = rated[2, [0, 1, 5]] = rated[3, [3, 4, 6]] = 1
    liked = rated.copy()
    liked[0, 2] = 0
    idx = RaterIndex(sp.csr_matrix(rated), sp.csr_matrix(liked), n_neighbours=2)
    got = idx.scores(sp.csr_matrix(rated[[0]]), own_rows=np.array([0]))[0]
    assert got[5] > 0 and got[6] == 0  # the two nearest raters (1, 2) liked 5; user 3 is not a neighbour
    assert got[2] > 0  # user 0's own dislike does not count: only user 1 liked it
    alone = RaterIndex(sp.csr_matrix(rated), sp.csr_matrix(liked), n_neighbours=3).scores(
        sp.csr_matrix(rated[[2]]), own_rows=np.array([2]))[0]
    assert alone[5] == pytest.approx(float(np.dot(rated[1], rated[2]) / np.sqrt(4 * 3)))  # only user 1 counts


def _niche_dataset(seed: int = 0) -> Dataset:
    """4 taste groups of 10 clubs of 5 users over 40 popular movies per group; each club's members rate the same
    12 of them (and 3 more at random) and like the club's own 2 niche movies, which nobody else rates. Held out,
    a niche movie has 4 training ratings: a cold target that only its club's likes point to."""
    rng = np.random.default_rng(seed)
    users, movies, ratings = [], [], []
    n_groups, clubs, size, popular = 4, 10, 5, 40
    n_pop = n_groups * popular
    for g in range(n_groups):
        for c in range(clubs):
            shared = rng.choice(popular, 12, replace=False)
            niche = n_pop + 2 * (g * clubs + c) + np.arange(2)
            for u in range((g * clubs + c) * size, (g * clubs + c + 1) * size):
                own = np.union1d(shared, rng.choice(popular, 3, replace=False)) + g * popular
                for m in own:
                    users.append(u), movies.append(m), ratings.append(float(rng.choice([3.0, 4.0, 4.5, 5.0])))
                for m in niche:
                    users.append(u), movies.append(m), ratings.append(5.0)
    n_m = n_pop + 2 * n_groups * clubs
    group_of = [m // popular if m < n_pop else (m - n_pop) // (2 * clubs) for m in range(n_m)]
    n_u = n_groups * clubs * size
    r = Ratings(np.array(users, np.int32), np.array(movies, np.int32), np.array(ratings, np.float32),
                np.zeros(len(users), np.int64))
    mv = pd.DataFrame({"movie_id": np.arange(1, n_m + 1, dtype=np.int64), "title": [f"Movie {i}" for i in range(n_m)],
                       "year": pd.array([2000] * n_m, dtype="Int16"), "genres": [(f"G{g}",) for g in group_of]})
    tags = pd.DataFrame({"user": np.zeros(0, np.int32), "movie": np.zeros(0, np.int32), "tag": []})
    return Dataset("niche", r, mv, pd.DataFrame({"user_id": np.arange(n_u)}), tags, None, (0.5, 5.0), "niche")


def test_the_evaluation_shows_thin_places_finding_held_out_niche_movies_for_their_fans():
    ds = _niche_dataset()
    genres = genre_matrix(ds).astype(np.float32)
    fast = FitOptions(epochs=2, batch_size=256, lr=1e-2, patience=0)
    collab = CollabConfig(dim=8, rating_dim=4, rating_fit=fast)
    cfg = EvalConfig(k=10, alphas=(0.0, 0.5), baselines=())
    res = evaluate(ds, genres, genres.any(axis=1), collab, cfg, CPU)
    tp = res["thin_places"]
    assert tp["enabled"] and tp["alpha"] == res["best_alpha"] and tp["users_with_places"] > 50
    with_, without = tp["with"], tp["without"]
    assert without["cold_users"] == with_["cold_users"] > 30
    # the fans' neighbours liked the niche movies they hold out: the places find them, the plain list does not
    assert with_["cold_recall@10"] >= without["cold_recall@10"] + 0.3, (with_, without)
    assert with_["coverage"] > without["coverage"]
    assert tp["without"]["recall@10"] == pytest.approx(res["best_hybrid"]["recall@10"])

    off = replace(collab, cold_start=replace(collab.cold_start, thin_places=0.0))
    assert evaluate(ds, genres, genres.any(axis=1), off, cfg, CPU)["thin_places"] == {"enabled": False}


@pytest.mark.parametrize("bad", [dict(thin_places=-1.0), dict(thin_places=math.nan), dict(thin_places=6.0),
                                 dict(thin_neighbours=0), dict(thin_content_weight=-0.1),
                                 dict(thin_content_weight=math.inf)])
def test_bad_thin_place_settings_are_refused(bad):
    with pytest.raises(ConfigError, match="thin_"):
        ColdStartConfig(**bad).validate()


def test_a_visitor_who_rates_rarely_rated_movies_is_shown_some_and_told_why(engine_ml100k_explorer):
    ex = engine_ml100k_explorer
    nr = ex.catalog["n_ratings"].to_numpy()
    thin_rows = np.flatnonzero((nr >= 2) & (nr <= 5))[:3]
    popular = np.argsort(-nr, kind="stable")[:7]
    ratings = {int(r): 5.0 for r in [*thin_rows, *popular]}
    plain = ex.recommend(ratings, alpha=0.2, thin_places=False)
    got = ex.recommend(ratings, alpha=0.2)
    places = int(quota(np.array([0.3]), 20, ex.config.collab.cold_start.thin_places)[0])
    assert places == 6 and len(got) == 20
    assert got.movie[: 20 - places].tolist() == plain.movie[: 20 - places].tolist()
    tail = got.iloc[20 - places:]
    assert (tail.n_ratings <= 5).all() and tail.why.str.startswith("rarely rated").all(), tail[["n_ratings", "why"]]
    assert not got.why.iloc[: 20 - places].str.startswith("rarely rated").any()
    said = [w.split("(", 1)[1].split(")", 1)[0] for w in tail.why]  # "1 rating", "3 ratings", "no ratings"
    assert said == [{0: "no ratings", 1: "1 rating"}.get(n, f"{n} ratings") for n in tail.n_ratings], said
    assert not got.movie.isin(list(ratings)).any() and got.movie.is_unique
    # filters hold for the thin places too
    drama = ex.recommend(ratings, alpha=0.2, filters=Filters(genres=("Drama",)))
    assert drama.genres.map(lambda g: "Drama" in g).all() and (drama.n_ratings <= 5).sum() >= 1
    # a visitor who rates only well-known films, or dislikes the rarely rated ones, keeps the plain list
    only = {int(r): 5.0 for r in popular}
    assert ex.recommend(only, alpha=0.2).movie.tolist() == ex.recommend(only, alpha=0.2, thin_places=False).movie.tolist()
    disliked = {**only, **{int(r): 1.0 for r in thin_rows}}
    assert (ex.recommend(disliked, alpha=0.2).movie.tolist()
            == ex.recommend(disliked, alpha=0.2, thin_places=False).movie.tolist())


def test_serving_a_taste_list_with_thin_places_never_imports_torch(engine_ml100k_explorer):
    """The server's pages stay light: a stored model answers a taste list with thin places without torch."""
    root = Path(engine_ml100k_explorer.store.root)
    code = (
        "import sys, numpy as np\n"
        "from recsys_core import Explorer\n"
        "ex = Explorer.open('ml-100k', train=False)\n"
        "nr = ex.catalog['n_ratings'].to_numpy()\n"
        "rated = {int(r): 5.0 for r in [*np.flatnonzero((nr >= 2) & (nr <= 5))[:3], *np.argsort(-nr)[:7]]}\n"
        "recs = ex.recommend(rated, alpha=0.2)\n"
        "print(int(recs.why.str.startswith('rarely rated').sum()), 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "RECSYS_ARTIFACTS_DIR": str(root)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).parents[2], timeout=300)
    assert out.stdout.split() == ["6", "False"], out.stderr[-2000:]


def test_taste_lists_stay_well_formed_for_any_handful_of_ratings(engine_ml100k_explorer):
    """Random handfuls of ratings (thin movies among them), lengths and filters never list a rated movie or one
    twice, never exceed k, keep to the filters, and give thin movies at most half of a list."""
    ex = engine_ml100k_explorer
    rng = np.random.default_rng(7)
    nr = ex.catalog["n_ratings"].to_numpy()
    thin_max = ex.config.collab.cold_start.cold_max_train
    thin_rows = np.flatnonzero(nr <= thin_max)
    genres = sorted({g for gs in ex.catalog["genres"] for g in gs})
    placed = 0
    for _ in range(40):
        rows = np.union1d(rng.choice(thin_rows, size=int(rng.integers(0, 4)), replace=False),
                          rng.choice(ex.dataset.n_movies, size=int(rng.integers(1, 8)), replace=False))
        ratings = {int(r): float(rng.choice([0.5, 1.0, 3.0, 4.5, 5.0])) for r in rows}
        k = int(rng.choice([1, 3, 5, 20, 100]))
        roll = rng.random()
        filt = (Filters(genres=(str(rng.choice(genres)),)) if roll < 0.3
                else Filters(min_ratings=10) if roll < 0.45 else None)  # no thin movie may show: places go back
        recs = ex.recommend(ratings, k=k, alpha=float(rng.choice([0.0, 0.2, 1.0])), filters=filt)
        assert len(recs) <= k and recs.movie.is_unique and not recs.movie.isin(list(ratings)).any()
        if filt is not None and filt.min_ratings:
            assert len(recs) == k and (recs.n_ratings >= 10).all()
        assert recs["rank"].tolist() == list(range(1, len(recs) + 1))
        if filt is not None and filt.genres:
            assert recs.genres.map(lambda g, want=filt.genres[0]: want in g).all()
        thin = recs.why.str.startswith("rarely rated")
        assert (recs.n_ratings[thin] <= thin_max).all() and thin.sum() <= k // 2
        placed += int(thin.sum())
    assert placed > 0, "no list had thin places: the test would check nothing about them"
