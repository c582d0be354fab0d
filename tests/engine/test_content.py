"""Content space contract: documents, TF-IDF, autoencoder codes (float32, finite, seeded), no-content movies."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recsys_core.config import ContentConfig
from recsys_core.data.dataset import Genome
from recsys_core.errors import ConfigError
from recsys_core.training.content import build_tfidf, normalize_tags, shared_terms, train_content

FAST = ContentConfig(epochs=4, code_dim=16, batch_size=16)


def _row(ds, title: str) -> int:
    return int(np.flatnonzero(ds.movies["title"].to_numpy() == title)[0])


def test_tags_are_normalised():
    s = normalize_tags(pd.Series(["Sci-Fi", " sci  fi ", "Pixar ", "pixar", "Don't!"]))
    assert list(s) == ["sci fi", "sci fi", "pixar", "pixar", "don't"]


def test_tfidf_has_every_signal_and_no_content_row_is_empty(engine_tiny_ds):
    x, terms = build_tfidf(engine_tiny_ds, FAST)
    kinds = {t.split(":", 1)[0] for t in terms}
    assert {"tag", "genre", "title", "decade"} <= kinds
    assert "tag:sci fi" in set(terms) and "tag:pixar" in set(terms)  # case/whitespace variants merged
    nnz = np.diff(x.indptr)
    assert nnz[_row(engine_tiny_ds, "Qzxv")] == 0
    assert (nnz[: engine_tiny_ds.n_movies - 1] > 0).all()
    a, b = _row(engine_tiny_ds, "Ring Quest: The Fellowship"), _row(engine_tiny_ds, "Ring Quest: The Two Towers")
    why = shared_terms(x, terms, a, np.array([b]))[0]
    assert "title:quest" in why and "tag:tolkien" in why


def test_codes_are_float32_finite_seeded_and_flag_missing(engine_tiny_ds):
    a = train_content(engine_tiny_ds, FAST, "cpu")
    b = train_content(engine_tiny_ds, FAST, "cpu")
    assert a.vectors.dtype == np.float32 and a.vectors.shape == (engine_tiny_ds.n_movies, 16)
    assert np.isfinite(a.vectors).all()
    np.testing.assert_allclose(a.vectors, b.vectors, rtol=1e-5, atol=1e-6)
    none = _row(engine_tiny_ds, "Qzxv")
    assert not a.has_vector[none] and not a.vectors[none].any()
    assert a.has_vector.sum() == engine_tiny_ds.n_movies - 1
    assert len(a.history["train"]) >= 1 and a.metrics["n_with_content"] == engine_tiny_ds.n_movies - 1
    c = train_content(engine_tiny_ds, replace(FAST, seed=7), "cpu")
    assert not np.allclose(a.vectors, c.vectors)


def test_genome_is_used_when_present(engine_tiny_ds):
    n = engine_tiny_ds.n_movies
    rng = np.random.default_rng(0)
    scores = rng.random((n - 1, 12)).astype(np.float32)
    g = Genome(movie=np.arange(n - 1, dtype=np.int32), scores=scores, tags=tuple(f"g{i}" for i in range(12)))
    ds = replace(engine_tiny_ds, genome=g)
    x, terms = build_tfidf(ds, replace(FAST, genome_top=4))
    gcols = np.flatnonzero(np.char.startswith(terms.astype(str), "genome:"))
    assert len(gcols) == 12
    assert (np.diff(x[:, gcols].tocsr().indptr)[: n - 1] == 4).all()


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(code_dim=0), dict(code_dim=10**6), dict(hidden_dim=-1),
                                 dict(lr=-1.0), dict(dropout=1.0), dict(loss="nope"), dict(tag_weight=-1.0)])
def test_config_refuses_nonsense(bad):
    with pytest.raises(ConfigError):
        replace(ContentConfig(), **bad).validate()
