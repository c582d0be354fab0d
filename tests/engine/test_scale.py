"""The large-data branches, forced on tiny data through the config thresholds (fast; no big files)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_collab import collab_two_blocks  # same folder (pytest puts it on sys.path)

from recsys_core.config import FitOptions
from recsys_core.errors import ConfigError
from recsys_core.evaluation import EvalConfig, build_protocol, evaluate, itemknn
from recsys_core.training.collab import CollabConfig, predict_ratings, train_collab
from recsys_core.training.splits import split_ratings, validation_mask

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


def test_large_evaluation_samples_users_and_itemknn_is_the_cosine_definition():
    ds = collab_two_blocks()
    ev = EvalConfig(like_threshold=3.0)
    tr, te = split_ratings(ds, ev)
    small = build_protocol(ds, tr, te, ev, CPU)
    large = build_protocol(ds, tr, te, replace(ev, large_users=5, large_max_users=7), CPU)
    assert not small.large and large.large
    assert len(large.users) == 7 and set(large.users) <= set(small.users)
    # item-kNN's batched sparse products give the dense definition's scores: seeds @ cos(movie columns)
    x = small.train.toarray().astype(np.float64)
    norm = np.linalg.norm(x, axis=0)
    xn = x / np.where(norm > 0, norm, 1.0)
    cos = xn.T @ xn
    score, neigh = itemknn(small)
    seeds = small.liked[small.users].toarray()
    rated = small.train[small.users].toarray() != 0
    (name, got_t), = score(small.users, torch.from_numpy(seeds.astype(np.float32)), torch.from_numpy(rated))
    got = got_t.numpy()
    assert name == "itemknn" and np.isneginf(got[rated]).all()  # a user's rated movies are never listed
    assert np.allclose(got[~rated], (seeds @ cos)[~rated], atol=1e-4)
    rows = np.arange(ds.n_movies)
    nb = neigh(rows).numpy()
    assert np.array_equal(np.isinf(nb), np.broadcast_to(norm == 0, nb.shape))
    fin = np.isfinite(nb)
    assert np.allclose(nb[fin], cos[fin], atol=1e-5)


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


def test_large_evaluation_trains_no_second_rating_model_and_says_so():
    ds = collab_two_blocks()
    cv = np.random.default_rng(0).normal(size=(ds.n_movies, 4)).astype(np.float32)
    col = CollabConfig(dim=8, rating_dim=4, bayes_dim=2, rating_fit=FitOptions(epochs=4, patience=0))
    small = evaluate(ds, cv, np.ones(ds.n_movies, bool), col, EvalConfig(like_threshold=3.0), CPU)
    large = evaluate(ds, cv, np.ones(ds.n_movies, bool), col, EvalConfig(like_threshold=3.0, rating_eval_max=10), CPU)
    assert np.isfinite(small["rmse"]["test_rmse"]) and "skipped" not in small["baselines"]["rating_vectors"]
    assert "test_rmse" not in large["rmse"] and "rating_eval_max" in large["rmse"]["skipped"]
    assert "rating_eval_max" in large["baselines"]["rating_vectors"]["skipped"]
    assert large["hybrid"] == small["hybrid"]  # the lists' metrics do not depend on the rating model
    assert large["baselines"]["itemknn"] == small["baselines"]["itemknn"]


def test_randomized_svd_branch_agrees_with_exact_on_small_data():
    from recsys_core.training.collab import spectral_space

    ds = collab_two_blocks()
    exact, has_e, info_e = spectral_space(ds, CollabConfig(dim=4), CPU)
    approx, has_a, info_a = spectral_space(ds, CollabConfig(dim=4, exact_max=10), CPU)
    assert info_e["method"].startswith("eigh") and info_a["method"] == "randomized_svd"  # the CPU's (CUDA: torch.svd_lowrank)
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


@pytest.mark.parametrize("kind", ["dot_bias", "entity_net"])
def test_row_wise_training_above_threshold_learns_real_ratings(kind):
    """The large-data path (row-wise updates, forced by sparse_above=0) beats the bias baseline on ml-100k."""
    from recsys_core.data import load_dataset
    from recsys_core.training.rating import RatingRows, train_rating

    ds = load_dataset("ml-100k")
    cfg = CollabConfig(rating_model=kind, sparse_above=0,
                       rating_fit=FitOptions(epochs=12, batch_size=4096, lr=3e-3, patience=2))
    rows = RatingRows.every(ds.ratings.user, ds.ratings.movie, ds.ratings.rating)
    fitted = train_rating(rows, ds.n_users, ds.n_movies, ds.rating_scale, kind, cfg, CPU)
    state, meta, hist, metrics = fitted.state, fitted.meta, fitted.history, fitted.metrics
    assert meta["sparse_gradients"] == "row_adagrad"
    assert all(np.isfinite(state[k]).all() for k in state)
    # dot_bias must beat the closed-form biases; the entity net (no biases) the global mean by a clear margin
    bar = metrics["baseline_bias_rmse"] - 0.01 if kind == "dot_bias" else metrics["baseline_global_mean_rmse"] - 0.1
    assert metrics["val_rmse"] < bar, (metrics, hist["val"])
    dense = train_rating(rows, ds.n_users, ds.n_movies, ds.rating_scale, kind, replace(cfg, sparse_above=10**9),
                         CPU).meta
    assert "sparse_gradients" not in dense


def _mf_epochs(ds, compiled: bool, epochs: int = 8) -> float:
    """Validation RMSE of DotBias after ``epochs`` row-wise epochs through one of the two step implementations."""
    from recsys_core.models.rating_nets import DotBias
    from recsys_core.models.row_updates import dot_bias_step
    from recsys_core.training.rating import fit_biases

    r = ds.ratings
    is_val = validation_mask(np.arange(len(r)), 0.05, 0)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    mu, bu, bm = fit_biases(r.user[tr], r.movie[tr], r.rating[tr], ds.n_users, ds.n_movies, 5.0)
    torch.manual_seed(0)
    model = DotBias(ds.n_users, ds.n_movies, 32)
    model.init_biases(mu, torch.from_numpy(bu), torch.from_numpy(bm))
    t = lambda a, dt: torch.from_numpy(np.ascontiguousarray(a).astype(dt))  # noqa: E731
    u, m, y = t(r.user[tr], np.int64), t(r.movie[tr], np.int64), t(r.rating[tr], np.float32)
    step = dot_bias_step(model, u, m, y, lr=0.05, reg=0.1, compiled=compiled)
    gen = torch.Generator().manual_seed(0)
    before = [w.clone() for w in (model.user.weight, model.movie.weight)]
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for lo in range(0, len(y), 4096):
            step(perm[lo : lo + 4096])
    assert not torch.equal(before[0], model.user.weight) and not torch.equal(before[1], model.movie.weight)
    with torch.no_grad():
        pred = model(t(r.user[va], np.int64), t(r.movie[va], np.int64)).clamp(1, 5).numpy()
    return float(np.sqrt(np.mean((pred - r.rating[va]) ** 2)))


def test_compiled_and_batched_row_steps_reach_the_same_quality():
    """The CPU's compiled per-rating loop and the batched torch step (what CUDA runs) optimise the same objective:
    both beat the bias baseline on ml-100k and land within 0.02 RMSE of each other."""
    from recsys_core.data import load_dataset
    from recsys_core.training.rating import fit_biases

    ds = load_dataset("ml-100k")
    r = ds.ratings
    is_val = validation_mask(np.arange(len(r)), 0.05, 0)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    mu, bu, bm = fit_biases(r.user[tr], r.movie[tr], r.rating[tr], ds.n_users, ds.n_movies, 5.0)
    base = float(np.sqrt(np.mean((np.clip(mu + bu[r.user[va]] + bm[r.movie[va]], 1, 5) - r.rating[va]) ** 2)))
    compiled, batched = _mf_epochs(ds, True), _mf_epochs(ds, False)
    assert compiled < base - 0.01 and batched < base - 0.01, (compiled, batched, base)
    assert abs(compiled - batched) < 0.02, (compiled, batched)


def test_row_adagrad_touches_only_the_batch_rows_and_counts_repeats():
    from recsys_core.models.row_updates import RowAdagrad

    table = torch.ones(5, 3)
    opt = RowAdagrad(table, lr=0.1)
    opt.step(torch.tensor([1, 1, 3]), torch.ones(3, 3))
    assert torch.equal(table[[0, 2, 4]], torch.ones(3, 3))  # untouched rows stay
    assert float(opt.acc[1]) == pytest.approx(2.0) and float(opt.acc[3]) == pytest.approx(1.0)
    assert float(table[1, 0]) < float(table[3, 0]) < 1.0  # a repeated id takes one step per occurrence


def test_row_wise_models_take_the_large_batch_and_keep_their_own_epochs_unless_set():
    cfg = CollabConfig(rating_model="entity_net")
    big = cfg.sparse_above + 1
    for kind in ("dot_bias", "entity_net"):
        small, large = cfg.fit_for(kind, cfg.sparse_above), cfg.fit_for(kind, big)
        assert small.batch_size == 8192 and large.batch_size == cfg.large_rating_fit.batch_size == 16384
        assert replace(large, batch_size=small.batch_size) == small  # epochs, lr, patience: the kind's own
    assert cfg.fit_for("bayes_mf", big) == cfg.fit_for("bayes_mf")
    own = FitOptions(epochs=3, batch_size=512)
    assert replace(cfg, rating_fit=own).fit_for("entity_net", big) == own  # an explicit setting wins


def test_bad_sparse_lr_is_refused():
    for bad in (0, -1.0, float("nan"), "fast"):
        with pytest.raises(ConfigError):
            CollabConfig(sparse_lr=bad).validate()


@pytest.mark.parametrize("p", [0.5, 0.4, 0.25])
def test_entity_net_dropout_from_random_bytes_keeps_rate_and_mean(p):
    from recsys_core.models.rating_nets import EntityNet

    torch.manual_seed(0)
    x = torch.ones(1000, 333)  # not a multiple of 8 elements per row: the byte view must still line up
    out = EntityNet.drop(x, p, True)
    zero = float((out == 0).float().mean())
    assert zero == pytest.approx(p, abs=0.01)
    assert float(out.mean()) == pytest.approx(1.0, abs=0.02)  # rescaled so the expected activation is unchanged
    cols = (out == 0).float().mean(0)  # every position is masked independently (no stuck byte lanes)
    assert float(cols.min()) > p - 0.1 and float(cols.max()) < p + 0.1
    assert torch.equal(EntityNet.drop(x, p, False), x)
