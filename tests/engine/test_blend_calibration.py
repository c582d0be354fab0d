"""Issue #16: the calibrated blend (alpha means a share of each space), thin movies placed by content, export == similar."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recsys_core.scoring.blend import blend, calibration, joint_query, query_cal
from recsys_core.scoring.similarity import SimilarityIndex, unit_rows
from recsys_core.training.cold_start import cold_start, mix, predict_collab


def _spaces(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Content cosines near 0.8 +- 0.05 (a shared direction), collaborative ones near 0 +- 0.3: unlike scales."""
    rng = np.random.default_rng(seed)
    c = np.hstack([np.full((n, 1), 3.0), 0.4 * rng.normal(size=(n, 15))]).astype(np.float32)
    k = rng.normal(size=(n, 12)).astype(np.float32)
    return unit_rows(c)[0], unit_rows(k)[0]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_alpha_half_gives_each_space_an_equal_share():
    c, k = _spaces()
    has = np.ones(len(c), bool)
    cal = calibration(c, has, k, has)
    for q in (0, 17, 333):
        cc, kk = c @ c[q], k @ k[q]
        zc = (cc - cal.content_mean[q]) * cal.content_inv_std[q]
        zk = (kk - cal.collab_mean[q]) * cal.collab_inv_std[q]
        assert abs(zc.std() - 1) < 1e-3 and abs(zk.std() - 1) < 1e-3  # equal variance: the same scale
        h = blend(cc, kk, 0.5, query_cal(cal, q))
        assert abs(_spearman(h, cc) - _spearman(h, kk)) < 0.1  # each space moves the ranking alike
        raw = blend(cc, kk, 0.5)
        assert _spearman(raw, kk) - _spearman(raw, cc) > 0.5  # uncalibrated, the wide-spread space dominates


def test_ann_joint_query_ranks_as_the_calibrated_blend():
    c, k = _spaces(seed=1)
    has = np.ones(len(c), bool)
    cal = calibration(c, has, k, has)
    q, a = 5, 0.3
    joint = np.hstack([c, k]) @ joint_query(c[q], k[q], a, (cal.content_inv_std[q], cal.collab_inv_std[q]))
    exact = blend(c @ c[q], k @ k[q], a, query_cal(cal, q))
    np.testing.assert_allclose(joint - joint.mean(), exact - exact.mean(), rtol=1e-4, atol=1e-4)  # an offset apart


def test_index_uses_the_calibrated_rule_and_candidate_weights():
    c, k = _spaces(n=200, seed=2)
    n = len(c)
    w = np.ones(n, np.float32)
    w[:50] = 0.2  # thin movies: their collaborative similarity counts a fifth
    idx = SimilarityIndex(c, np.ones(n, bool), k, np.ones(n, bool), np.arange(n), np.full(n, 2000.0),
                          np.ones((n, 1), bool), ("Drama",), collab_weight=w)
    res = idx.query(120, k=10, alpha=0.0)
    kk = (k @ k[120]) * w
    kk[120] = -9
    assert res.collab.rows.tolist() == np.argsort(-kk, kind="stable")[:10].tolist()


def test_content_only_movie_gets_a_collaborative_vector():
    rng = np.random.default_rng(3)
    n, d = 300, 8
    content = unit_rows(rng.normal(size=(n, d)).astype(np.float32))[0]
    true_map = rng.normal(size=(d, 6)).astype(np.float32)
    collab = unit_rows(content @ true_map)[0]
    has_collab = np.ones(n, bool)
    has_collab[0] = False  # no ratings at all
    collab[0] = 0
    counts = np.full(n, 50)
    counts[0] = 0
    pred = predict_collab(content, collab, np.arange(1, n), lam=1.0)
    v, has, weight, share = mix(collab, has_collab, pred, np.ones(n, bool), counts, k=5.0)
    assert has[0] and share[0] == 0.0 and 0 < weight[0] <= 1
    truth = unit_rows(content[:1] @ true_map)[0][0]
    assert float(v[0] @ truth) > 0.9  # placed where its content says
    assert share[1] == pytest.approx(50 / 55) and weight[1] > 0.9


def test_switching_cold_start_off_restores_the_plain_rule(engine_tiny_ds, engine_config):
    import torch

    from recsys_core.training.collab import train_space

    cfg = engine_config()
    ds = engine_tiny_ds
    space = train_space(ds, cfg.collab, torch.device("cpu"))
    content = np.random.default_rng(0).normal(size=(ds.n_movies, 8)).astype(np.float32)
    off = replace(cfg.collab, cold_start=replace(cfg.collab.cold_start, enabled=False))
    plain = cold_start(ds, content, np.ones(ds.n_movies, bool), space.vectors, space.has_vector, off, torch.device("cpu"))
    assert plain.info["enabled"] is False and (plain.weight[space.has_vector] == 1).all()
    assert (plain.rated_share == 1).all()
    np.testing.assert_allclose(plain.vectors, unit_rows(space.vectors, space.has_vector)[0], atol=1e-6)
    on = cold_start(ds, content, np.ones(ds.n_movies, bool), space.vectors, space.has_vector, cfg.collab,
                    torch.device("cpu"))
    assert on.info["enabled"] is True and "validation" in on.info and on.info["k"] >= 0


def test_thin_movie_row_says_it_was_placed_by_content(engine_tiny_explorer):
    ex = engine_tiny_explorer
    assert "enabled" in ex.cold_start and "k" in ex.cold_start
    row = 3
    others = np.array([0, 1], dtype=np.int64)
    saved = ex._rated_share.copy()
    try:
        ex._rated_share[:] = 1.0
        assert not any("placed mostly by content" in w for w in ex._collab_why(row, others))
        ex._rated_share[1] = 0.1  # one rating and k = 9: mostly content
        why = ex._collab_why(row, others)
        assert "placed mostly by content" in why[1] and "placed mostly by content" not in why[0]
    finally:
        ex._rated_share[:] = saved


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_export_table_equals_similar(engine_tiny_explorer, alpha):
    ex = engine_tiny_explorer
    t = ex.neighbor_table(k=5, alpha=alpha)
    for row in range(0, ex.dataset.n_movies, 3):
        want = ex.similar(row, k=5, alpha=alpha).hybrid
        sel = t["movie"] == row
        assert t["neighbor"][sel].tolist() == want["movie"].tolist()
        np.testing.assert_allclose(t["score"][sel], want["score"].to_numpy(), rtol=1e-4, atol=1e-5)
