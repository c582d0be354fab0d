"""Write a MovieLens-CSV-layout dataset of a chosen size with realistic skew, for scale benchmarks.

Power-law movie popularity and user activity; each user leans towards a few hidden taste
clusters (which also drive genres, tags and the genome), and ratings come from hidden user and
movie factors plus biases, so the models have something real to learn.

    python benchmarks/make_synthetic.py --ratings 1M --out /tmp/synth-1m [--genome]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

GENRES = (
    "Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir "
    "Horror IMAX Musical Mystery Romance Sci-Fi Thriller War Western"
).split()
WORDS = (
    "night day dark star love war city king queen ghost river road storm blood gold last first "
    "lost secret silent wild iron glass moon sun winter summer shadow dream fire ice return "
    "rise fall house island mountain ocean empire legend heart game machine planet journey"
).split()
# sizes from the issue: 25M ratings -> 62k movies, 162k users (the ml-25m shape)
PRESETS = {1_000_000: (10_000, 6_000), 5_000_000: (30_000, 40_000), 25_000_000: (62_000, 162_000)}
N_CLUSTERS = 40
N_FACTORS = 16


def parse_count(text: str) -> int:
    """Accept 1M / 5M / 25M / 250k / plain integers."""
    t = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def shape_for(n_ratings: int) -> tuple[int, int]:
    """Movies and users for a size: the presets, else scaled from the 25M shape."""
    if n_ratings in PRESETS:
        return PRESETS[n_ratings]
    f = n_ratings / 25_000_000
    return max(200, int(62_000 * f**0.55)), max(100, int(162_000 * f**0.8))


def _write(table: pa.Table, path: Path) -> None:
    """CSV as GroupLens writes it: a bare header, quotes only where a field needs them."""
    with open(path, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="needed"))


def make(n_ratings: int, out: Path, genome: bool, seed: int, movies: int | None = None) -> dict:
    """Generate everything into a temp folder next to ``out`` and rename it into place."""
    rng = np.random.default_rng(seed)
    n_movies, n_users = shape_for(n_ratings)
    n_movies = movies or n_movies
    t0 = time.perf_counter()

    # movies: a taste cluster each, genres drawn from the cluster's genre profile
    movie_cluster = rng.integers(0, N_CLUSTERS, n_movies)
    cluster_genres = rng.random((N_CLUSTERS, len(GENRES))) ** 4  # a few strong genres per cluster
    genre_p = cluster_genres[movie_cluster] / cluster_genres[movie_cluster].sum(1, keepdims=True)
    has_genre = rng.random((n_movies, len(GENRES))) < np.minimum(genre_p * 2.2, 0.95)
    has_genre[np.arange(n_movies), genre_p.argmax(1)] = True
    # one string per distinct genre combination, mapped back by bit pattern (no per-movie loop)
    codes = has_genre @ (1 << np.arange(len(GENRES), dtype=np.int64))
    uniq, inv = np.unique(codes, return_inverse=True)
    names = np.array(["|".join(GENRES[j] for j in range(len(GENRES)) if (c >> j) & 1) for c in uniq])
    genre_str = names[inv]
    years = rng.integers(1920, 2024, n_movies)
    w1 = np.array(WORDS)[rng.integers(0, len(WORDS), n_movies)]
    w2 = np.array(WORDS)[(movie_cluster * 7 + rng.integers(0, 3, n_movies)) % len(WORDS)]
    ids = np.arange(1, n_movies + 1)
    titles = np.char.add(np.char.add(np.char.add(np.char.title(w1.astype(str)), " "),
                                     np.char.title(w2.astype(str))), np.char.add(" ", ids.astype(str)))
    titles = np.char.add(np.char.add(titles, " ("), np.char.add(years.astype(str), ")"))

    # hidden factors: cluster centre + noise, biases
    centres = rng.normal(0, 1, (N_CLUSTERS, N_FACTORS)).astype(np.float32)
    mf = centres[movie_cluster] + 0.5 * rng.normal(0, 1, (n_movies, N_FACTORS)).astype(np.float32)
    mb = rng.normal(0, 0.35, n_movies).astype(np.float32)

    # popularity: Zipf over a random permutation of movies; activity: Pareto, at least 20 ratings
    pop = 1.0 / np.arange(1, n_movies + 1) ** 0.95
    pop = pop[rng.permutation(n_movies)]
    act = (rng.pareto(1.3, n_users) + 1.0) * 20
    counts = np.minimum(np.maximum(20, act / act.sum() * n_ratings * 1.0), n_movies // 2).astype(np.int64)
    counts = np.maximum(1, (counts * (n_ratings / counts.sum())).astype(np.int64))
    user_cluster = rng.integers(0, N_CLUSTERS, n_users)
    uf = centres[user_cluster] + 0.7 * rng.normal(0, 1, (n_users, N_FACTORS)).astype(np.float32)
    ub = rng.normal(0, 0.3, n_users).astype(np.float32)

    # sample (user, movie): a share from global popularity, the rest from the user's cluster;
    # duplicates are dropped and the shortfall re-drawn until the requested count is reached
    cdf_all = np.cumsum(pop) / pop.sum()
    order = np.argsort(movie_cluster, kind="stable")
    bounds = np.searchsorted(movie_cluster[order], np.arange(N_CLUSTERS + 1))
    cum = np.cumsum(pop[order])
    user_p = counts / counts.sum()
    keys = np.empty(0, dtype=np.int64)
    for _ in range(30):
        need = n_ratings - len(keys)
        if need <= 0:
            break
        draw = int(need * 1.3) + 1000
        users = np.minimum(np.searchsorted(np.cumsum(user_p), rng.random(draw)), n_users - 1)
        movies = np.searchsorted(cdf_all, rng.random(draw)).astype(np.int64)
        from_cluster = rng.random(draw) < 0.55
        uc = user_cluster[users[from_cluster]]
        lo, hi = bounds[uc], bounds[uc + 1]
        base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
        target = base + rng.random(len(uc)) * (cum[np.maximum(hi - 1, 0)] - base)
        movies[from_cluster] = order[np.minimum(np.searchsorted(cum, target), n_movies - 1)]
        movies = np.minimum(movies, n_movies - 1)
        keys = np.unique(np.concatenate([keys, users.astype(np.int64) * n_movies + movies]))
    keys = keys[rng.permutation(len(keys))[:n_ratings]]
    keys.sort()
    users, movies = keys // n_movies, keys % n_movies

    # ratings: biases + scaled dot product + noise, rounded to half stars in [0.5, 5]
    n = len(users)
    score = 3.0 + ub[users] + mb[movies] + 0.18 * np.einsum("ij,ij->i", uf[users], mf[movies])
    score += rng.normal(0, 0.55, n)
    rating = np.clip(np.round(score * 2) / 2, 0.5, 5.0).astype(np.float32)
    ts = rng.integers(946_684_800, 1_700_000_000, n)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write(pa.table({"movieId": ids, "title": titles, "genres": genre_str}), tmp / "movies.csv")
        _write(pa.table({"userId": users + 1, "movieId": movies + 1, "rating": rating,
                         "timestamp": ts}), tmp / "ratings.csv")
        n_tags = max(100, n // 25)
        tu = rng.integers(0, n_users, n_tags)
        tm = movies[rng.integers(0, n, n_tags)]
        vocab = np.array([f"{w} {g}".lower() for w in WORDS for g in GENRES[:10]])
        tag_idx = (movie_cluster[tm] * 11 + rng.integers(0, 6, n_tags)) % len(vocab)
        _write(pa.table({"userId": tu + 1, "movieId": tm + 1, "tag": vocab[tag_idx],
                         "timestamp": rng.integers(1_100_000_000, 1_700_000_000, n_tags)}),
               tmp / "tags.csv")
        _write(pa.table({"movieId": ids, "imdbId": ids + 100000, "tmdbId": ids + 500}), tmp / "links.csv")
        if genome:
            n_gt = 1128
            gm = np.sort(rng.permutation(n_movies)[: min(n_movies, 13_816)])
            proj = rng.normal(0, 1, (N_FACTORS, n_gt)).astype(np.float32)
            rel = 1 / (1 + np.exp(-(mf[gm] @ proj) / 3 + 1.5))
            _write(pa.table({"tagId": np.arange(1, n_gt + 1),
                             "tag": np.array([f"genome tag {i}" for i in range(1, n_gt + 1)])}),
                   tmp / "genome-tags.csv")
            _write(pa.table({"movieId": np.repeat(gm + 1, n_gt),
                             "tagId": np.tile(np.arange(1, n_gt + 1), len(gm)),
                             "relevance": np.round(rel.ravel(), 5)}), tmp / "genome-scores.csv")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"ratings": n, "movies": n_movies, "users": int(len(np.unique(users))),
            "seconds": round(time.perf_counter() - t0, 1), "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings", default="1M", help="1M, 5M, 25M or any count")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--genome", action="store_true", help="also write genome-scores/tags.csv")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--movies", type=int, default=None,
                    help="catalogue size instead of the preset (e.g. 20000: the catalogue-heavy 1M set)")
    args = ap.parse_args(argv)
    info = make(parse_count(args.ratings), args.out, args.genome, args.seed, args.movies)
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
