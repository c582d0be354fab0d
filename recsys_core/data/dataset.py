"""The canonical in-memory dataset every reader produces and every model consumes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import DatasetError

FINGERPRINT_VERSION = 1
DUPLICATE_POLICY = "keep the latest by timestamp (the later line in the file on a tie)"


@dataclass(frozen=True, eq=False)
class Ratings:
    """Ratings as parallel arrays; user/movie are contiguous row indices, never raw ids."""

    user: np.ndarray  # int32, 0..n_users-1
    movie: np.ndarray  # int32, 0..n_movies-1 (row of Dataset.movies)
    rating: np.ndarray  # float32
    timestamp: np.ndarray  # int64 seconds since epoch (0 when unknown)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def take(self, index: np.ndarray) -> Ratings:
        """A subset (boolean mask or integer positions) without copying more than needed."""
        return Ratings(self.user[index], self.movie[index], self.rating[index], self.timestamp[index])


@dataclass(frozen=True, eq=False)
class Genome:
    """Tag-genome relevance: one dense row per movie that has one."""

    movie: np.ndarray  # int32 movie rows that have a genome vector
    scores: np.ndarray  # float32 [len(movie), n_tags]
    tags: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.movie.shape[0])


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset in canonical form.

    movies: index is the movie row (0..n-1), sorted by ``movie_id``; columns ``movie_id`` (int64,
    MovieLens id), ``title`` (clean, without the year; MovieLens' "Usual Suspects, The" form is
    kept), ``year`` (Int16, nullable), ``genres`` (tuple[str, ...], empty when unknown), plus
    ``imdb_id`` / ``tmdb_id`` (Int64) when the source has links.
    tags: columns ``user`` (int32 row or -1), ``movie`` (int32 row), ``tag`` (str), may be empty.
    users: index is the user row, sorted by ``user_id``; columns ``user_id`` plus any attributes
    (age, gender, occupation, zip_code). Users are the people who rated.
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
    from_cache: bool = False  # True when served from the parsed cache (no source file was parsed)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_movies(self) -> int:
        return len(self.movies)

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)

    @property
    def n_tags(self) -> int:
        return len(self.tags)

    @property
    def sparsity(self) -> float:
        """Share of the user x movie matrix that is empty (0.9 = 90% unrated)."""
        cells = self.n_users * self.n_movies
        return 1.0 - self.n_ratings / cells if cells else 1.0

    @property
    def year_range(self) -> tuple[int, int] | None:
        """Earliest and latest release year in the catalogue, None when no year is known."""
        years = self.movies["year"].dropna()
        return (int(years.min()), int(years.max())) if len(years) else None

    def movie_rows(self, movie_ids: np.ndarray | list[int]) -> np.ndarray:
        """MovieLens ids -> movie rows (int64), -1 where the id is not in the catalogue."""
        return lookup(self.movies["movie_id"].to_numpy(np.int64), np.asarray(movie_ids, np.int64))

    def user_rows(self, user_ids: np.ndarray | list[int]) -> np.ndarray:
        """MovieLens user ids -> user rows (int64), -1 where the user has no ratings."""
        return lookup(self.users["user_id"].to_numpy(np.int64), np.asarray(user_ids, np.int64))

    def with_ratings(self, index: np.ndarray) -> Dataset:
        """The same catalogue and users with a subset of ratings (boolean mask or positions).

        Rows stay the same, so embeddings trained on the subset line up with the full dataset;
        the fingerprint changes with the subset, so caches never mix them up.
        """
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (self.n_ratings,):
            raise DatasetError(
                f"with_ratings: mask has {index.shape[0]} entries but the dataset has "
                f"{self.n_ratings} ratings; build the mask from dataset.ratings"
            )
        positions = np.flatnonzero(index) if index.dtype == bool else index.astype(np.int64)
        digest = hashlib.blake2b(self.fingerprint.encode(), digest_size=16)
        digest.update(np.ascontiguousarray(positions).tobytes())
        return replace(
            self,
            ratings=self.ratings.take(positions),
            fingerprint=digest.hexdigest(),
            notes=self.notes + (f"restricted to {len(positions)} of {self.n_ratings} ratings",),
            from_cache=False,
        )

    def summary(self) -> dict:
        """Counts and ranges for `info` and the home page, as plain JSON-able values."""
        rated = int(np.unique(self.ratings.movie).shape[0]) if self.n_ratings else 0
        return {
            "name": self.name,
            "source": self.source,
            "users": self.n_users,
            "movies": self.n_movies,
            "rated_movies": rated,
            "ratings": self.n_ratings,
            "tags": self.n_tags,
            "genome_movies": len(self.genome) if self.genome is not None else 0,
            "genome_tags": len(self.genome.tags) if self.genome is not None else 0,
            "genome_entries": int(self.genome.scores.size) if self.genome is not None else 0,
            "rating_scale": list(self.rating_scale),
            "sparsity": self.sparsity,
            "year_range": list(self.year_range) if self.year_range else None,
            "user_attributes": [c for c in self.users.columns if c != "user_id"],
            "fingerprint": self.fingerprint,
            "notes": list(self.notes),
        }


def lookup(sorted_ids: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Positions of query ids in a sorted unique id array, -1 where absent (vectorised, O(n))."""
    if sorted_ids.size == 0:
        return np.full(query.shape, -1, np.int64)
    lo, hi = int(sorted_ids[0]), int(sorted_ids[-1])
    if lo >= 0 and hi <= 50_000_000:  # MovieLens ids: a direct lookup table beats a binary search
        lut = np.full(hi + 1, -1, np.int64)
        lut[sorted_ids] = np.arange(sorted_ids.size)
        return np.where((query >= 0) & (query <= hi), lut[query.clip(0, hi)], -1)
    pos = np.searchsorted(sorted_ids, query).clip(0, sorted_ids.size - 1)
    return np.where(sorted_ids[pos] == query, pos, -1).astype(np.int64)


