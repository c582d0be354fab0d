"""The facade pages and the CLI call: open (train or load) a dataset's models and ask them questions."""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .config import EngineConfig, use_ann
from .errors import ConfigError, UnknownMovieError
from .events import Progress, ProgressFn, emit
from .pipeline.build import LATER_STAGES, RATING, build_lists, missing_stages, reopen, stored_collab
from .pipeline.build import complete as complete_stages
from .scoring.similarity import Filters, QueryResult, RankedList, SimilarityIndex, co_liked, liked_matrix
from .store import Artifact, ArtifactMissingError, ArtifactStore

if TYPE_CHECKING:
    import scipy.sparse as sp

    from .data.dataset import Dataset
    from .scoring.ann_search import AnnSimilarity
    from .scoring.thin_places import ThinLists

__all__ = ["Explorer", "Progress", "Similar", "ArtifactMissingError"]




@dataclass(frozen=True, eq=False)
class Similar:
    """Three ranked lists for one movie, what the filters removed from each, and notes for the reader."""

    content: pd.DataFrame
    collab: pd.DataFrame
    hybrid: pd.DataFrame
    removed: dict[str, int]
    notes: tuple[str, ...]
    removed_rows: dict[str, np.ndarray] = field(default_factory=dict)
    row: int = -1
    alpha: float = 0.5


def _catalog(ds: "Dataset", has_content: np.ndarray, has_collab: np.ndarray, low_conf: np.ndarray) -> pd.DataFrame:
    """Per-movie facts every page shows, computed with bincounts (no loop over ratings)."""
    n = ds.n_movies
    r = ds.ratings
    counts = np.bincount(r.movie, minlength=n).astype(np.int64)
    sums = np.bincount(r.movie, weights=r.rating.astype(np.float64), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)
    mv = ds.movies
    year = pd.array(pd.to_numeric(mv["year"], errors="coerce"), dtype="Int16")
    title = mv["title"].astype(str).to_numpy()
    ystr = pd.Series(year).astype("string").fillna("").to_numpy()
    label = np.where(ystr != "", np.char.add(np.char.add(np.char.add(title.astype(str), " ("), ystr.astype(str)), ")"), title)
    return pd.DataFrame(
        {
            "movie_id": mv["movie_id"].to_numpy(np.int64),
            "title": title,
            "year": year,
            "genres": mv["genres"].to_numpy(),
            "label": label,
            "n_ratings": counts,
            "mean_rating": mean,
            "has_content": has_content,
            "has_collab": has_collab,
            "low_confidence": low_conf,
        },
        index=pd.RangeIndex(n, name="movie"),
    )


def _search_key(title: str) -> str:
    """'Empire Strikes Back, The (1980)' -> 'the empire strikes back (1980)' for matching."""
    t = title.lower()
    for art in (", the", ", a", ", an", ", la", ", le", ", les", ", il", ", el", ", das", ", der", ", die"):
        i = t.find(art + " (")
        if t.endswith(art) or i >= 0:
            head = t[: i if i >= 0 else len(t) - len(art)]
            tail = t[i + len(art) :] if i >= 0 else ""
            return f"{art[2:]} {head}{tail}"
    return t


def _bare(title: str) -> str:
    """Lower-case title without a leading/trailing article or a year: the loosest exact match."""
    t = re.sub(r"\s*\((?:1[89]|20)\d\d\)\s*$", "", title.lower()).strip()
    t = re.sub(r",\s*(the|a|an)$", "", t)
    t = re.sub(r"^(the|a|an)\s+", "", t)
    return " ".join(t.split())


def _ratings_text(n: int) -> str:
    """A movie's rating count as a reason reads it: "no ratings", "1 rating", "3 ratings"."""
    return "no ratings" if n == 0 else f"{n:,} rating" + ("" if n == 1 else "s")


