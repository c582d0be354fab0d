"""The canonical in-memory dataset every reader produces and every model consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class Ratings:
    """Ratings as parallel arrays; user/movie are contiguous row indices, never raw ids."""

    user: np.ndarray  # int32, 0..n_users-1
    movie: np.ndarray  # int32, 0..n_movies-1 (row of Dataset.movies)
    rating: np.ndarray  # float32
    timestamp: np.ndarray  # int64 seconds since epoch (0 when unknown)

    def __len__(self) -> int:
        return int(self.user.shape[0])


@dataclass(frozen=True, eq=False)
class Genome:
    """Tag-genome relevance: one dense row per movie that has one."""

    movie: np.ndarray  # int32 movie rows that have a genome vector
    scores: np.ndarray  # float32 [len(movie), n_tags]
    tags: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset in canonical form.

    movies: index is the movie row (0..n-1); columns ``movie_id`` (int64, MovieLens id),
    ``title`` (clean, without the year), ``year`` (Int16, nullable), ``genres`` (tuple[str, ...]).
    tags: columns ``user`` (int32 row or -1), ``movie`` (int32 row), ``tag`` (str), may be empty.
    users: index is the user row; columns ``user_id`` plus any attributes (age, gender, occupation).
    """

    name: str
    ratings: Ratings
    movies: pd.DataFrame
    users: pd.DataFrame
    tags: pd.DataFrame
    genome: Genome | None
    rating_scale: tuple[float, float]
    fingerprint: str
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_movies(self) -> int:
        return len(self.movies)
