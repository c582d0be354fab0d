"""Writers of small, deliberately awkward MovieLens-layout datasets for the reliability suite."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

GENRES = ["Action", "Comedy", "Drama", "Sci-Fi", "Romance", "Thriller"]
ODD_TITLES = [
    'He Said "No", She Said "Yes" (1999)',
    "Commas, Commas, Everywhere (2001)",
    "Амели (2001)",
    "千と千尋の神隠し (2001)",
    "ליל כל הקדושים (1987)",
    "🎬 Popcorn 🍿 Night (2015)",
    "Back\\slash; semi|pipe <b>bold</b> (1995)",
    "O'Brien's \"Quoted\" Tale, The (1990)",
]


def write_release(folder: Path, *, n_movies: int = 30, n_users: int = 40, seed: int = 0,
                  titles: list[str] | None = None, unrated_movies: int = 0, no_content_movie: bool = False,
                  constant_rating: float | None = None, tags: bool = True) -> Path:
    """An ml-latest-small-layout folder (movies.csv, ratings.csv, tags.csv) written with the csv module."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    movies = []
    for i in range(n_movies):
        title = titles[i] if titles and i < len(titles) else f"Movie {i} Part {i % 4} ({1960 + i})"
        genres = "|".join(sorted({GENRES[i % 6], GENRES[(i * 5 + 1) % 6]}))
        movies.append([i + 1, title, genres])
    if no_content_movie:
        movies.append([n_movies + 1, "Qzxv", "(no genres listed)"])
    extra = [[n_movies + 100 + j, f"Never Rated {j} ({1990 + j})", "Drama"] for j in range(unrated_movies)]
    movies += extra
    rated = [m[0] for m in movies if m[0] < n_movies + 100]
    rows = []
    ts = 1_000_000
    for u in range(1, n_users + 1):
        taste = u % 3
        for mid in rated:
            if mid == n_movies + 1 or rng.random() < (0.6 if (mid % 3) == taste else 0.15):
                r = constant_rating if constant_rating is not None else float(
                    rng.choice([4.0, 4.5, 5.0]) if (mid % 3) == taste else rng.choice([1.0, 2.0, 3.0]))
                rows.append([u, mid, r, ts])
                ts += 1
    with open(folder / "movies.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["movieId", "title", "genres"])
        w.writerows(movies)
    with open(folder / "ratings.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["userId", "movieId", "rating", "timestamp"])
        w.writerows(rows)
    if tags:
        with open(folder / "tags.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["userId", "movieId", "tag", "timestamp"])
            for i in range(n_movies):
                w.writerow([1 + i % 5, i + 1, ["space", "love", "heist"][i % 3], 1_500_000])
    return folder


def write_ml100k(folder: Path, *, n_movies: int = 24, n_users: int = 30, extra_users: int = 3, seed: int = 1) -> Path:
    """The original GroupLens ml-100k layout (u.data, u.item, u.user) with users who rated nothing."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for u in range(1, n_users + 1):
        for m in range(1, n_movies + 1):
            if rng.random() < 0.4:
                lines.append(f"{u}\t{m}\t{int(rng.integers(1, 6))}\t{880000000 + len(lines)}")
    (folder / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")
    items = []
    for m in range(1, n_movies + 1):
        flags = ["0"] * 19
        flags[1 + m % 18] = "1"
        items.append(f"{m}|Film {m} ({1970 + m})|01-Jan-{1970 + m}||http://x|" + "|".join(flags))
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    users = [f"{u}|{20 + u % 40}|{'MF'[u % 2]}|student|12345" for u in range(1, n_users + extra_users + 1)]
    (folder / "u.user").write_text("\n".join(users) + "\n", encoding="latin-1")
    return folder
