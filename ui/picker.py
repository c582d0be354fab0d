"""The movie picker: typo-tolerant search plus a short list of matches, shared by every page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import cached
from ui.engine import Explorer
from ui.format import TITLE_CHARS, md_text, printable
from ui.state import K


@st.cache_data(show_spinner=False, max_entries=512)
def search(key: str, _ex: Explorer, query: str) -> list[int]:
    """Typo-tolerant search, cached per artifact and query."""
    return [int(r) for r in _ex.search(query, limit=15)]


def current_row(ex: Explorer) -> int:
    """The selected movie's row; falls back to the most-rated movie (never an empty first screen)."""
    ss = st.session_state
    mid = ss.get(K.MOVIE)
    if mid is not None:
        hits = np.flatnonzero(ex.catalog["movie_id"].to_numpy() == int(mid))
        if len(hits):
            return int(ex.catalog.index[hits[0]])
    row = cached.popular_rows(cached.artifact_key(ex), ex)[0]
    ss[K.MOVIE] = int(ex.catalog.at[row, "movie_id"])
    return row


def select_row(ex: Explorer, row: int) -> None:
    """Make ``row`` the selected movie everywhere (session + URL)."""
    st.session_state[K.MOVIE] = int(ex.catalog.at[int(row), "movie_id"])


def _on_search(ex: Explorer) -> None:
    """Typing a title and pressing Enter selects the best match straight away."""
    query = (st.session_state.get(K.W_SEARCH) or "").strip()
    if not query:
        return
    rows = search(cached.artifact_key(ex), ex, query[:200])
    if rows:
        select_row(ex, rows[0])


def as_row(ex: Explorer, value: object) -> int | None:
    """A movie select box's value as a catalogue row, or None. Streamlit hands back the option's label instead
    of the row when the browser sends a choice from older options (the matches of an earlier search): that label
    is then matched against the catalogue's, and a label two movies share counts as no choice."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) if int(value) in ex.catalog.index else None
    if isinstance(value, str):
        hits = np.flatnonzero(ex.catalog["label"].map(printable).to_numpy() == value)
        return int(ex.catalog.index[hits[0]]) if len(hits) == 1 else None
    return None


def _on_pick(ex: Explorer) -> None:
    """Choosing from the list of matches selects that movie."""
    row = as_row(ex, st.session_state.get(K.W_PICK))
    if row is not None:
        select_row(ex, row)


def movie_picker(ex: Explorer, label: str = "Movie") -> int:
    """A search box plus a short list of matches (never a 62k-option list); returns the movie row."""
    key = cached.artifact_key(ex)
    row = current_row(ex)
    query = (st.session_state.get(K.W_SEARCH) or "").strip()
    left, right = st.columns([2, 3])
    left.text_input(
        "Search a title",
        key=K.W_SEARCH,
        placeholder="e.g. star wars, godfater — typos are fine",
        on_change=_on_search,
        args=(ex,),
        help="Press Enter to jump to the best match; pick another one from the list on the right.",
    )
    options = search(key, ex, query[:200]) if query else cached.popular_rows(key, ex)[:15]
    if row not in options:
        options = [row, *options]
    st.session_state[K.W_PICK] = row
    labels = ex.catalog["label"]
    right.selectbox(
        label,
        options,
        key=K.W_PICK,
        format_func=lambda r: printable(labels.at[r]),  # options are plain text, never markup
        on_change=_on_pick,
        args=(ex,),
        help="Matches for your search (or popular movies when the box is empty). Year shown to tell remakes apart.",
    )
    if query and not search(key, ex, query[:200]):
        st.caption(f"No title matches “{md_text(query, 60)}”; showing the current movie.")
    return row


def movie_facts(ex: Explorer, row: int) -> None:
    """One line about the selected movie: title, genres, rating count and mean (all escaped)."""
    info = ex.catalog.loc[row]
    genres = ", ".join(str(g) for g in info["genres"]) or "no genres listed"
    mean = info["mean_rating"]
    mean_txt = f"mean rating {mean:.2f}" if pd.notna(mean) else "no mean rating"
    st.markdown(f"**{md_text(info['label'], TITLE_CHARS)}** · {md_text(genres)} · "
                f"{int(info['n_ratings']):,} ratings · {mean_txt}")
