"""The large-data branches, forced on tiny data through the config thresholds (fast; no big files)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from recsys_core.collab import CollabConfig, predict_ratings, train_collab
from recsys_core.errors import ConfigError
from recsys_core.evaluation import (EvalConfig, _itemknn, build_protocol, evaluate, split_ratings)
from recsys_core.models.fit import FitOptions

from test_collab import collab_two_blocks  # same folder (pytest puts it on sys.path)

CPU = torch.device("cpu")


def test_defaults_keep_small_data_on_bayes_mf_and_every_user():
    cfg, ev = CollabConfig(), EvalConfig()
    assert cfg.rating_model_for(100_836) == "bayes_mf"  # ml-latest-small
    assert cfg.rating_model_for(1_000_209) == "bayes_mf"  # ml-1m
    assert cfg.rating_model_for(25_000_095) == "dot_bias"
    assert ev.max_users is None and ev.large_users >= 10_000


def test_large_rating_data_trains_dot_bias_and_says_so():
    ds = collab_two_blocks()
    cfg = CollabConfig(dim=8, rating_dim=4, bayes_max_ratings=100,
                       large_rating_fit=FitOptions(epochs=2, batch_size=64, lr=3e-3, patience=0))
    m = train_collab(ds, cfg, CPU)
    assert m.rating_meta["kind"] == "dot_bias" and m.rating_meta["requested_kind"] == "bayes_mf"
    assert m.metrics["rating_model"] == "dot_bias" and "bayes_max_ratings" in m.metrics["rating_model_note"]
    assert m.metrics["epochs"] == 2
    p = predict_ratings(m, ds.ratings.user[:10], ds.ratings.movie[:10])
    assert np.isfinite(p).all()
    # below the threshold nothing changes
    small = train_collab(ds, replace(cfg, bayes_max_ratings=10_000, rating_fit=FitOptions(epochs=3, patience=0)), CPU)
    assert small.rating_meta["kind"] == "bayes_mf" and "rating_model_note" not in small.metrics


def test_bad_scale_settings_are_refused():
    with pytest.raises(ConfigError):
        CollabConfig(bayes_max_ratings=-1).validate()
    with pytest.raises(ConfigError):
        EvalConfig(large_max_users=0).validate()


def test_large_evaluation_samples_users_and_batched_itemknn_matches():
    ds = collab_two_blocks()
    ev = EvalConfig(like_threshold=3.0)
    tr, te = split_ratings(ds, ev)
    small = build_protocol(ds, tr, te, ev, CPU)
    large = build_protocol(ds, tr, te, replace(ev, large_users=5, large_max_users=7), CPU)
    assert not small.large and large.large
    assert len(large.users) == 7 and set(large.users) <= set(small.users)
    # the batched sparse x dense item-kNN gives the same scores as the small-data path
    s_small, n_small = _itemknn(small)
    s_large, n_large = _itemknn(replace(small, large=True))
    seeds = torch.from_numpy(small.liked[small.users].toarray())
    a, b = s_small(small.users, seeds)["itemknn"], s_large(small.users, seeds)["itemknn"]
    assert torch.allclose(a, b, atol=1e-5)
    rows = np.arange(ds.n_movies)
    na, nb = n_small(rows), n_large(rows)
    assert torch.equal(torch.isinf(na), torch.isinf(nb))
    fin = torch.isfinite(na)
    assert torch.allclose(na[fin], nb[fin], atol=1e-5)


def test_large_evaluation_runs_end_to_end():
    ds = collab_two_blocks()
    cv = np.random.default_rng(0).normal(size=(ds.n_movies, 4)).astype(np.float32)
    col = CollabConfig(dim=8, rating_dim=4, bayes_max_ratings=100,
                       large_rating_fit=FitOptions(epochs=2, batch_size=64, lr=3e-3, patience=0))
    ev = EvalConfig(like_threshold=3.0, large_users=5, large_max_users=10, ease_max_items=5)
    rep = evaluate(ds, cv, np.ones(ds.n_movies, bool), col, ev, CPU)
    assert rep["n_users"] == 10
    assert rep["rmse"]["model"] == "dot_bias"
    assert "skipped" in rep["baselines"]["ease"]
    assert 0.0 <= rep["baselines"]["itemknn"]["recall@20"] <= 1.0


def test_randomized_svd_branch_agrees_with_exact_on_small_data():
    from recsys_core.collab import spectral_space

    ds = collab_two_blocks()
    exact, has_e, info_e = spectral_space(ds, CollabConfig(dim=4), CPU)
    approx, has_a, info_a = spectral_space(ds, CollabConfig(dim=4, exact_max=10), CPU)
    assert info_e["method"].startswith("eigh") and info_a["method"] == "svd_lowrank"
    assert np.array_equal(has_e, has_a)
    ue = exact[has_e] / np.linalg.norm(exact[has_e], axis=1, keepdims=True)
    ua = approx[has_a] / np.linalg.norm(approx[has_a], axis=1, keepdims=True)
    assert np.allclose(ue @ ue.T, ua @ ua.T, atol=0.05)  # same cosines up to the randomised error


def test_umap_epochs_drop_only_above_large_points_and_keys_stay():
    from recsys_core.config import ProjectionConfig

    p = ProjectionConfig()
    assert p.epochs_for(9_742) == p.n_epochs and p.epochs_for(62_000) == p.large_n_epochs < p.n_epochs
    assert p.key() == "%s" % p.key()  # stable
    from dataclasses import replace as rep
    assert rep(p, large_points=5).key() != p.key()


@pytest.mark.parametrize("opt", ["adagrad", "sparse_adam"])
@pytest.mark.parametrize("kind", ["dot_bias", "entity_net"])
def test_sparse_gradient_training_above_threshold(kind, opt):
    from recsys_core.collab import _train_rating

    ds = collab_two_blocks()
    cfg = CollabConfig(rating_model=kind, rating_dim=4, sparse_above=10, sparse_optimizer=opt,
                       rating_fit=FitOptions(epochs=3, batch_size=64, lr=3e-3, patience=0))
    state, meta, hist, metrics = _train_rating(ds, kind, cfg, CPU, None, "rating")
    assert meta["sparse_gradients"] == opt
    assert np.isfinite(metrics["val_rmse"]) and all(np.isfinite(state[k]).all() for k in state)
    assert not np.allclose(state["user.weight"], 0)
    dense = _train_rating(ds, kind, replace(cfg, sparse_above=10**9), CPU, None, "rating")[1]
    assert "sparse_gradients" not in dense


def test_bad_sparse_optimizer_is_refused():
    with pytest.raises(ConfigError):
        CollabConfig(sparse_optimizer="sgd").validate()
