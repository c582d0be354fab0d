"""Streamlit caches around the facade: one Explorer per (dataset, settings) for every page and session.

A rerun from moving a widget must not train, project or parse: the Explorer lives in
``st.cache_resource`` and everything derived from it for display lives in ``st.cache_data``, keyed by
the artifact identity so a retrain or a new dataset is never served stale.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ui import engine
from ui.engine import ArtifactMissingError, EngineConfig, Explorer, Filters, RecsysError
from ui.state import DEFAULT_DATASET, Catalogue, K

_log = logging.getLogger(__name__)


# --- settings <-> JSON (hashable cache keys) ------------------------------------------------------


def config_to_json(cfg: EngineConfig) -> str:
    """A canonical string for a config, usable as a cache key and in session state."""
    return json.dumps(_plain(dataclasses.asdict(cfg)), sort_keys=True)


def _plain(obj: Any) -> Any:
    """Tuples to lists, recursively, so JSON round-trips compare equal."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def config_from_json(text: str) -> EngineConfig:
    """Rebuild an EngineConfig (nested dataclasses) from its JSON form."""
    return _build(EngineConfig, json.loads(text))


def _build(cls: type, data: dict[str, Any]) -> Any:
    """Instantiate a (possibly nested) dataclass from plain data, restoring tuples."""
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        current = getattr(defaults, f.name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            value = _build(type(current), value)
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


DEFAULT_CONFIG_JSON = config_to_json(EngineConfig())


# --- datasets -----------------------------------------------------------------------------------

_LAYOUT_FILES = ("ratings.csv", "ratings.dat", "u.data", "ratings.parquet")


@st.cache_data(show_spinner=False, ttl=30)
def dataset_choices() -> list[str]:
    """Datasets present here: registry releases on disk, then other dataset folders in the data dir."""
    names = [r["name"] for r in engine.releases() if r["present"]]
    known = set(engine.release_names())
    base = engine.data_dir()
    if base.is_dir():
        for folder in sorted(base.iterdir()):
            if folder.name in known or folder.name.startswith(".") or not folder.is_dir():
                continue
            if any((folder / f).exists() or any(folder.glob(f"*/{f}")) for f in _LAYOUT_FILES):
                names.append(folder.name)
    extra = operator_dataset()
    if extra is not None and extra[0] not in names:
        names.append(extra[0])
    first = default_dataset(names)
    if first in names:
        names.remove(first)
        names.insert(0, first)
    return names or [DEFAULT_DATASET]


def operator_dataset() -> tuple[str, str] | None:
    """(name, source) of RECSYS_DEFAULT_DATA (`make run DATA=...`) when it is a folder or .zip, else None.

    Set by whoever starts the server, never by a visitor; visitors only ever pick from the listed names.
    """
    import os
    from pathlib import Path

    value = os.environ.get("RECSYS_DEFAULT_DATA", "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        return None
    name = path.resolve().name
    return (name[:-4] if name.lower().endswith(".zip") else name), str(path.resolve())


def default_dataset(choices: list[str]) -> str:
    """The dataset a visitor starts on: RECSYS_DEFAULT_DATA (name or folder) when usable, else ml-100k."""
    import os

    value = os.environ.get("RECSYS_DEFAULT_DATA", "").strip()
    extra = operator_dataset()
    if extra is not None and extra[0] in choices:
        return extra[0]
    if value in choices:
        return value
    return DEFAULT_DATASET


def dataset_source(name: str) -> str:
    """What Explorer.open gets for a listed name: the registry name, or the folder in the data dir."""
    extra = operator_dataset()
    if extra is not None and name == extra[0] and not engine.release_present(name):
        return extra[1]
    if name in engine.release_names():
        return name
    folder = (engine.data_dir() / name).resolve()
    if not folder.is_relative_to(engine.data_dir().resolve()) or not folder.is_dir():
        raise RecsysError(f"Dataset {name!r} is not in the data directory; pick one from the sidebar list.")
    return str(folder)


# --- the explorer -------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=6)
def _open_cached(dataset: str, config_json: str) -> Explorer:
    """Open a trained artifact (never trains here); shared by all pages and sessions."""
    return engine.open_explorer(dataset_source(dataset), config_from_json(config_json), train=False)


def artifact_missing(exc: BaseException) -> bool:
    """True for the facade's 'no trained artifact yet' error."""
    return isinstance(exc, ArtifactMissingError)


def open_explorer(dataset: str, config_json: str = DEFAULT_CONFIG_JSON) -> Explorer:
    """The cached Explorer; raises ArtifactMissingError when nothing is trained for these settings."""
    return _open_cached(dataset, config_json)


def forget_explorer(dataset: str | None = None, config_json: str | None = None) -> None:
    """Drop cached explorers (all, or one) after a retrain, a default-alpha change or a cache clear."""
    if dataset is None or config_json is None:
        _open_cached.clear()
    else:
        _open_cached.clear(dataset, config_json)
    for fn in (catalogue, similar_lists, _projection_frame, agreement_frame, dataset_charts_data,
               blend_path, popular_rows):
        fn.clear()


def session_model() -> tuple[str, str]:
    """The session's dataset and the training settings (JSON) it uses there."""
    ss = st.session_state
    dataset = ss[K.DATASET]
    return dataset, ss[K.CONFIG].get(dataset, DEFAULT_CONFIG_JSON)


def current_explorer() -> Explorer:
    """The explorer of the session's dataset and settings (already opened by the router)."""
    return open_explorer(*session_model())


def artifact_key(ex: Explorer) -> str:
    """Identity of the artifact behind an explorer, for st.cache_data keys."""
    m = ex.manifest or {}  # the store writes "key" (config hash) and "created" (UTC time) in every manifest
    return f"{ex.dataset_id}|{m.get('key', '')}|{m.get('created', '')}|{id(ex)}"


# --- derived frames (cached per artifact) ---------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def catalogue(key: str, _ex: Explorer) -> Catalogue:
    """What URL values are checked against."""
    cat = _ex.catalog
    years = pd.to_numeric(cat["year"], errors="coerce").dropna()
    genres = sorted({g for gs in cat["genres"] for g in gs})
    lo, hi = (int(years.min()), int(years.max())) if len(years) else (1900, 2100)
    return Catalogue(
        movie_ids=frozenset(int(m) for m in cat["movie_id"]),
        genres=tuple(genres),
        year_bounds=(lo, hi),
        max_count=int(cat["n_ratings"].max()) if len(cat) else 0,
    )


@st.cache_data(show_spinner=False, max_entries=8)
def popular_rows(key: str, _ex: Explorer, n: int = 30) -> list[int]:
    """The most-rated movies: the preselected movie and the picker's suggestions before typing."""
    return [int(r) for r in _ex.catalog["n_ratings"].sort_values(ascending=False).index[:n]]


def filters_from(min_ratings: int, genres: tuple[str, ...], years: tuple[int, int] | None,
                 max_ratings: int | None, rows: tuple[int, ...] | None = None) -> Filters | None:
    """The facade's Filters, or None when nothing is filtered."""
    if not min_ratings and not genres and years is None and max_ratings is None and rows is None:
        return None
    return Filters(min_ratings=min_ratings, genres=tuple(genres), year_range=years, max_ratings=max_ratings,
                   rows=rows)


@st.cache_data(show_spinner=False, max_entries=256)
def similar_lists(key: str, _ex: Explorer, row: int, alpha: float, filt: tuple) -> dict[str, Any]:
    """The three top-20 lists for one movie/blend/filter set (cached: slider moves back are free)."""
    res = _ex.similar(row, k=20, alpha=alpha, filters=filters_from(*filt))
    return {
        "content": res.content,
        "collab": res.collab,
        "hybrid": res.hybrid,
        "removed": {k: len(v) if hasattr(v, "__len__") else int(v) for k, v in (res.removed or {}).items()},
        "notes": tuple(res.notes or ()),
    }


def projection_frame(key: str, ex: Explorer, space: str, alpha: float) -> pd.DataFrame:
    """The stored map of ``space`` (computed by a server job first: see ``ui.jobs.map_job``) with its hover data."""
    coords = ex.projection(space, alpha=alpha)  # a read of the artifact: the job already computed it
    return _projection_frame(key, ex, space, alpha, coords)


@st.cache_data(show_spinner=False, max_entries=64)
def _projection_frame(key: str, _ex: Explorer, space: str, alpha: float, _coords: np.ndarray) -> pd.DataFrame:
    """Map coordinates joined with what the hover and the colourings need."""
    coords = _coords
    cat = _ex.catalog
    df = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1]}, index=cat.index)
    df["movie"] = cat.index.to_numpy()
    df["movie_id"] = cat["movie_id"].to_numpy()
    df["label"] = cat["label"].to_numpy()
    df["genres"] = [", ".join(g) if len(g) else "(no genres)" for g in cat["genres"]]
    df["main_genre"] = [g[0] if len(g) else "(none)" for g in cat["genres"]]
    years = pd.to_numeric(cat["year"], errors="coerce")
    df["decade"] = [f"{int(y) // 10 * 10}s" if pd.notna(y) else "unknown" for y in years]
    df["n_ratings"] = cat["n_ratings"].to_numpy()
    df["mean_rating"] = cat["mean_rating"].to_numpy()
    return df.dropna(subset=["x", "y"])


