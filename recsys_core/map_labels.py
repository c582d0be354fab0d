"""What a group of movies on a map shares: region labels (k-means on the 2-D map) and selection summaries.

A region or a selection is named by what sets it apart from the whole catalogue, not by what is merely
common (every region has dramas): genres and content terms (tags, genome tags, title words, decades) are
scored by how much more often they occur inside the group than in the catalogue. Pure numpy/scikit-learn
over the explorer's catalogue and TF-IDF matrix; nothing here draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .explorer import Explorer

MIN_SHARE = 0.2  # a trait must describe at least this share of the group to name it
MIN_LIFT = 1.3  # ...and be this much more common than in the catalogue
FIT_SAMPLE = 20_000  # k-means is fitted on at most this many points, then every point is assigned


@dataclass(frozen=True)
class Trait:
    """One distinctive genre or term of a group: its share inside and its lift over the catalogue."""

    name: str
    kind: str  # "genre", "tag", "genome", "title", "decade"
    share: float
    lift: float


@dataclass(frozen=True)
class Region:
    """One labelled cluster of a map: where its centre is, how many movies it holds and what names it."""

    x: float
    y: float
    size: int
    label: str
    traits: tuple[Trait, ...]


def _scores(inside: np.ndarray, overall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per trait: a distinctiveness score (share x log-lift, zero unless both thresholds pass) and the lift."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(overall > 0, inside / np.maximum(overall, 1e-12), 0.0)
        score = np.where((inside >= MIN_SHARE) & (lift >= MIN_LIFT), inside * np.log(np.maximum(lift, 1e-12)), 0.0)
    return score, lift


def _genre_matrix(ex: Explorer) -> tuple[np.ndarray, list[str]]:
    """Movies x genres as a bool matrix (from the catalogue)."""
    genres = ex.catalog["genres"].to_numpy()
    names = sorted({g for gs in genres for g in gs})
    col = {g: i for i, g in enumerate(names)}
    m = np.zeros((len(genres), len(names)), dtype=bool)
    for r, gs in enumerate(genres):
        for g in gs:
            m[r, col[g]] = True
    return m, names


def _term_presence(ex: Explorer) -> tuple[object | None, np.ndarray]:
    """The TF-IDF matrix as term presence (CSR, bool-like) and its term names, genre terms left out."""
    try:
        x, terms = ex.tfidf_terms()
    except Exception:  # an artifact without the TF-IDF arrays: name by genres only
        return None, np.array([], dtype=object)
    keep = np.array([not str(t).startswith("genre:") for t in terms])
    return (x[:, np.flatnonzero(keep)] > 0).tocsr(), np.asarray(terms)[keep]


def traits(ex: Explorer, rows: np.ndarray, n: int = 4, _cache: dict | None = None) -> tuple[Trait, ...]:
    """The genres and content terms that most set ``rows`` apart from the whole catalogue, best first."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    rows = rows[(rows >= 0) & (rows < len(ex.catalog))]
    if len(rows) == 0:
        return ()
    cache = _cache if _cache is not None else {}
    if "genres" not in cache:
        g, names = _genre_matrix(ex)
        g = np.asarray(g)
        cache["genres"] = (g, names, g.mean(axis=0) if len(g) else np.zeros(len(names)))
        pres, terms = _term_presence(ex)
        overall = np.asarray(pres.mean(axis=0)).ravel() if pres is not None else np.zeros(0)  # type: ignore[attr-defined]
        cache["terms"] = (pres, terms, overall)
    g, gnames, gall = cache["genres"]
    out: list[tuple[float, Trait]] = []
    if len(gnames):
        inside = g[rows].mean(axis=0)
        score, lift = _scores(inside, gall)
        out += [(float(score[i]), Trait(gnames[i], "genre", float(inside[i]), float(lift[i])))
                for i in np.flatnonzero(score > 0)]
    pres, terms, tall = cache["terms"]
    if pres is not None and len(terms):
        inside = np.asarray(pres[rows].mean(axis=0)).ravel()
        score, lift = _scores(inside, tall)
        for i in np.flatnonzero(score > 0):
            kind, _, word = str(terms[i]).partition(":")
            out.append((float(score[i]), Trait(word or kind, kind if word else "term", float(inside[i]),
                                               float(lift[i]))))
    out.sort(key=lambda st: (-st[0], st[1].name))
    return tuple(t for _, t in out[:n])


def trait_text(ts: tuple[Trait, ...], n: int = 2) -> str:
    """'Sci-Fi · #space' for a label: genres as they are, tags with '#', title words quoted, decades plain."""
    parts = []
    for t in ts[:n]:
        parts.append(f"#{t.name}" if t.kind in ("tag", "genome") else f"“{t.name}”" if t.kind == "title" else t.name)
    return " · ".join(parts)


def n_regions(n_points: int) -> int:
    """How many regions a map of ``n_points`` gets: enough to read, few enough to label without clutter."""
    if n_points < 30:
        return max(1, n_points // 10)
    return int(min(12, max(3, round(math.sqrt(n_points) / 4))))


def clusters(coords: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means cluster of every finite point (-1 for points without coordinates); deterministic for a seed."""
    from sklearn.cluster import KMeans

    coords = np.asarray(coords, dtype=np.float64)
    ok = np.isfinite(coords).all(axis=1)
    out = np.full(len(coords), -1, dtype=np.int64)
    pts = coords[ok]
    if len(pts) == 0:
        return out
    k = max(1, min(k, len(pts)))
    rng = np.random.default_rng(seed)
    fit = pts if len(pts) <= FIT_SAMPLE else pts[rng.choice(len(pts), FIT_SAMPLE, replace=False)]
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(fit)
    out[ok] = km.predict(pts)
    return out


def region_labels(ex: Explorer, coords: np.ndarray, k: int | None = None, seed: int = 0) -> list[Region]:
    """Cluster a map's 2-D coordinates and name each cluster by its most distinctive genres or terms.

    Regions come biggest first; a cluster with nothing distinctive is named by its most common genre, and a
    label another (bigger) region already carries is left empty.
    """
    coords = np.asarray(coords)
    n = int(np.isfinite(coords).all(axis=1).sum())
    if n == 0:
        return []
    assign = clusters(coords, k or n_regions(n), seed)
    cache: dict = {}
    regions: list[Region] = []
    genres = ex.catalog["genres"].to_numpy()
    for c in np.unique(assign[assign >= 0]):
        rows = np.flatnonzero(assign == c)
        ts = traits(ex, rows, n=4, _cache=cache)
        label = trait_text(ts)
        if not label:
            counts: dict[str, int] = {}
            for r in rows:
                for g in genres[r]:
                    counts[g] = counts.get(g, 0) + 1
            label = max(counts, key=lambda g: (counts[g], g)) if counts else "mixed"
        centre = np.median(coords[rows], axis=0)
        regions.append(Region(float(centre[0]), float(centre[1]), int(len(rows)), label, ts))
    regions.sort(key=lambda r: -r.size)
    return _distinct(regions)


def _distinct(regions: list[Region]) -> list[Region]:
    """Two regions never carry the same label: a repeat gets its next trait, else no label (it is not drawn)."""
    seen: set[str] = set()
    out = []
    for r in regions:
        label = r.label
        for n in range(3, len(r.traits) + 1):
            if label not in seen:
                break
            label = trait_text(r.traits, n)
        if label in seen:
            label = ""
        seen.add(label)
        out.append(Region(r.x, r.y, r.size, label, r.traits))
    return out
