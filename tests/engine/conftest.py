"""Engine fixtures (prefixed engine_): a tiny synthetic MovieLens-layout folder and trained explorers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FRANCHISES = {
    "sci": [("Space Saga", "Sci-Fi|Adventure|Action", 1977), ("Space Saga II: The Empire", "Sci-Fi|Adventure|Action", 1980),
            ("Space Saga III: The Return", "Sci-Fi|Adventure|Action", 1983), ("Robot Planet", "Sci-Fi|Action", 1986)],
    "fan": [("Ring Quest: The Fellowship", "Fantasy|Adventure", 2001), ("Ring Quest: The Two Towers", "Fantasy|Adventure", 2002),
            ("Ring Quest: The Return of the King", "Fantasy|Adventure", 2003), ("Dragon Castle", "Fantasy|Adventure", 2004)],
    "ani": [("Toy Tale", "Animation|Children|Comedy", 1995), ("Toy Tale 2", "Animation|Children|Comedy", 1999),
            ("Toy Tale 3", "Animation|Children|Comedy", 2010), ("Fish Finder", "Animation|Children", 2003)],
}
TAGS = {"sci": ["space opera", "Sci-Fi", "sci fi", "robots"], "fan": ["tolkien", "Magic", "epic"], "ani": ["pixar", "Pixar ", "family"]}
FILLER_GENRES = ["Drama", "Comedy", "Thriller", "Romance", "Horror", "Crime"]


def engine_write_folder(folder: Path, seed: int = 0, train_only: bool = False) -> Path:
    """Write a small ml-latest-small-layout release (movies/ratings/tags.csv) with known franchises."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    movies, group = [], []
    mid = 1
    for g, items in FRANCHISES.items():
        for title, genres, year in items:
            movies.append((mid, f"{title} ({year})", genres))
            group.append(g)
            mid += 1
    words = ["River", "Night", "City", "Summer", "Stone", "Letter", "Garden", "Storm", "Mirror", "Bridge"]
    for i in range(24):
        movies.append((mid, f"{words[i % 10]} {words[(i * 3 + 1) % 10]} {i} ({1950 + 2 * i})", FILLER_GENRES[i % 6]))
        group.append("none")
        mid += 1
    movies.append((mid, "Qzxv", "(no genres listed)"))  # no content at all: unique title word, no year, no genre
    group.append("none")
    mv = pd.DataFrame(movies, columns=["movieId", "title", "genres"])
    group = np.array(group)
    rows = []
    for u in range(1, 91):
        taste = ["sci", "fan", "ani"][u % 3]
        liked = np.flatnonzero(group == taste)
        others = rng.choice(np.flatnonzero(group != taste), size=8, replace=False)
        for m in liked:
            if rng.random() < 0.9:
                rows.append((u, int(mv.movieId[m]), float(rng.choice([4.0, 4.5, 5.0])), 1_000_000 + len(rows)))
        for m in others:
            rows.append((u, int(mv.movieId[m]), float(rng.choice([1.0, 2.0, 2.5, 3.0])), 1_000_000 + len(rows)))
    rows.append((91, int(mv.movieId.iloc[-1]), 3.0, 2_000_000))  # the no-content movie has one rating
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    if train_only:  # keep a per-user 80% (what a held-out evaluation hands us)
        keep = rng.random(len(ratings)) < 0.8
        ratings = ratings[keep]
    tags = []
    for m, g in enumerate(group):
        for t in TAGS.get(g, []):
            tags.append((1 + m % 5, int(mv.movieId[m]), t, 1_500_000))
    mv.to_csv(folder / "movies.csv", index=False)
    ratings.to_csv(folder / "ratings.csv", index=False)
    if not train_only:
        pd.DataFrame(tags, columns=["userId", "movieId", "tag", "timestamp"]).to_csv(folder / "tags.csv", index=False)
    return folder


def engine_small_config():
    """A fast EngineConfig for tiny data (few epochs, small codes)."""
    from recsys_core.config import EngineConfig

    cfg = EngineConfig()
    return replace(cfg, content=replace(cfg.content, epochs=4, code_dim=16, batch_size=16))


@pytest.fixture(scope="session")
def engine_tiny_dir(tmp_path_factory) -> Path:
    return engine_write_folder(tmp_path_factory.mktemp("engine_tiny") / "tiny")


@pytest.fixture(scope="session")
def engine_tiny_ds(engine_tiny_dir):
    from recsys_core.data import load_dataset

    return load_dataset(engine_tiny_dir)


@pytest.fixture(scope="session")
def engine_tiny_explorer(engine_tiny_ds, tmp_path_factory):
    """Trained once per session on the tiny folder (its own artifacts root)."""
    from recsys_core import Explorer
    from recsys_core.store import ArtifactStore

    store = ArtifactStore(tmp_path_factory.mktemp("engine_tiny_artifacts"))
    return Explorer.open(engine_tiny_ds, engine_small_config(), store=store)


@pytest.fixture(scope="session")
def engine_ml100k_explorer(tmp_path_factory):
    """The bundled ml-100k with the default config: the same artifact the UI and reliability suites use, trained
    once per session at most (kept across runs in the persistent test cache, see tests/conftest.py)."""
    from recsys_core import Explorer
    from recsys_core.store import ArtifactStore
    from tests.conftest import publish_artifact, session_artifacts

    root = session_artifacts(tmp_path_factory)
    ex = Explorer.open("ml-100k", store=ArtifactStore(root))
    publish_artifact(Path(ex.artifact.path), root)
    return ex


@pytest.fixture(scope="session")
def engine_small_explorer(ml_latest_small, tmp_path_factory):
    """ml-latest-small (real, ../shared), trained once per session with the default config."""
    from recsys_core import Explorer
    from recsys_core.store import ArtifactStore

    store = ArtifactStore(tmp_path_factory.mktemp("engine_small_artifacts"))
    return Explorer.open(ml_latest_small, store=store)


@pytest.fixture(scope="session")
def engine_write():
    """The folder writer, for tests that need their own (changed, training-only) copies."""
    return engine_write_folder


@pytest.fixture(scope="session")
def engine_config():
    """Factory of the fast tiny-data EngineConfig."""
    return engine_small_config