@st.cache_data(show_spinner="Comparing every movie's content and collaborative top-20 (first time only)…",
               max_entries=8)
def agreement_frame(key: str, _ex: Explorer) -> pd.DataFrame:
    """Per movie: how many of its content and collaborative top-20s coincide; least first, the most rated first
    among equals (sorted once here, not on every run of the page)."""
    overlap = np.asarray(_ex.agreement(k=20))
    cat = _ex.catalog
    return pd.DataFrame(
        {
            "movie": cat.index.to_numpy(),
            "movie_id": cat["movie_id"].to_numpy(),
            "title": cat["label"].to_numpy(),
            "genres": [", ".join(g) for g in cat["genres"]],
            "overlap": overlap,
            "n_ratings": cat["n_ratings"].to_numpy(),
            "mean_rating": cat["mean_rating"].to_numpy(),
        }
    ).sort_values(["overlap", "n_ratings"], ascending=[True, False], kind="stable", ignore_index=True)


@st.cache_data(show_spinner=False, max_entries=8)
def dataset_charts_data(key: str, _ex: Explorer) -> dict[str, Any]:
    """Counts for the summary and the two charts (rating histogram, ratings per movie)."""
    ds = _ex.dataset
    values, counts = np.unique(ds.ratings.rating, return_counts=True)
    per_movie = np.bincount(ds.ratings.movie, minlength=ds.n_movies)
    years = pd.to_numeric(ds.movies["year"], errors="coerce").dropna()
    n_r = len(ds.ratings)
    return {
        "rating_values": values.astype(float),
        "rating_counts": counts.astype(int),
        "per_movie": per_movie,
        "n_users": ds.n_users,
        "n_movies": ds.n_movies,
        "n_ratings": n_r,
        "n_tags": len(ds.tags),
        "n_genome": 0 if ds.genome is None else int(ds.genome.scores.shape[0]),
        "scale": ds.rating_scale,
        "sparsity": 1.0 - n_r / max(1, ds.n_users * ds.n_movies),
        "years": (int(years.min()), int(years.max())) if len(years) else None,
        "notes": tuple(ds.notes),
    }


@st.cache_data(show_spinner=False, max_entries=64)
def blend_path(key: str, _ex: Explorer, row: int) -> pd.DataFrame:
    """How the movie's blended top-20 changes as alpha goes 0..1."""
    return _ex.blend_path(row, k=20)


__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_CONFIG_JSON",
    "open_explorer",
    "artifact_key",
]
