"""A small MovieLens-shaped release whose titles, genres and tags carry HTML, script, markdown and bare URLs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

NAME = "hostile-set"
EVIL_TITLES = [
    '<a href="http://evil.example">x</a> (1996)',
    "<img src=x onerror=alert(1)> (1995)",
    "<script>window.__pwned=1</script> (1997)",
    "Bare http://evil.example/x link (1998)",
    "[click me](http://evil.example/md) (1999)",
    "**bold** www.evil.example _it_ (2000)",
    '<b style="color:red">Styled</b> &amp; <i>co</i> (2001)',
    "<svg onload=alert(1)> `code` $x^2$ (2002)",
]
LONG_TITLE = "A " + "Very " * 60 + "Long Plain Film (1968)"  # 327 characters: any inline place must shorten it
LONG_ID = len(EVIL_TITLES) + 1
EVIL_GENRES = ['<a href="http://evil.example/g">G</a>', "<img src=x onerror=alert(1)>", "Drama"]
EVIL_TAGS = ["<script>window.__pwned=1</script>", "http://evil.example/tag", "heist"]


def write_hostile(folder: Path, n_movies: int = 48, n_users: int = 60, seed: int = 0) -> Path:
    """movies.csv, ratings.csv and tags.csv in the ml-latest-small layout; the hostile titles are the most rated."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    movies = []
    for i in range(n_movies):
        title = EVIL_TITLES[i] if i < len(EVIL_TITLES) else f"Plain Film {i} ({1960 + i})"
        title = LONG_TITLE if i + 1 == LONG_ID else title
        genres = "|".join([EVIL_GENRES[i % 3], EVIL_GENRES[(i + 1) % 3]]) if i % 2 == 0 else EVIL_GENRES[i % 3]
        movies.append([i + 1, title, genres])
    rows, ts = [], 1_000_000
    for u in range(1, n_users + 1):
        taste = u % 3
        for mid in range(1, n_movies + 1):
            p = 0.95 if mid <= len(EVIL_TITLES) else (0.6 if mid % 3 == taste else 0.15)
            if rng.random() < p:
                r = float(rng.choice([4.0, 4.5, 5.0]) if mid % 3 == taste else rng.choice([1.0, 2.0, 3.0]))
                rows.append([u, mid, r, ts])
                ts += 1
    with open(folder / "movies.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["movieId", "title", "genres"], *movies])
    with open(folder / "ratings.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["userId", "movieId", "rating", "timestamp"], *rows])
    with open(folder / "tags.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["userId", "movieId", "tag", "timestamp"])
        for i in range(n_movies):
            for t in range(2):
                w.writerow([1 + (i + t) % 5, i + 1, EVIL_TAGS[(i + t) % 3], 1_500_000])
    return folder


def train_hostile(data_dir: Path, artifacts: Path) -> Path:
    """Write the release into ``data_dir`` and train it (default settings, which the app opens) plus its maps."""
    import os

    folder = write_hostile(data_dir / NAME)
    old = os.environ.get("RECSYS_ARTIFACTS_DIR")
    os.environ["RECSYS_ARTIFACTS_DIR"] = str(artifacts)
    try:
        from recsys_core import EngineConfig, Explorer

        ex = Explorer.open(str(folder), EngineConfig(), train=True)
        for space in ("content", "collab"):
            ex.projection(space)
        ex.projection("hybrid", alpha=0.5)
        ex.agreement(k=20)
    finally:
        if old is None:
            os.environ.pop("RECSYS_ARTIFACTS_DIR", None)
        else:
            os.environ["RECSYS_ARTIFACTS_DIR"] = old
    return folder
