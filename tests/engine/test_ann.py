"""ANN similarity (recsys_core.scoring.ann): recall against exact search, save/load, switching by size, bad config."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss", reason="faiss-cpu is not installed; pip install faiss-cpu to test the ANN path")

from recsys_core.config import AnnConfig, use_ann  # noqa: E402
from recsys_core.errors import CacheError, ConfigError  # noqa: E402
from recsys_core.scoring.ann_index import AnnIndex, HybridAnn, build_index, exact_search, recall_at_k  # noqa: E402

N, D, K, N_QUERIES = 20_000, 64, 20, 100


def _clustered(n: int, d: int, rng: np.random.Generator, n_clusters: int, labels=None):
    """Unit rows near random centres, spread in a per-cluster 8-dim subspace plus isotropic noise."""
    centres = rng.standard_normal((n_clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = (rng.standard_normal((n_clusters, d, 8)) / np.sqrt(d)).astype(np.float32)
    lab = rng.integers(0, n_clusters, n) if labels is None else labels
    z = rng.standard_normal((n, 8)).astype(np.float32)
    x = centres[lab] + 0.6 * np.einsum("mds,ms->md", bases[lab], z)
    x += 0.15 * rng.standard_normal((n, d)).astype(np.float32) / np.float32(np.sqrt(d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), lab


@pytest.fixture(scope="module")
def spaces() -> tuple[np.ndarray, np.ndarray]:
    """Content and collab spaces (clusters half correlated); 2% of movies lack each embedding."""
    rng = np.random.default_rng(7)
    content, lab = _clustered(N, D, rng, 40)
    collab, _ = _clustered(N, D, rng, 40, labels=np.where(rng.random(N) < 0.5, lab, rng.integers(0, 40, N)))
    content[rng.choice(N, N // 50, replace=False)] = 0.0
    collab[rng.choice(N, N // 50, replace=False)] = 0.0
    return content, collab


@pytest.fixture(scope="module")
def query_rows(spaces) -> np.ndarray:
    """Movies with both embeddings (the common case) to query with."""
    content, collab = spaces
    both = np.flatnonzero(np.any(content != 0, axis=1) & np.any(collab != 0, axis=1))
    return np.random.default_rng(1).choice(both, N_QUERIES, replace=False)


@pytest.fixture(scope="module")
def hybrid(spaces) -> HybridAnn:
    """Default-config index (small nlist at this size, so IVF probes a fair share of lists)."""
    return HybridAnn.build(*spaces, AnnConfig(threshold=0))


def _exact_hybrid(spaces, rows: np.ndarray, alpha: float, k: int) -> np.ndarray:
    """Reference: exact blend by matrix product."""
    content, collab = spaces
    joint = np.hstack([content, collab])
    q = np.hstack([alpha * content[rows], (1 - alpha) * collab[rows]])
    return exact_search(joint, q, k)[0]


@pytest.fixture(scope="module")
def hnsw_content(spaces) -> AnnIndex:
    """A graph index over the content space (built once: HNSW builds are the slow part here)."""
    return build_index(spaces[0], AnnConfig(kind="hnsw", hnsw_m=16, ef_construction=40))


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_pure_space_recall_at_20(spaces, query_rows, hnsw_content, kind):
    content = spaces[0]
    index = hnsw_content if kind == "hnsw" else build_index(content, AnnConfig(kind=kind))
    approx, scores = index.search(content[query_rows], K)
    exact, exact_scores = exact_search(content, content[query_rows], K)
    assert approx.shape == (N_QUERIES, K) and approx.dtype == np.int64 and scores.dtype == np.float32
    assert recall_at_k(exact, approx) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert np.allclose(scores[:, 0], exact_scores[:, 0], atol=1e-4)  # the query itself, cos 1


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_hybrid_recall_at_20_across_alpha(spaces, query_rows, hybrid, alpha):
    exact = _exact_hybrid(spaces, query_rows, alpha, K)
    got = [hybrid.search(int(r), alpha, K) for r in query_rows]
    approx = np.stack([ids for ids, _ in got])
    assert recall_at_k(exact, approx) >= 0.95
    content, collab = spaces
    r, (ids, scores) = int(query_rows[0]), got[0]
    expected = alpha * content[ids] @ content[r] + (1 - alpha) * collab[ids] @ collab[r]
    assert np.allclose(scores, expected, atol=1e-5)  # scores are the exact blend, best first
    assert np.all(np.diff(scores) <= 0)


@pytest.mark.parametrize("via", ["joint", "pure"])
def test_single_source_hybrids_keep_recall(spaces, query_rows, via):
    half = tuple(m[: N // 2] for m in spaces)
    rows = query_rows[query_rows < N // 2]
    ann = HybridAnn.build(*half, AnnConfig(hybrid_via=via))
    assert set(ann.indexes) == ({"joint"} if via == "joint" else {"content", "collab"})
    alpha = 0.5 if via == "joint" else 1.0  # what each source alone is meant to serve
    exact = _exact_hybrid(half, rows, alpha, K)
    approx = np.stack([ann.search(int(r), alpha, K)[0] for r in rows])
    assert recall_at_k(exact, approx) >= 0.9


def test_search_space_matches_alpha_and_skips_missing(spaces, hybrid, query_rows):
    content, collab = spaces
    r = int(query_rows[3])
    ids_c, _ = hybrid.search_space(r, "content", K)
    assert np.array_equal(ids_c, hybrid.search(r, 1.0, K)[0])
    missing = int(np.flatnonzero(~np.any(collab != 0, axis=1))[0])
    ids, scores = hybrid.search_space(missing, "collab", K)
    assert ids.size == 0 and scores.size == 0
    # a movie without collab still has a hybrid list, scored alpha * cos_content
    ids, scores = hybrid.search(missing, 0.5, K)
    assert ids.size == K and np.allclose(scores, 0.5 * content[ids] @ content[missing], atol=1e-5)


def test_save_load_round_trip_is_identical(spaces, query_rows, hybrid, hnsw_content, tmp_path):
    content, collab = spaces
    hnsw_content.save(tmp_path / "content.faiss")
    loaded = AnnIndex.load(tmp_path / "content.faiss", hnsw_content.cfg)
    a_ids, a_s = hnsw_content.search(content[query_rows], K)
    b_ids, b_s = loaded.search(content[query_rows], K)
    assert np.array_equal(a_ids, b_ids) and np.array_equal(a_s, b_s)
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp file

    hybrid.save(tmp_path / "hybrid")
    again = HybridAnn.load(tmp_path / "hybrid", content, collab, hybrid.cfg)
    assert set(again.indexes) == set(hybrid.indexes) == {"content", "collab", "joint"}
    for r in query_rows[:20]:
        x, y = hybrid.search(int(r), 0.3, K), again.search(int(r), 0.3, K)
        assert np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])


def test_load_missing_or_corrupt_index_raises_cache_error(tmp_path):
    with pytest.raises(CacheError, match="rebuild"):
        AnnIndex.load(tmp_path / "nope.faiss")
    bad = tmp_path / "bad.faiss"
    bad.write_bytes(b"not an index")
    with pytest.raises(CacheError, match="rebuild"):
        AnnIndex.load(bad)


def test_use_ann_switches_by_size():
    cfg = AnnConfig(threshold=200_000)
    assert not use_ann(9_742, cfg) and not use_ann(200_000, cfg)
    assert use_ann(200_001, cfg) and use_ann(1_000_000, cfg)
    assert use_ann(10, AnnConfig(threshold=0))
    assert not use_ann(100_000)  # the default keeps MovieLens-sized catalogues exact


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "annoy"},
        {"hnsw_m": 2},
        {"nprobe": 0},
        {"ef_search": -5},
        {"nlist": -1},
        {"threshold": -1},
        {"candidates": 0},
        {"hybrid_via": "neither"},
    ],
)
def test_bad_config_raises_config_error(kwargs):
    with pytest.raises(ConfigError):
        AnnConfig(**kwargs)


def test_bad_queries_raise_config_error(spaces, hybrid):
    content = spaces[0]
    index = build_index(content[:500])
    with pytest.raises(ConfigError, match="columns"):
        index.search(np.ones((1, D + 1), np.float32), K)
    with pytest.raises(ConfigError, match="k must"):
        index.search(content[:1], 0)
    with pytest.raises(ConfigError, match="alpha"):
        hybrid.search(0, 1.5, K)
    with pytest.raises(ConfigError, match="outside the catalogue"):
        hybrid.search(N, 0.5, K)
    with pytest.raises(ConfigError, match="rows"):
        HybridAnn.build(content, content[:10])


def test_k_larger_than_index_pads(spaces):
    index = build_index(spaces[0][:10], AnnConfig(kind="hnsw"))
    ids, scores = index.search(spaces[0][:2], 15)
    assert ids.shape == (2, 15) and (ids[:, 10:] == -1).all() and np.isneginf(scores[:, 10:]).all()
    assert recall_at_k(np.array([[1, 2, -1]]), np.array([[2, 9, -1]])) == 0.5