@dataclass(frozen=True, eq=False)
class RawData:
    """What a reader hands over: raw MovieLens ids, before validation and row mapping.

    ratings: ``user_id``/``movie_id`` int64, ``rating`` float32, ``timestamp`` int64 arrays.
    movies: ``movie_id``, ``title``, ``year``, ``genres`` (tuples) and optional link columns.
    tags: ``user_id``, ``movie_id``, ``tag``; users: ``user_id`` plus attributes.
    genome: (movie ids, float32 scores [n, n_tags], tag names) in tag-id order.
    The file names are only used in error messages.
    """

    name: str
    ratings: dict[str, np.ndarray]
    movies: pd.DataFrame
    rating_scale: tuple[float, float]
    source: str
    ratings_file: str
    movies_file: str
    users: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    genome: tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None = None
    notes: tuple[str, ...] = ()


def build_dataset(raw: RawData) -> Dataset:
    """Validate raw ids and ratings, map ids to contiguous rows, dedupe, fingerprint."""
    notes = list(raw.notes)
    movies = _canonical_movies(raw, notes)
    user_id, movie_id = raw.ratings["user_id"], raw.ratings["movie_id"]
    rating, timestamp = raw.ratings["rating"], raw.ratings["timestamp"]
    if user_id.size == 0:
        raise DatasetError(f"{raw.ratings_file}: no ratings found; the file has a header but no rows")
    _check_scale(raw, rating, user_id, movie_id)
    for label, ids in (("user", user_id), ("movie", movie_id)):
        if ids.min() < 0:
            raise DatasetError(f"{raw.ratings_file}: negative {label} id {int(ids.min())}; ids must be >= 0")

    movie_row = lookup(movies["movie_id"].to_numpy(np.int64), movie_id)
    missing = movie_row < 0
    if missing.any():
        absent = np.unique(movie_id[missing])
        raise DatasetError(
            f"{raw.ratings_file}: {int(missing.sum())} ratings refer to {absent.size} movies that are "
            f"not in {raw.movies_file} (e.g. movie id {', '.join(map(str, absent[:5]))}); "
            f"use the movies file from the same release"
        )
    user_ids, user_row = dense_rows(user_id)
    ratings = Ratings(user_row.astype(np.int32), movie_row.astype(np.int32),
                      rating.astype(np.float32, copy=False), timestamp.astype(np.int64, copy=False))
    ratings = _sort_and_dedupe(ratings, len(movies), raw.ratings_file, notes)

    users = _canonical_users(raw, user_ids, notes)
    tags = _canonical_tags(raw, movies, users, notes)
    genome = _canonical_genome(raw, movies, notes)
    fp = fingerprint(ratings, movies, users, tags, genome, raw.rating_scale)
    return Dataset(raw.name, ratings, movies, users, tags, genome, raw.rating_scale, fp,
                   raw.source, tuple(notes))


