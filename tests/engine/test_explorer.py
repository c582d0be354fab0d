"""The facade end to end: train once, cached open, lists, reasons, filters, recommend, persistence, real lists."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recsys_core import ArtifactMissingError, Explorer, Filters, UnknownMovieError
from recsys_core.errors import ConfigError
from recsys_core.store import ArtifactStore

LIST_COLS = ["rank", "movie", "movie_id", "title", "year", "genres", "score", "content_score", "collab_score",
             "n_ratings", "mean_rating", "why"]


def _row(ex, title):
    return int(np.flatnonzero(ex.catalog["title"].to_numpy() == title)[0])


def test_open_trains_then_loads_from_cache(engine_tiny_explorer, engine_tiny_ds, engine_config):
    ex = engine_tiny_explorer
    m = ex.manifest
    assert m["format_version"] >= 1 and m["fingerprint"] == engine_tiny_ds.fingerprint
    assert {"content", "space", "rating", "evaluate", "total"} <= set(m["timings"]) and m["device"]
    assert "libraries" in m and m["created"] and m["size_bytes"] > 0
    t = time.perf_counter()
    again = Explorer.open(engine_tiny_ds, engine_config(), train=False, store=ex.store)
    assert time.perf_counter() - t < 1.0
    assert again.artifact.path == ex.artifact.path
    other = replace(engine_config(), content=replace(engine_config().content, code_dim=12))
    with pytest.raises(ArtifactMissingError):
        Explorer.open(engine_tiny_ds, other, train=False, store=ex.store)


def test_catalog_and_lists_follow_the_contract(engine_tiny_explorer):
    ex = engine_tiny_explorer
    cat = ex.catalog
    assert {"movie_id", "title", "year", "genres", "label", "n_ratings", "mean_rating", "has_content", "has_collab",
            "low_confidence"} <= set(cat.columns)
    assert not cat.loc[_row(ex, "Qzxv"), "has_content"]
    row = _row(ex, "Ring Quest: The Fellowship")
    res = ex.similar(row, k=5, alpha=0.5)
    for df in (res.content, res.collab, res.hybrid):
        assert list(df.columns[: len(LIST_COLS)]) == LIST_COLS and len(df) == 5 and row not in df["movie"].to_numpy()
    assert {"content_rank", "collab_rank"} <= set(res.hybrid.columns)
    top3 = set(res.content["title"][:3])
    assert {"Ring Quest: The Two Towers", "Ring Quest: The Return of the King"} <= top3
    assert any("users liked both" in w for w in res.collab["why"])
    assert res.removed == {"content": 0, "collab": 0, "hybrid": 0}
    f = ex.similar(row, k=5, alpha=0.5, filters=Filters(genres=("Drama", "Comedy")))
    assert len(f.hybrid) == 5 and all({"Drama", "Comedy"} & set(g) for g in f.hybrid["genres"]) and f.removed["hybrid"] > 0


def test_movie_without_content_gets_notes_not_nonsense(engine_tiny_explorer):
    ex = engine_tiny_explorer
    res = ex.similar(_row(ex, "Qzxv"), k=5)
    assert len(res.content) == 0 and res.notes


def test_resolve_and_search(engine_tiny_explorer):
    ex = engine_tiny_explorer
    assert ex.resolve("Toy Tale 2 (1999)") == _row(ex, "Toy Tale 2")
    assert ex.resolve(int(ex.catalog["movie_id"].iat[3])) == 3
    assert ex.search("ring qest fellowshp", 3)[0] == _row(ex, "Ring Quest: The Fellowship")
    with pytest.raises(UnknownMovieError) as err:
        ex.resolve("Toy Tail")
    assert err.value.candidates and "Toy Tale" in err.value.candidates[0]
    with pytest.raises(UnknownMovieError):
        ex.resolve(987654)


def test_recommend_blend_path_agreement_and_default_alpha(engine_tiny_explorer, engine_config):
    ex = engine_tiny_explorer
    liked = {_row(ex, "Space Saga"): 5.0, _row(ex, "Space Saga II: The Empire"): 4.5}
    recs = ex.recommend(liked, k=5, alpha=0.5)
    assert len(recs) == 5 and not set(recs["movie"]) & set(liked)
    assert "Space Saga III: The Return" in set(recs["title"]) and recs["why"].str.contains("because").all()
    with pytest.raises(ConfigError):
        ex.recommend({}, k=5)
    path = ex.blend_path(liked.popitem()[0], k=5)
    assert list(path.columns) == ["alpha", "rank", "movie", "title", "score"] and path["alpha"].nunique() == 11
    agree = ex.agreement(k=5)
    assert agree.shape == (ex.dataset.n_movies,) and agree.max() <= 5 and ex.artifact.has("agreement_k5.npy")
    own = ex.default_alpha
    assert not ex.default_alpha_chosen
    ex.set_default_alpha(0.3)
    again = Explorer.open(ex.dataset, engine_config(), train=False, store=ex.store)
    assert again.default_alpha == 0.3 and again.default_alpha_chosen
    again.set_default_alpha(None)  # handed back to the evaluation's pick
    assert not ex.default_alpha_chosen and ex.default_alpha == own
    with pytest.raises(ConfigError):
        ex.set_default_alpha(2.0)
    assert isinstance(ex.metrics, dict) and "content" in ex.history


def test_corrupt_or_changed_data_rebuilds_through_the_facade(tmp_path, engine_write, engine_config):
    folder = engine_write(tmp_path / "d", seed=3)
    store = ArtifactStore(tmp_path / "art")
    ex = Explorer.open(folder, engine_config(), store=store)
    (ex.artifact.path / "content_vectors.npy").write_bytes(b"broken")
    with pytest.raises(ArtifactMissingError):
        Explorer.open(folder, engine_config(), train=False, store=store)
    ex2 = Explorer.open(folder, engine_config(), store=store)
    assert ex2.notices and ex2.artifact.path == ex.artifact.path
    engine_write(folder, seed=4)  # the data changes on disk
    ex3 = Explorer.open(folder, engine_config(), store=store)
    assert ex3.artifact.path != ex.artifact.path


def test_import_is_light():
    code = "import sys, recsys_core; from recsys_core import Filters; print(sorted(m for m in ('torch','sklearn','umap') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]", out.stderr


def test_star_wars_sequels_in_hybrid_top10(engine_ml100k_explorer):
    ex = engine_ml100k_explorer
    res = ex.similar(ex.resolve("Star Wars (1977)"), k=10, alpha=0.5)
    titles = " | ".join(res.hybrid["title"])
    assert "Empire Strikes Back" in titles and "Return of the Jedi" in titles, titles


@pytest.mark.slow
def test_fellowship_sequels_in_content_top10_and_hybrid_top5(engine_small_explorer):
    ex = engine_small_explorer
    row = ex.resolve("Lord of the Rings: The Fellowship of the Ring, The (2001)")
    res = ex.similar(row, k=10, alpha=0.5)
    for name, n in (("content", 10), ("hybrid", 5)):
        titles = " | ".join(getattr(res, name)["title"][:n])
        assert "Two Towers" in titles and "Return of the King" in titles, f"{name}: {titles}"


def test_on_large_data_the_evaluation_shows_the_rating_stages_own_rmse(tmp_path, engine_tiny_ds, engine_config):
    """Above rating_eval_max the evaluation trains no second rating model: the RMSE it reports is the rating
    stage's validation figure (the model that serves predict), and the report says why."""
    from recsys_core.store import ArtifactStore

    cfg = engine_config()
    cfg = replace(cfg, eval=replace(cfg.eval, rating_eval_max=10))
    ex = Explorer.open(engine_tiny_ds, cfg, store=ArtifactStore(tmp_path))
    rmse, fit = ex.manifest["metrics"]["rmse"], ex.manifest["collab_metrics"]
    assert "test_rmse" not in rmse and "rating_eval_max" in rmse["skipped"]
    assert rmse["validation_rmse"] == fit["val_rmse"] and rmse["n_validation"] == fit["n_val"] > 0
    assert 0 < rmse["validation_rmse"] < rmse["global_mean"]
    # the CLI's `evaluate` can run before the rating stage: the rating stage then fills the figure in
    other = Explorer.open(engine_tiny_ds, cfg, store=ArtifactStore(tmp_path / "evaluate-first"), complete=False)
    other.complete(("evaluate",))
    assert other.missing() == ("rating",) and "validation_rmse" not in other.manifest["metrics"]["rmse"]
    other.complete(("rating",))
    assert other.manifest["metrics"]["rmse"]["validation_rmse"] == other.manifest["collab_metrics"]["val_rmse"]
    assert other.manifest["metrics"]["hybrid"] == ex.manifest["metrics"]["hybrid"]
