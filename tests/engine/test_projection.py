"""UMAP maps: shape, NaN rows without an embedding, alignment, hybrid geometry, cached in the artifact."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_core.projection import align, exact_knn, hybrid_space


def test_hybrid_space_inner_products_are_the_blend():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(30, 5)).astype(np.float32)
    k = rng.normal(size=(30, 7)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    x, has = hybrid_space(c, np.ones(30, bool), k, np.ones(30, bool), 0.3)
    np.testing.assert_allclose(x @ x.T, 0.3 * (c @ c.T) + 0.7 * (k @ k.T), atol=1e-5)
    assert has.all() and x.dtype == np.float32


def test_align_undoes_rotation_scale_and_shift():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(50, 2)).astype(np.float32)
    th = 1.1
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]], dtype=np.float32)
    moved = (ref @ rot) * 3 + 5
    moved[3] = np.nan
    out = align(moved, ref)
    np.testing.assert_allclose(out[np.arange(50) != 3], ref[np.arange(50) != 3], atol=1e-4)
    assert np.isnan(out[3]).all()


def test_exact_knn_puts_self_first():
    x = np.eye(6, dtype=np.float32)[:, :4]
    x[4:] = x[:2] * 0.5 + 0.1
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    idx, dist = exact_knn(x, 3)
    assert (idx[:, 0] == np.arange(6)).all() and (dist[:, 0] == 0).all() and (np.diff(dist, axis=1) >= -1e-6).all()


def test_maps_are_computed_once_and_cached(engine_tiny_explorer):
    ex = engine_tiny_explorer
    content = ex.projection("content")
    assert content.shape == (ex.dataset.n_movies, 2) and content.dtype == np.float32
    none = int(np.flatnonzero(ex.catalog["title"].to_numpy() == "Qzxv")[0])
    assert np.isnan(content[none]).all() and np.isfinite(np.delete(content, none, axis=0)).all()
    hybrid = ex.projection("hybrid", alpha=0.52)
    assert np.isfinite(hybrid).all(axis=1).sum() >= ex.dataset.n_movies - 1
    names = [f for f in ex.artifact.manifest["files"] if f.startswith("proj_")]
    assert any("hybrid_a0.5" in f for f in names) and any("content" in f for f in names)
    again = ex.projection("hybrid", alpha=0.48)  # same rounded alpha: served from the artifact
    np.testing.assert_array_equal(again, hybrid)
    from recsys_core.errors import ConfigError

    with pytest.raises(ConfigError):
        ex.projection("nope")


def test_umap_kernels_are_kept_on_disk_for_the_next_process():
    """umap-learn jits its layout kernels without numba's disk cache (~15 s per new process: each job worker,
    each server); ours turns it on, so the compiled layout step is found on disk after a map."""
    from pathlib import Path

    import numba

    from recsys_core.config import ProjectionConfig
    from recsys_core.projection import umap_2d

    x = np.random.default_rng(3).normal(size=(60, 8)).astype(np.float32)
    coords = umap_2d(x, np.ones(60, bool), ProjectionConfig())
    assert np.isfinite(coords).all()
    import umap

    where = Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else Path(umap.__file__).parent / "__pycache__"
    assert any(where.rglob("layouts*optimize_layout*.nbi")), f"no compiled umap layout kernel under {where}"
