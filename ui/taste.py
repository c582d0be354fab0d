"""Your taste: star ratings kept per dataset, and blended recommendations from them.

Ratings are stored under the dataset's name and content fingerprint, because movie ids mean different
films in different datasets: a rating made on one must never show up under another's movie.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import cached, tables
from ui.engine import Explorer, Filters, RecsysError
from ui.format import TITLE_CHARS, error_markdown, genres_text, md_text, movie_labels, printable
from ui.picker import as_row, search
from ui.state import K, keep_choice

STARS = "★★★★★"


def ratings_of(ex: Explorer) -> dict[int, int]:
    """This dataset's ratings (movie id -> stars index 0-4); other datasets' ratings are not seen."""
    return dict(st.session_state[K.TASTE].get(ex.dataset_id, {}))


def _store(ex: Explorer, taste: dict[int, int]) -> None:
    """Keep this dataset's ratings, leaving every other dataset's as they are."""
    all_ = dict(st.session_state[K.TASTE])
    if taste:
        all_[ex.dataset_id] = taste
    else:
        all_.pop(ex.dataset_id, None)
    st.session_state[K.TASTE] = all_


def _stars_to_rating(ex: Explorer, stars_index: int) -> float:
    """Stars 1-5 mapped onto the dataset's rating scale."""
    lo, hi = ex.dataset.rating_scale
    return float(lo + (hi - lo) * stars_index / 4.0)


def _on_taste_star(ex: Explorer, movie_id: int, widget_key: str) -> None:
    """A star click stores (or clears) that movie's rating."""
    value = st.session_state.get(widget_key)
    taste = ratings_of(ex)
    if value is None:
        taste.pop(movie_id, None)
    else:
        taste[movie_id] = int(value)
    _store(ex, taste)


def _on_taste_search_star(ex: Explorer) -> None:
    """Rating the searched movie adds it to the list and resets the search stars."""
    ss = st.session_state
    row, value = as_row(ex, ss.get("w_taste_pick")), ss.get("w_taste_stars")
    if row is None or value is None:
        return
    taste = ratings_of(ex)
    taste[int(ex.catalog.at[row, "movie_id"])] = int(value)
    _store(ex, taste)
    ss["w_taste_stars"] = None


def taste_search(ex: Explorer) -> None:
    """Find any movie by title and give it stars."""
    key = cached.artifact_key(ex)
    query = st.text_input("Find a movie to rate", key="w_taste_q", placeholder="e.g. toy story")
    query = (query or "").strip()[:200]
    if not query:
        return
    rows = search(key, ex, query)
    if not rows:
        st.caption("No match; try fewer words.")
        return
    labels = ex.catalog["label"]
    keep_choice("w_taste_pick", rows)  # a pick left from another dataset or search
    st.selectbox("Match", rows, key="w_taste_pick", format_func=lambda r: printable(labels.at[r]),
                 label_visibility="collapsed")
    st.feedback("stars", key="w_taste_stars", on_change=_on_taste_search_star, args=(ex,))


def taste_grid(ex: Explorer, rows: list[int]) -> None:
    """Popular movies with a star widget each: the quickest way to express a taste."""
    ss = st.session_state
    taste = ratings_of(ex)
    for row in rows:
        mid = int(ex.catalog.at[row, "movie_id"])
        wkey = f"w_star_{mid}"
        ss[wkey] = taste.get(mid)  # re-seeded every run, so a dataset switch shows that dataset's stars
        name, stars = st.columns([3, 2], vertical_alignment="center")
        name.markdown(md_text(ex.catalog.at[row, "label"], TITLE_CHARS))
        with stars:
            st.feedback("stars", key=wkey, on_change=_on_taste_star, args=(ex, mid, wkey))


def taste_ratings(ex: Explorer) -> dict[int, float]:
    """This dataset's ratings (movie id -> rating on its scale), listed for the person."""
    taste = ratings_of(ex)
    if not taste:
        return {}
    ids = ex.catalog["movie_id"]
    label_of = dict(zip(ids.to_numpy().tolist(), ex.catalog["label"], strict=True))
    known = {mid: s for mid, s in taste.items() if mid in label_of}
    if not known:
        return {}
    st.markdown(f"**Your ratings ({len(known)})**")
    lines = [f"- {STARS[: s + 1]}{'☆' * (4 - s)} {md_text(label_of[mid], TITLE_CHARS)}" for mid, s in known.items()]
    st.markdown("\n".join(lines))
    return {mid: _stars_to_rating(ex, s) for mid, s in known.items()}


def clear_taste(ex: Explorer) -> None:
    """Forget the person's ratings on this dataset (and the star widgets showing them)."""
    ss = st.session_state
    _store(ex, {})
    for k in [k for k in ss if str(k).startswith("w_star_")]:
        del ss[k]


def recommend(ex: Explorer, rated: dict[int, float], alpha: float, filt: Filters | None) -> pd.DataFrame | None:
    """Blended recommendations for a handful of ratings (movie id -> rating), with reasons."""
    ids = ex.catalog["movie_id"].to_numpy()
    rows = {}
    for mid, r in rated.items():
        hits = np.flatnonzero(ids == mid)
        if len(hits):
            rows[int(ex.catalog.index[hits[0]])] = r
    try:
        return ex.recommend(rows, k=20, alpha=alpha, filters=filt)
    except RecsysError as exc:
        st.warning(f"Could not recommend: {error_markdown(exc)}")
        return None


RECS_COLUMNS: dict[str, tables.Column] = {
    "#": tables.Column("#", tables.NUM, "{:d}"),
    "Title": tables.Column("Title", tables.TITLE),
    "Why": tables.Column("Why", tables.NOTE, help="What in your ratings brought this movie here"),
    "Score": tables.Column("Score", tables.NUM, "{:.3f}", "The blended score the list is ranked by"),
    "Ratings": tables.RATINGS,
    "Mean": tables.MEAN,
    "Genres": tables.GENRES,
}


def recs_frame(recs: pd.DataFrame) -> pd.DataFrame:
    """The shown columns: rank, title (year), why, then score, ratings, mean and genres.

    The reason comes right after the title: in a laptop window the table is about 530 px wide, and a last column
    (where it was) sat off-screen behind a sideways scroll, so "rarely rated" places read as unexplained."""
    titles = (movie_labels(list(recs["title"]), list(recs["year"])) if "year" in recs
              else [str(t) for t in recs["title"]])
    n = len(recs)
    return pd.DataFrame({
        "#": recs["rank"].astype(int).to_numpy() if "rank" in recs else np.arange(1, n + 1),
        "Title": [printable(t) for t in titles],
        "Why": [printable(w) for w in recs["why"]] if "why" in recs else [""] * n,
        "Score": recs["score"].astype(float).to_numpy(),
        "Ratings": recs["n_ratings"].astype(int).to_numpy() if "n_ratings" in recs else [None] * n,
        "Mean": recs["mean_rating"].astype(float).to_numpy() if "mean_rating" in recs else [None] * n,
        "Genres": [printable(genres_text(g)) for g in recs["genres"]],
    })


def recs_table(recs: pd.DataFrame) -> None:
    """Recommendations as a table, the reason wrapping beside the title."""
    with st.container(key="taste_recs"):
        tables.show(recs_frame(recs), RECS_COLUMNS, "Recommended for you")