def _canonical_movies(raw: RawData, notes: list[str]) -> pd.DataFrame:
    """Movies sorted by id, one row per id, canonical dtypes."""
    movies = raw.movies
    if movies["movie_id"].isna().any():
        raise DatasetError(f"{raw.movies_file}: some rows have no movie id; every row needs one")
    movies = movies.sort_values("movie_id", kind="stable")
    dup = movies["movie_id"].duplicated()
    if dup.any():
        notes.append(f"{raw.movies_file}: {int(dup.sum())} repeated movie ids; kept the first row of each")
        movies = movies[~dup]
    movies = movies.reset_index(drop=True)
    movies["movie_id"] = movies["movie_id"].astype(np.int64)
    movies["title"] = movies["title"].astype("str")
    movies["year"] = movies["year"].astype("Int16")
    return movies


def _check_scale(raw: RawData, rating: np.ndarray, user_id: np.ndarray, movie_id: np.ndarray) -> None:
    """Every rating is a number inside the release's scale."""
    lo, hi = raw.rating_scale
    bad = ~((rating >= lo) & (rating <= hi))  # NaN counts as bad
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "is missing" if np.isnan(rating[i]) else f"= {rating[i]:g}"
        raise DatasetError(
            f"{raw.ratings_file}: {int(bad.sum())} ratings outside the {lo:g}-{hi:g} scale "
            f"(first: user {user_id[i]}, movie {movie_id[i]}, rating {what}); "
            "fix or drop those rows, or check that this file belongs to this release"
        )


