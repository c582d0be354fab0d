"""Collaborative space and rating models: known answers, reproducibility, persistence, fallbacks, real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from recsys_core.config import FitOptions
from recsys_core.data.dataset import Dataset, Ratings
from recsys_core.errors import CacheError, ConfigError, DatasetError
from recsys_core.training.collab import CollabConfig, collab_to_arrays, load_collab, predict_ratings, train_collab

CPU = torch.device("cpu")
FAST_FIT = FitOptions(epochs=15, batch_size=64, lr=1e-2, patience=0)


def collab_two_blocks(seed: int = 0) -> Dataset:
    """60 users in two taste blocks over 24 movies (two disjoint groups of 12), plus one unrated movie.

    Ratings follow user + movie offsets, so a rating model has something to learn beyond the mean.
    """
    rng = np.random.default_rng(seed)
    ub, mb = rng.normal(0, 0.5, 60), rng.normal(0, 0.7, 24)
    users, movies, ratings = [], [], []
    for u in range(60):
        for m in rng.choice(12, size=8, replace=False) + 12 * (u % 2):
            users.append(u), movies.append(m)
            ratings.append(np.clip(np.round(2 * (3.3 + ub[u] + mb[m] + rng.normal(0, 0.2))) / 2, 0.5, 5.0))
    n_m = 25  # movie 24 has no ratings at all
    r = Ratings(np.array(users, np.int32), np.array(movies, np.int32), np.array(ratings, np.float32),
                np.zeros(len(users), np.int64))
    mv = pd.DataFrame({"movie_id": np.arange(1, n_m + 1, dtype=np.int64),
                       "title": [f"Movie {i}" for i in range(n_m)],
                       "year": pd.array([2000] * n_m, dtype="Int16"),
                       "genres": [("A",) if i < 12 else ("B",) for i in range(n_m)]})
    empty_tags = pd.DataFrame({"user": np.zeros(0, np.int32), "movie": np.zeros(0, np.int32), "tag": []})
    return Dataset("two-blocks", r, mv, pd.DataFrame({"user_id": np.arange(60)}), empty_tags, None,
                   (0.5, 5.0), "two-blocks")


@pytest.fixture(scope="module")
def collab_blocks() -> Dataset:
    return collab_two_blocks()


@pytest.fixture(scope="module")
def collab_blocks_model(collab_blocks) -> object:
    return train_collab(collab_blocks, CollabConfig(dim=8, rating_dim=8, rating_fit=FAST_FIT), CPU)


def _top_k(vectors: np.ndarray, has: np.ndarray, k: int) -> np.ndarray:
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    s = v @ v.T
    s[~has, :] = -np.inf
    s[:, ~has] = -np.inf
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1)[:, :k]


def test_blocks_neighbours_stay_in_their_group(collab_blocks_model):
    m = collab_blocks_model
    top = _top_k(m.vectors, m.has_vector, 5)
    for movie in range(24):
        assert set(top[movie] // 12) == {movie // 12}, (movie, top[movie])


def test_vectors_are_float32_finite_and_flag_unrated(collab_blocks_model):
    m = collab_blocks_model
    assert m.vectors.dtype == np.float32 and m.vectors.shape == (25, 8)
    assert np.isfinite(m.vectors).all()
    assert m.has_vector[:24].all() and not m.has_vector[24]
    assert not m.vectors[24].any()
    assert m.low_confidence[24] and not m.low_confidence[:24].any()
    assert m.metrics["val_rmse"] < m.metrics["baseline_global_mean_rmse"]
    assert m.history["rating"]["train"] and "seconds" in m.history["space"]


def test_training_is_seeded(collab_blocks, collab_blocks_model):
    again = train_collab(collab_blocks, CollabConfig(dim=8, rating_dim=8, rating_fit=FAST_FIT), CPU)
    np.testing.assert_allclose(again.vectors, collab_blocks_model.vectors, atol=1e-5)
    for k, v in collab_blocks_model.rating_state.items():
        np.testing.assert_allclose(again.rating_state[k], v, atol=1e-5)


def test_round_trip_through_npz_and_json(tmp_path, collab_blocks_model):
    arrays, meta = collab_to_arrays(collab_blocks_model)
    np.savez(tmp_path / "collab.npz", **arrays)
    (tmp_path / "collab.json").write_text(json.dumps(meta))
    with np.load(tmp_path / "collab.npz", allow_pickle=False) as z:
        loaded = load_collab({k: z[k] for k in z.files}, json.loads((tmp_path / "collab.json").read_text()))
    np.testing.assert_array_equal(loaded.vectors, collab_blocks_model.vectors)
    np.testing.assert_array_equal(loaded.has_vector, collab_blocks_model.has_vector)
    u, mv = np.array([0, 1, 5]), np.array([0, 13, 3])
    np.testing.assert_array_equal(predict_ratings(loaded, u, mv), predict_ratings(collab_blocks_model, u, mv))
    broken = dict(arrays)
    del broken["rating/movie.weight"]
    with pytest.raises(CacheError, match="retrain"):
        load_collab(broken, meta)
    with pytest.raises(CacheError):
        load_collab(arrays, {**meta, "format": 999})


def test_predict_unknown_ids_fall_back_to_the_bias_baseline(collab_blocks_model):
    m = collab_blocks_model
    st, meta = m.rating_state, m.rating_meta
    pred = predict_ratings(m, np.array([-1, 0, -1, 10_000, 0]), np.array([3, -1, -1, 3, 2]))
    assert pred.dtype == np.float32 and np.isfinite(pred).all()
    mu = meta["global_mean"]
    np.testing.assert_allclose(pred[0], mu + st["baseline.movie_bias"][3], atol=1e-5)
    np.testing.assert_allclose(pred[1], mu + st["baseline.user_bias"][0], atol=1e-5)
    np.testing.assert_allclose(pred[2], mu, atol=1e-5)
    np.testing.assert_allclose(pred[3], pred[0], atol=1e-5)
    known = predict_ratings(m, np.array([0, 1]), np.array([0, 12]))
    assert not np.allclose(known, meta["global_mean"])  # a known pair goes through the model
    assert ((pred >= 0.5) & (pred <= 5.0)).all()


def test_default_rating_model_is_the_sampled_bayes_mf_refit_on_every_rating(collab_blocks, collab_blocks_model):
    m = collab_blocks_model
    assert m.rating_meta["kind"] == "bayes_mf" and m.rating_meta["refit_all"]
    assert m.rating_state["user.weight"].shape == (60, 8) and m.rating_state["movie.weight"].shape == (25, 8)
    assert m.metrics["refit_sweeps"] > 0 and m.metrics["n_final"] == len(collab_blocks.ratings)
    assert m.metrics["n_train"] + m.metrics["n_val"] == len(collab_blocks.ratings)
    assert m.metrics["val_rmse"] < m.metrics["baseline_global_mean_rmse"]
    assert all(np.isfinite(v).all() for v in m.rating_state.values())
    # validation-only variant: no refit, the same validation curve
    once = train_collab(collab_blocks, CollabConfig(dim=8, rating_dim=8, rating_fit=FAST_FIT, refit_all=False), CPU)
    assert once.metrics["refit_sweeps"] == 0 and once.metrics["n_final"] == once.metrics["n_train"]
    assert once.metrics["val_rmse"] == pytest.approx(m.metrics["val_rmse"], abs=1e-6)


def test_bayes_mf_keeps_the_exact_posterior_mean_when_the_rank_allows():
    from recsys_core.models.rating_nets import BayesMF

    gen = torch.Generator().manual_seed(0)
    model = BayesMF(30, 20, 3, keep_rank=20, offset=3.0, generator=gen, seed=0, device=CPU)
    rng = np.random.default_rng(0)
    mean = np.zeros((30, 20))
    for _ in range(11):  # crosses several folds of the buffered samples
        model.u = torch.from_numpy(rng.normal(size=(30, 4)).astype(np.float32))
        model.v = torch.from_numpy(rng.normal(size=(20, 4)).astype(np.float32))
        mean += model.u[:, :3].double().numpy() @ model.v[:, :3].double().numpy().T / 11
        model.accumulate()
    st = model.state()
    np.testing.assert_allclose(st["user.weight"] @ st["movie.weight"].T, mean, atol=1e-4)
    small = BayesMF(30, 20, 3, keep_rank=2, offset=3.0, generator=gen, seed=0, device=CPU)
    small.u, small.v = model.u, model.v
    small.accumulate()
    assert small.state()["user.weight"].shape == (30, 2)


@pytest.mark.parametrize("kind", ["dot_bias", "entity_net"])
def test_the_gradient_trained_rating_models_remain_available(collab_blocks, kind):
    m = train_collab(collab_blocks, CollabConfig(dim=8, rating_dim=6, rating_model=kind, rating_fit=FAST_FIT), CPU)
    assert m.rating_meta["kind"] == kind and m.history["rating"]["train"]
    pred = predict_ratings(m, np.array([0, 1, -1]), np.array([0, 12, 3]))
    assert np.isfinite(pred).all() and ((pred >= 0.5) & (pred <= 5.0)).all()
    arrays, meta = collab_to_arrays(m)
    np.testing.assert_array_equal(predict_ratings(load_collab(arrays, meta), np.array([0]), np.array([0])), pred[:1])


@pytest.mark.parametrize("space", ["dot_bias", "rating_net"])
def test_rating_vector_spaces_are_available_for_comparison(collab_blocks, space):
    cfg = CollabConfig(space=space, rating_dim=6, rating_fit=FAST_FIT, rating_model="entity_net")
    m = train_collab(collab_blocks, cfg, CPU)
    assert m.vectors.shape == (25, 6) and m.vectors.dtype == np.float32
    assert not m.has_vector[24] and m.has_vector[:24].all()
    assert m.rating_meta["kind"] == "entity_net"
    assert np.isfinite(predict_ratings(m, np.array([0, -1]), np.array([0, 0]))).all()


@pytest.mark.parametrize("bad", [dict(dim=0), dict(dim=10**7), dict(rating_dim=-3), dict(space="svd++"),
                                 dict(rating_model="knn"), dict(val_fraction=0.9), dict(pop_beta=-1.0),
                                 dict(bayes_dim=0),
                                 dict(rating_fit=FitOptions(lr=-1.0))])
def test_bad_config_is_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError):
        CollabConfig(**bad).validate()


def test_too_few_ratings_is_a_dataset_error(collab_blocks):
    from dataclasses import replace

    r = collab_blocks.ratings
    tiny = replace(collab_blocks, ratings=Ratings(r.user[:1], r.movie[:1], r.rating[:1], r.timestamp[:1]))
    with pytest.raises(DatasetError, match="ratings"):
        train_collab(tiny, CollabConfig(), CPU)


@pytest.mark.slow
def test_star_wars_neighbours_on_bundled_ml100k():
    from recsys_core.data import load_dataset

    ds = load_dataset("ml-100k")
    m = train_collab(ds, CollabConfig(), CPU)
    titles = ds.movies["title"].str.lower()
    star = int(np.flatnonzero(titles.str.startswith("star wars"))[0])
    top = _top_k(m.vectors, m.has_vector, 20)[star]
    listed = " | ".join(titles.iloc[top])
    assert "empire strikes back" in listed and "return of the jedi" in listed, listed
    assert m.metrics["val_rmse"] < m.metrics["baseline_bias_rmse"]