class Explorer:
    """A dataset's trained content and collaborative spaces, and every question the pages ask of them."""

    def __init__(self, ds: "Dataset", config: EngineConfig, store: ArtifactStore, art: Artifact, notices: tuple[str, ...] = ()) -> None:
        self.dataset = ds
        self.config = config
        self.store = store
        self.artifact = art
        self.notices = notices
        content = art.array("content_vectors")
        if content.shape[0] != ds.n_movies:
            raise ArtifactMissingError("The cached model does not match this dataset's movies; train again to rebuild it.")
        low = art.array("low_confidence") if art.has("low_confidence.npy") else np.zeros(ds.n_movies, bool)
        self._index = SimilarityIndex(
            content, art.array("content_mask"), art.array("collab_vectors"), art.array("collab_mask"),
            np.bincount(ds.ratings.movie, minlength=ds.n_movies),
            pd.to_numeric(ds.movies["year"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
            *self._genre_matrix(ds),
            collab_weight=art.array("collab_weight") if art.has("collab_weight.npy") else None,
        )
        self._rated_share = (art.array("collab_rated_share") if art.has("collab_rated_share.npy")
                             else np.ones(ds.n_movies, np.float32))
        self.catalog = _catalog(ds, self._index.has_content, self._index.has_collab, low)
        cat = self.catalog  # plain numpy copies: Arrow-backed columns cost ~1 ms per access
        self._col = {c: cat[c].to_numpy() for c in ("movie_id", "title", "genres", "label", "n_ratings", "mean_rating")}
        self._col["year"] = cat["year"].array
        self._tfidf: tuple["sp.csr_matrix", np.ndarray] | None = None
        self._liked: "sp.csc_matrix | None" = None
        self._thin: "ThinLists | None" = None
        self._search_keys: list[str] | None = None
        self._collab_model: Any = None
        self._searcher: SimilarityIndex | AnnSimilarity | None = None  # set by prepare_search (exact or ANN)
        self._searcher_lock = threading.Lock()
        self._search_info: dict = {}

    def _note(self, msg: str) -> None:
        """A notice that arrived after opening (e.g. a map that could not be cached)."""
        if msg not in self.notices:
            self.notices = (*self.notices, msg)

    # ------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        data: "str | Path | Dataset",
        config: EngineConfig | None = None,
        train: bool = True,
        progress: ProgressFn | None = None,
        store: ArtifactStore | None = None,
        complete: bool = True,
    ) -> "Explorer":
        """Load the dataset, then the cached artifact (< 1 s) or, when allowed, train and store it once.

        ``complete=False`` stops once the lists can be served (content codes and the collaborative space):
        the rating model and the evaluation are then added later (``Explorer.complete``, or the server's jobs).
        """
        config = config or EngineConfig()
        config.validate()
        ds = cls._dataset(data, progress)
        store = store or ArtifactStore()
        key = config.config_hash()
        notices: list[str] = []
        ddp_config, _ = config.for_distributed()
        if ddp_config is not config and not store.exists(ds.fingerprint, key) \
                and store.exists(ds.fingerprint, ddp_config.config_hash()):
            # built under torchrun (dot_bias stands in for bayes_mf there): serve it as it is
            config, key = ddp_config, ddp_config.config_hash()
            notices.append("Serving the model trained under torchrun (its rating model is dot_bias).")
        if not train:
            art = store.open(ds.fingerprint, key)
        else:
            def note(msg: str) -> None:
                notices.append(msg)
                emit(progress, "cache", msg)

            art, built = store.get_or_build(ds.fingerprint, key, lambda w: build_lists(ds, config, w, progress), note)
            if complete and missing_stages(art.manifest):
                art = complete_stages(store, art, ds, config, progress, on_notice=note)
                built = True
            emit(progress, "done", ("Trained and stored" if art.cached else "Trained (not cached)") if built
                  else "Loaded from the cache")
        # What training had to work around (device fallback, smaller batches) and an uncached artifact.
        for msg in [*(art.manifest.get("notices") or []), art.manifest.get("uncached") or ""]:
            if msg and msg not in notices:
                notices.append(msg)
        ex = cls(ds, config, store, art, tuple(notices))
        ex.prepare_search(progress)
        return ex

    @staticmethod
    def _dataset(data: "str | Path | Dataset", progress: ProgressFn | None) -> "Dataset":
        from .data.dataset import Dataset

        if isinstance(data, Dataset):
            return data
        from .data import load_dataset

        emit(progress, "load", f"Reading {data}")
        return load_dataset(data)

    @staticmethod
    def _genre_matrix(ds: "Dataset") -> tuple[np.ndarray, tuple[str, ...]]:
        g = ds.movies["genres"].explode().dropna().astype(str)
        names = tuple(sorted(set(g)))
        m = np.zeros((ds.n_movies, len(names)), dtype=bool)
        if len(g):
            col = pd.Index(names).get_indexer(g)
            m[g.index.to_numpy(), col] = True
        return m, names

    def prepare_search(self, progress: ProgressFn | None = None) -> None:
        """Pick what answers ``similar``: exact numpy up to ``config.ann.threshold`` movies, a faiss index above.

        The index is loaded from the artifact folder, or built once and saved there (faiss is imported
        only on this path, so small catalogues never load it).
        """
        with self._searcher_lock:
            if self._searcher is not None:
                return
            if not use_ann(self.dataset.n_movies, self.config.ann):
                self._searcher, self._search_info = self._index, {"backend": self._index.backend}
                return
            from .ann_cache import open_ann_search

            def tell(msg: str) -> None:
                emit(progress, "ann", msg)

            def note(msg: str) -> None:
                self._note(msg)
                tell(msg)

            searcher, self.artifact, info = open_ann_search(self.store, self.artifact, self._index, self.config.ann,
                                                            note, tell)
            self._searcher, self._search_info = searcher, info

    def _search(self) -> "SimilarityIndex | AnnSimilarity":
        """The search ``prepare_search`` chose (prepared now for an Explorer built without ``open``)."""
        if self._searcher is None:
            self.prepare_search()
        return self._searcher  # type: ignore[return-value]

    @property
    def search_backend(self) -> str:
        """What serves ``similar`` and ``blend_path``: "exact" or "ann (faiss ivf)" / "ann (faiss hnsw)"."""
        return self._search().backend

    @property
    def search_info(self) -> dict:
        """The backend, whether its index was built now or loaded (and saved), and lists answered exactly instead."""
        searcher = self._search()
        return {**self._search_info, "exact_fallbacks": int(getattr(searcher, "fallbacks", 0))}

    def missing(self) -> tuple[str, ...]:
        """The later build stages ("rating", "evaluate") this artifact still lacks."""
        return missing_stages(self.artifact.manifest)

    def refresh(self) -> None:
        """Pick up what a job or another process added to the artifact (metrics, the rating model, maps)."""
        self.artifact = reopen(self.store, self.artifact)

    def complete(self, stages: tuple[str, ...] = LATER_STAGES, progress: ProgressFn | None = None) -> None:
        """Run the later stages still missing (the rating model, then the evaluation), each once across processes."""
        self.refresh()
        if any(s in stages for s in self.missing()):
            self.artifact = complete_stages(self.store, self.artifact, self.dataset, self.config, progress, stages,
                                            on_notice=self._note)

    # ------------------------------------------------------------ simple facts

    @property
    def manifest(self) -> dict:
        return self.artifact.manifest

    @property
    def metrics(self) -> dict:
        return dict(self.artifact.manifest.get("metrics") or {})

    @property
    def history(self) -> dict:
        hist = self.artifact.json("history") if self.artifact.has("history.json") else {}
        if self.artifact.manifest.get("rating_history"):
            hist["rating"] = self.artifact.manifest["rating_history"]
        return hist

    @property
    def cold_start(self) -> dict:
        """How thin movies lean on content: {"enabled", "k" (rated share n / (n + k)), validation figures}."""
        return dict(self.artifact.manifest.get("cold_start") or {"enabled": False, "k": 0.0})

    @property
    def device(self) -> str:
        return str(self.artifact.manifest.get("device", "?"))

    @property
    def default_alpha(self) -> float:
        """The persisted default blend, else the evaluation's best alpha, else 0.5."""
        s = self.store.read_settings(self.dataset.fingerprint, self.config.config_hash())
        a = s.get("default_alpha", self.metrics.get("best_alpha", 0.5))
        try:
            a = float(a)
        except (TypeError, ValueError):
            return 0.5
        return a if 0.0 <= a <= 1.0 else 0.5

    @property
    def default_alpha_chosen(self) -> bool:
        """Whether someone saved the default blend; else it is the evaluation's pick (0.5 before there is one)."""
        return "default_alpha" in self.store.read_settings(self.dataset.fingerprint, self.config.config_hash())

    def set_default_alpha(self, alpha: float | None) -> None:
        """Persist the blend someone chose, beside the artifact (survives restarts); None hands the default back
        to the evaluation."""
        if alpha is None:
            self.store.write_settings(self.dataset.fingerprint, self.config.config_hash(), {"default_alpha": None})
            return
        alpha = float(alpha)
        if not (0.0 <= alpha <= 1.0) or math.isnan(alpha):
            raise ConfigError(f"alpha must be between 0 and 1, got {alpha}.")
        self.store.write_settings(self.dataset.fingerprint, self.config.config_hash(), {"default_alpha": alpha})

    # ------------------------------------------------------------ finding movies

    def _title_scores(self, q: str) -> np.ndarray:
        """Typo-tolerant match of ``q`` against every title (0-100), vectorised with rapidfuzz.cdist."""
        from rapidfuzz import fuzz, process

        if self._search_keys is None:
            self._search_keys = [_search_key(s) for s in self._col["label"].tolist()]
        keys = self._search_keys
        parts = [
            process.cdist([q], keys, scorer=fuzz.ratio, dtype=np.float32)[0],
            process.cdist([q], keys, scorer=fuzz.partial_ratio, dtype=np.float32)[0] * np.float32(0.95),
            process.cdist([q], keys, scorer=fuzz.token_sort_ratio, dtype=np.float32)[0],
            process.cdist([q], keys, scorer=fuzz.token_set_ratio, dtype=np.float32)[0] * np.float32(0.8),
        ]
        return np.maximum.reduce(parts)

    def search(self, q: str, limit: int = 10) -> list[int]:
        """Movie rows whose title best matches ``q`` (typo tolerant, year aware), best first."""
        q = " ".join((q or "").lower().split())
        if not q or limit <= 0:
            return []
        score = self._title_scores(q).astype(np.float64)
        years = re.findall(r"\b(1[89]\d\d|20\d\d)\b", q)
        if years:
            y = pd.to_numeric(pd.Series(self._col["year"]), errors="coerce").to_numpy()
            score += np.where(np.isin(y, [int(v) for v in years]), 6.0, 0.0)
        score += 1.5 * np.log10(1 + self._col["n_ratings"])  # popular first among equals
        cand = np.flatnonzero(score >= 55)
        top = cand[np.lexsort((cand, -score[cand]))][:limit]
        return top.tolist()

    def resolve(self, movie: "str | int") -> int:
        """A MovieLens movieId (int or digits) or a title (fuzzy) -> movie row; UnknownMovieError lists candidates."""
        if isinstance(movie, (int, np.integer)) or (isinstance(movie, str) and movie.strip().isdigit()):
            mid = int(movie)
            hit = np.flatnonzero(self.catalog["movie_id"].to_numpy() == mid)
            if len(hit):
                return int(hit[0])
            if not isinstance(movie, str):
                raise UnknownMovieError(f"No movie has id {mid} in {self.dataset.name}; search by title instead.")
        text = str(movie).strip()
        if not text:
            raise UnknownMovieError("No movie given; type a title or a MovieLens movieId.")
        low = text.lower()
        cat = self.catalog
        for col in ("label", "title", "bare"):
            if col == "bare":  # 'godfather' == 'Godfather, The' (article and year ignored)
                bare = np.array([_bare(t) for t in self._col["title"].tolist()])
                exact = np.flatnonzero(bare == _bare(low))
            else:
                exact = np.flatnonzero(np.char.lower(self._col[col].astype(str)) == low)
            if len(exact) == 0 and col == "label":
                search_keys = self._search_keys or [_search_key(s) for s in cat["label"].tolist()]
                self._search_keys = search_keys
                exact = np.flatnonzero(np.array(search_keys) == low)
            if len(exact) == 1:
                return int(exact[0])
            if len(exact) > 1:
                labels = [f"{cat['label'].iat[r]} [id {cat['movie_id'].iat[r]}]" for r in exact[:10]]
                raise UnknownMovieError(
                    f"{text!r} matches {len(exact)} movies; add the year or use the id: " + "; ".join(labels), labels
                )
        rows = self.search(text, limit=8)
        if rows:
            raw = self._title_scores(" ".join(low.split()))
            top = raw[rows[0]]
            second = raw[rows[1]] if len(rows) > 1 else 0
            if top >= 90 and top - second >= 5:
                return int(rows[0])
        labels = [str(cat["label"].iat[r]) for r in rows]
        if labels:
            raise UnknownMovieError(f"No movie is clearly {text!r}; did you mean: " + "; ".join(labels) + "?", labels)
        raise UnknownMovieError(f"No movie matches {text!r} in {self.dataset.name}; check the spelling.", [])

    # ------------------------------------------------------------ similarity

    def tfidf_terms(self) -> tuple["sp.csr_matrix", np.ndarray]:
        if self._tfidf is None:
            from .training.content import tfidf_from_arrays

            self._tfidf = tfidf_from_arrays(self.artifact.arrays("tfidf"))
        return self._tfidf

    def _liked_matrix(self) -> "sp.csc_matrix":
        if self._liked is None:
            r = self.dataset.ratings
            self._liked = liked_matrix(r.user, r.movie, r.rating, self.dataset.n_users, self.dataset.n_movies)
        return self._liked

    def _content_why(self, row: int, rows: np.ndarray) -> list[str]:
        from .training.content import describe_terms, shared_terms

        x, terms = self.tfidf_terms()
        return [describe_terms(t) for t in shared_terms(x, terms, row, rows)]

    def _collab_why(self, row: int, rows: np.ndarray) -> list[str]:
        n = co_liked(self._liked_matrix(), row, rows)
        out = [f"{int(c)} users liked both" if c != 1 else "1 user liked both" for c in n]
        thin = self._rated_share[rows] < 0.5  # placed in the collaborative space mostly by its content
        return [f"{w}; placed mostly by content (few ratings)" if t else w for w, t in zip(out, thin.tolist(), strict=True)]

    def _frame(self, lst: RankedList, why: list[str]) -> pd.DataFrame:
        col = self._col
        r = lst.rows
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(r) + 1, dtype=np.int64),
                "movie": r,
                "movie_id": col["movie_id"][r],
                "title": col["title"][r],
                "year": col["year"][r],
                "genres": col["genres"][r],
                "score": lst.score,
                "content_score": lst.content_score,
                "collab_score": lst.collab_score,
                "n_ratings": col["n_ratings"][r],
                "mean_rating": col["mean_rating"][r],
                "why": why,
            }
        )

    def allowed(self, filters: Filters | None) -> np.ndarray | None:
        """Which movies pass ``filters`` (bool per movie row), or None when no filter is active."""
        return self._index.allowed(filters)

    def similar(self, row: int, k: int = 20, alpha: float = 0.5, filters: Filters | None = None) -> Similar:
        """Content, collaborative and hybrid top-k for one movie row, with both scores and a reason per row."""
        row = int(row)
        if not 0 <= row < self.dataset.n_movies:
            raise UnknownMovieError(f"Movie row {row} is not in {self.dataset.name}; pick a movie from the search.")
        res: QueryResult = self._search().query(row, k, float(alpha), filters)
        all_rows = np.unique(np.concatenate([res.content.rows, res.collab.rows, res.hybrid.rows]))
        cwhy = dict(zip(all_rows.tolist(), self._content_why(row, all_rows), strict=True))
        kwhy = dict(zip(all_rows.tolist(), self._collab_why(row, all_rows), strict=True))
        content = self._frame(res.content, [cwhy[r] for r in res.content.rows.tolist()])
        collab = self._frame(res.collab, [kwhy[r] for r in res.collab.rows.tolist()])
        hw = [" — ".join(p for p in (cwhy[r], kwhy[r]) if p) for r in res.hybrid.rows.tolist()]
        hybrid = self._frame(res.hybrid, hw)
        for name, lst in (("content_rank", res.content), ("collab_rank", res.collab)):
            rank = np.zeros(self.dataset.n_movies + 1, dtype=np.int64)
            rank[lst.rows] = np.arange(1, len(lst.rows) + 1)
            got = rank[res.hybrid.rows]
            hybrid[name] = pd.arrays.IntegerArray(got, got == 0)
        return Similar(content, collab, hybrid, dict(res.removed), res.notes, dict(res.removed_rows), row, float(alpha))

    def blend_path(self, row: int, alphas: "np.ndarray | list[float] | None" = None, k: int = 20) -> pd.DataFrame:
        """How the hybrid top-k changes as alpha moves: one row per (alpha, rank)."""
        alphas = np.round(np.linspace(0, 1, 11), 2) if alphas is None else np.asarray(alphas, dtype=np.float64)
        parts = []
        titles = self.catalog["label"].to_numpy()
        for a in alphas:
            lst = self._search().query(int(row), k, float(a), None).hybrid
            parts.append(pd.DataFrame({"alpha": float(a), "rank": np.arange(1, len(lst.rows) + 1), "movie": lst.rows,
                                       "title": titles[lst.rows], "score": lst.score}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["alpha", "rank", "movie", "title", "score"])

    def agreement(self, k: int = 20) -> np.ndarray:
        """Per movie: how many of its content top-k are also in its collaborative top-k (cached in the artifact)."""
        name = f"agreement_k{int(k)}"
        if self.artifact.has(f"{name}.npy"):
            return self.artifact.array(name)
        a = self._index.top_table("content", k)
        b = self._index.top_table("collab", k)
        both = (a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)
        out = both.any(axis=2).sum(axis=1).astype(np.int32)
        self.artifact = self.store.add(self.artifact, {name: out}, on_notice=self._note)
        return out

    def _thin_lists(self) -> "ThinLists":
        """Who rated and liked what across the dataset, for thin places in taste lists (built on first need)."""
        if self._thin is None:
            import scipy.sparse as sp

            from .scoring.thin_places import ThinLists

            r, cs, n = self.dataset.ratings, self.config.collab.cold_start, self.dataset.n_users
            rated = sp.csr_matrix((np.ones(len(r.user), np.float32), (r.user, r.movie)), shape=(n, self.dataset.n_movies))
            self._thin = ThinLists(rated, self._liked_matrix().tocsr(), self._index.n_ratings, cs.cold_max_train,
                                   cs.thin_places, cs.thin_neighbours, self.config.eval.k, cs.thin_content_weight)
        return self._thin

    def recommend(self, ratings: dict[int, float], k: int = 20, alpha: float = 0.5, filters: Filters | None = None,
                  thin_places: bool = True) -> pd.DataFrame:
        """Blended recommendations from a handful of ratings {movie row: rating}, with the movie that explains each;
        with ``thin_places`` (and the config's strength above 0) rarely rated movies get the share of the list they
        have among the movies rated above the scale's middle (``scoring/thin_places.py``), as the evaluation measures
        it."""
        if not ratings:
            raise ConfigError("Rate at least one movie to get recommendations.")
        rows = np.array([int(r) for r in ratings], dtype=np.int64)
        if (rows < 0).any() or (rows >= self.dataset.n_movies).any():
            raise UnknownMovieError("A rated movie is not in this catalogue; pick movies from the search.")
        if not (0.0 <= alpha <= 1.0):
            raise ConfigError(f"alpha must be between 0 and 1, got {alpha}.")
        lo, hi = self.dataset.rating_scale
        vals = np.array([float(v) for v in ratings.values()], dtype=np.float32)
        w = vals - np.float32((lo + hi) / 2)
        liked = w > 0  # rated above the middle of the scale
        if not liked.any():
            w = vals - np.float32(lo) + np.float32(0.5)  # only low ratings: still use them as (weak) seeds
        usable = self._index.has_content[rows] | self._index.has_collab[rows]
        sims = self._index.blended(rows, float(alpha))  # [n, m]
        sims[:, ~usable] = 0
        contrib = sims * w[None, :]
        score = contrib.sum(axis=1)
        valid = self._index.has_content | self._index.has_collab
        valid[rows] = False
        ok = self._index.allowed(filters)
        if ok is not None:
            valid &= ok
        from .scoring.similarity import top_k

        top = top_k(score, k, valid)
        placed = np.zeros(len(top), dtype=bool)
        if thin_places and self.config.collab.cold_start.thin_places > 0 and len(top):
            top, placed = self._with_thin_places(rows, w, liked, usable, score, valid, k, top)
        best = contrib[top].argmax(axis=1) if len(top) else np.zeros(0, dtype=np.int64)
        labels = self.catalog["label"].to_numpy()
        n_r = self._col["n_ratings"]
        why = [(f"rarely rated ({_ratings_text(int(n_r[t]))}), like some you rated: " if p else "")
               + f"because you rated {labels[rows[b]]} {vals[b]:g} (similarity {sims[t, b]:.2f})"
               for t, b, p in zip(top, best, placed, strict=True)]
        cat = self.catalog
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(top) + 1),
                "movie": top,
                "movie_id": cat["movie_id"].to_numpy()[top],
                "title": cat["title"].to_numpy()[top],
                "year": cat["year"].array[top],
                "genres": cat["genres"].to_numpy()[top],
                "score": score[top].astype(np.float32),
                "n_ratings": cat["n_ratings"].to_numpy()[top],
                "mean_rating": cat["mean_rating"].to_numpy()[top],
                "why": why,
            }
        )

    def _with_thin_places(self, rows: np.ndarray, w: np.ndarray, liked: np.ndarray, usable: np.ndarray,
                          score: np.ndarray, valid: np.ndarray, k: int, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The list with thin movies in their places, and which rows they are (unchanged when none are due)."""
        from .scoring.thin_places import one_row

        n = self.dataset.n_movies
        if not (self._index.n_ratings[rows[liked]] <= self.config.collab.cold_start.cold_max_train).any():
            return top, np.zeros(len(top), dtype=bool)  # no liked thin movie: no places, and no index to build
        th = self._thin_lists()
        query = one_row(rows, n)
        places = th.places_for(one_row(rows[liked], n), k)
        if int(places[0]) == 0:
            return top, np.zeros(len(top), dtype=bool)
        c = self._index.blended(rows, 1.0)
        c[:, ~usable] = 0
        content = (c * w[None, :]).sum(axis=1, dtype=np.float32)[None, :]
        base = np.where(valid, score, -np.inf).astype(np.float32)[None, :]
        ranked = th.lists(query, places, content, valid[None, :], k=k)(base)[0]
        listed = np.flatnonzero(np.isfinite(ranked))
        order = listed[np.argsort(-ranked[listed], kind="stable")][:k]
        placed = (ranked[order] <= 2 * k) & (ranked[order] > k) & th.thin_np[order]
        at = np.flatnonzero(placed)  # one block: shown by their own score, like the rows above them
        order[at] = order[at][np.argsort(-score[order[at]], kind="stable")]
        return order, placed

    # ------------------------------------------------------------ maps

    def map_alpha(self, alpha: float) -> float:
        """The α of the stored blended map that stands for ``alpha`` (maps come in ``projection.alpha_step`` steps)."""
        from .projection import rounded_alpha

        return float(rounded_alpha(alpha, self.config.projection))

    def map_stored(self, space: str, alpha: float = 0.5) -> bool:
        """Whether this map is already in the artifact (drawing it then needs no UMAP run)."""
        from .projection import projection_name

        return self.artifact.has(f"{projection_name(space, alpha, self.config.projection)}.npy")

    @property
    def dataset_id(self) -> str:
        """The data behind this explorer, by name and content fingerprint (keys per-dataset visitor state)."""
        return f"{self.dataset.name}|{self.dataset.fingerprint}"

    def projection(self, space: str, alpha: float = 0.5, progress: ProgressFn | None = None) -> np.ndarray:
        """2-D UMAP coordinates [n_movies, 2] (NaN rows without that embedding), computed once and cached."""
        from .projection import projection_for

        coords, self.artifact = projection_for(self.store, self.artifact, self._index, self.config.projection, space,
                                               alpha, progress, self._note)
        return coords

    # ------------------------------------------------------------ ratings (CLI predict)

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ratings for (MovieLens userId, movieId) pairs; unknown ones get the baseline and a True flag."""
        from .training.collab import predict_ratings

        if self._collab_model is None:
            self.complete((RATING,))
            self._collab_model = stored_collab(self.artifact)
        uids = self.dataset.users["user_id"].to_numpy()
        mids = self.catalog["movie_id"].to_numpy()
        u = _lookup(uids, np.asarray(user_ids))
        m = _lookup(mids, np.asarray(movie_ids))
        pred = np.asarray(predict_ratings(self._collab_model, u, m), dtype=np.float32)
        return pred, (u < 0) | (m < 0)

    def neighbor_table(self, k: int = 20, alpha: float = 0.5) -> dict[str, np.ndarray]:
        """Hybrid top-k of every movie (for export), in blocks: rows, ranks, neighbours and all three scores."""
        return self._index.hybrid_table(k, float(alpha))


def _lookup(ids: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Positions of ``query`` values in ``ids`` (-1 when absent), vectorised."""
    order = np.argsort(ids, kind="stable")
    sid = ids[order]
    pos = np.searchsorted(sid, query)
    pos = np.clip(pos, 0, max(len(sid) - 1, 0))
    found = (len(sid) > 0) & (sid[pos] == query) if len(sid) else np.zeros(len(query), bool)
    return np.where(found, order[pos], -1).astype(np.int64)