def dense_rows(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ids and each id's row, in O(n) when ids are small (MovieLens ids are)."""
    top = int(ids.max())
    if top > 50_000_000:
        uniq, inverse = np.unique(ids, return_inverse=True)
        return uniq, inverse
    present = np.zeros(top + 1, dtype=bool)
    present[ids] = True
    uniq = np.flatnonzero(present)
    lut = np.cumsum(present, dtype=np.int64) - 1
    return uniq, lut[ids]


def _sort_and_dedupe(r: Ratings, n_movies: int, file: str, notes: list[str]) -> Ratings:
    """Canonical order (user, movie); repeated (user, movie) pairs follow DUPLICATE_POLICY."""
    key = r.user.astype(np.int64) * n_movies + r.movie
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    same = key_sorted[1:] == key_sorted[:-1]
    if not same.any():
        return r.take(order)
    in_dup = np.zeros(key.size, bool)
    in_dup[:-1] |= same
    in_dup[1:] |= same
    group = order[in_dup]  # original positions, grouped by key, file order inside a group
    group = group[np.argsort(r.timestamp[group], kind="stable")]  # two stable radix sorts: by
    group = group[np.argsort(key[group], kind="stable")]  # key, then time, then file order
    last = np.append(key[group][1:] != key[group][:-1], True)
    keep = np.ones(key.size, bool)
    keep[group[~last]] = False
    notes.append(f"{file}: {int((~last).sum())} repeated (user, movie) ratings; policy: {DUPLICATE_POLICY}")
    return r.take(order[keep[order]])


def _canonical_users(raw: RawData, user_ids: np.ndarray, notes: list[str]) -> pd.DataFrame:
    """One row per rating user, with the users file's attributes when there is one."""
    users = pd.DataFrame({"user_id": user_ids.astype(np.int64)})
    if raw.users is None:
        return users
    attrs = raw.users.drop_duplicates("user_id").copy()
    attrs["user_id"] = attrs["user_id"].astype(np.int64)
    unrated = int((~attrs["user_id"].isin(users["user_id"])).sum())
    if unrated:
        notes.append(f"{unrated} users in the users file have no ratings and are left out")
    return users.merge(attrs, on="user_id", how="left", validate="one_to_one")


def _canonical_tags(raw: RawData, movies: pd.DataFrame, users: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Tags as (user row or -1, movie row, tag); tags of unknown movies are dropped with a note."""
    if raw.tags is None or len(raw.tags) == 0:
        return pd.DataFrame({"user": np.empty(0, np.int32), "movie": np.empty(0, np.int32),
                             "tag": pd.Series([], dtype="str")})
    t = raw.tags
    tag = t["tag"].astype("str").str.strip()
    movie = lookup(movies["movie_id"].to_numpy(np.int64), t["movie_id"].to_numpy(np.int64))
    keep = (movie >= 0) & tag.notna().to_numpy() & (tag != "").to_numpy()
    if (movie < 0).any():
        notes.append(f"{int((movie < 0).sum())} tags refer to movies not in the catalogue and were dropped")
    user = lookup(users["user_id"].to_numpy(np.int64), t["user_id"].to_numpy(np.int64))
    out = pd.DataFrame({"user": user[keep].astype(np.int32), "movie": movie[keep].astype(np.int32),
                        "tag": tag[keep].to_numpy()})
    out["tag"] = out["tag"].astype("str")
    return out.sort_values(["movie", "user", "tag"], kind="stable").reset_index(drop=True)


def _canonical_genome(raw: RawData, movies: pd.DataFrame, notes: list[str]) -> Genome | None:
    """Genome rows mapped to movie rows; rows of movies outside the catalogue are dropped."""
    if raw.genome is None:
        return None
    ids, scores, tags = raw.genome
    rows = lookup(movies["movie_id"].to_numpy(np.int64), ids.astype(np.int64))
    keep = rows >= 0
    if not keep.all():
        notes.append(f"{int((~keep).sum())} genome rows refer to movies not in the catalogue and were dropped")
    order = np.argsort(rows[keep], kind="stable")
    return Genome(rows[keep][order].astype(np.int32), np.ascontiguousarray(scores[keep][order], np.float32), tags)


def _hash_frame(h: "hashlib.blake2b", df: pd.DataFrame) -> None:
    """Feed a small table into a hash, by value and column name (vectorised)."""
    h.update(json.dumps(list(map(str, df.columns))).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())


def fingerprint(ratings: Ratings, movies: pd.DataFrame, users: pd.DataFrame, tags: pd.DataFrame,
                genome: Genome | None, rating_scale: tuple[float, float]) -> str:
    """Content hash of the canonical data: same data in any layout -> same fingerprint."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({"v": FINGERPRINT_VERSION, "scale": list(map(float, rating_scale))}).encode())
    for arr in (ratings.user, ratings.movie, ratings.rating, ratings.timestamp):
        h.update(np.ascontiguousarray(arr).data)
    m = pd.DataFrame({
        "movie_id": movies["movie_id"].to_numpy(np.int64),
        "title": movies["title"].astype(object).to_numpy(),
        "year": movies["year"].fillna(-1).to_numpy(np.int64),
        "genres": np.array(["|".join(sorted(g)) for g in movies["genres"]], dtype=object),
    })
    _hash_frame(h, m)
    _hash_frame(h, users.astype(object).astype(str).sort_index(axis=1))
    _hash_frame(h, pd.DataFrame({"user": tags["user"].to_numpy(np.int64), "movie": tags["movie"].to_numpy(np.int64),
                                 "tag": tags["tag"].astype(object).to_numpy()}))
    if genome is not None:
        h.update(np.ascontiguousarray(genome.movie).data)
        h.update(np.ascontiguousarray(genome.scores).data)
        h.update("\x1f".join(genome.tags).encode())
    return h.hexdigest()
