"""The list filters (minimum ratings, genres, years, blockbuster cap), seeded from and writing to the view."""

from __future__ import annotations

import streamlit as st

from ui.state import Catalogue, K


def current() -> tuple:
    """The session's filters as a hashable tuple (a cache key): min ratings, genres, years, cap."""
    ss = st.session_state
    return (int(ss[K.MIN_RATINGS]), tuple(ss[K.GENRES]), ss[K.YEARS], ss[K.MAX_RATINGS])


def any_set() -> bool:
    """Whether any filter is on (the expander opens by itself then)."""
    ss = st.session_state
    return bool(ss[K.MIN_RATINGS] or ss[K.GENRES] or ss[K.YEARS] or ss[K.MAX_RATINGS])


def _copy(widget_key: str, view_key: str) -> None:
    """Callback: a filter widget changed, so the canonical view follows."""
    value = st.session_state[widget_key]
    st.session_state[view_key] = tuple(value) if isinstance(value, list) else value


def _years_changed(bounds: tuple[int, int]) -> None:
    """The full range means no year filter (keeps links short)."""
    lo, hi = st.session_state[K.W_YEARS]
    st.session_state[K.YEARS] = None if (lo, hi) == tuple(bounds) else (int(lo), int(hi))


def _cap_changed(default_cap: int) -> None:
    """Turning the blockbuster cap on uses a sensible threshold; off removes it."""
    ss = st.session_state
    ss[K.MAX_RATINGS] = int(ss.get(K.W_MAX_RATINGS) or default_cap) if ss[K.W_CAP_ON] else None


def filter_controls(cat: Catalogue) -> None:
    """Minimum ratings, genres, year range and a blockbuster cap, seeded from (and writing to) the view."""
    ss = st.session_state
    lo, hi = cat.year_bounds
    default_cap = max(1, int(cat.max_count * 0.3))
    ss[K.W_MIN_RATINGS] = int(ss[K.MIN_RATINGS])
    ss[K.W_GENRES] = [g for g in ss[K.GENRES] if g in cat.genres]
    ss[K.W_YEARS] = tuple(ss[K.YEARS]) if ss[K.YEARS] else (lo, hi)
    ss[K.W_CAP_ON] = ss[K.MAX_RATINGS] is not None
    ss[K.W_MAX_RATINGS] = int(ss[K.MAX_RATINGS] or default_cap)
    a, b, c, d = st.columns([1, 2, 2, 2])
    a.number_input("Min. ratings", min_value=0, max_value=max(cat.max_count, 1), step=5,
                   key=K.W_MIN_RATINGS, on_change=_copy, args=(K.W_MIN_RATINGS, K.MIN_RATINGS),
                   help="Hide obscure movies with fewer ratings than this.")
    b.multiselect("Genres", list(cat.genres), key=K.W_GENRES, on_change=_copy,
                  args=(K.W_GENRES, K.GENRES), placeholder="Any genre",
                  help="Keep only movies with at least one of these genres.")
    if hi > lo:
        c.slider("Years", min_value=lo, max_value=hi, key=K.W_YEARS, on_change=_years_changed,
                 args=((lo, hi),))
    with d:
        st.toggle("Hide blockbusters", key=K.W_CAP_ON, on_change=_cap_changed, args=(default_cap,), wrap=True,
                  help="Cap the number of ratings to surface less obvious picks.")
        if ss[K.W_CAP_ON]:
            st.number_input("…with more ratings than", min_value=1, max_value=max(cat.max_count, 1),
                            step=10, key=K.W_MAX_RATINGS, on_change=_cap_changed, args=(default_cap,))
    st.caption("Filtered lists refill to 20 from further down the ranking.")
