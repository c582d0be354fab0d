"""The list filters (minimum ratings, genres, years, blockbuster cap, the map selection), seeded from and
writing to the view."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.selection import rows_for
from ui.state import Catalogue, K, only_selection


def current(catalog: pd.DataFrame) -> tuple:
    """The session's filters as a hashable tuple (a cache key): min ratings, genres, years, cap, and the
    catalogue rows of the map selection when the lists keep only it (else None)."""
    ss = st.session_state
    rows = tuple(int(r) for r in rows_for(catalog, ss[K.SELECTION])) if only_selection() else None
    return (int(ss[K.MIN_RATINGS]), tuple(ss[K.GENRES]), ss[K.YEARS], ss[K.MAX_RATINGS], rows)


def any_set() -> bool:
    """Whether any filter is on (the expander opens by itself then)."""
    ss = st.session_state
    return bool(ss[K.MIN_RATINGS] or ss[K.GENRES] or ss[K.YEARS] or ss[K.MAX_RATINGS] or only_selection())


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


def _only_changed() -> None:
    """Callback: the map-selection filter toggled."""
    st.session_state[K.ONLY_SELECTION] = bool(st.session_state[K.W_ONLY_SELECTION])


def filter_controls(cat: Catalogue) -> None:
    """Minimum ratings, genres, year range, a blockbuster cap and, once movies are selected on a map, a toggle
    that keeps the lists to them; seeded from (and writing to) the view."""
    ss = st.session_state
    n_sel = len(ss[K.SELECTION] or ())
    if n_sel:
        ss[K.W_ONLY_SELECTION] = only_selection()
        st.toggle(f"Only the {n_sel:,} movie{'s' if n_sel != 1 else ''} selected on the map", key=K.W_ONLY_SELECTION,
                  on_change=_only_changed,
                  help="The lists show only movies of the map selection (Latent space: drag a box or lasso).")
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
    st.caption("Filtered lists refill to 20 from further down the ranking"
               + (", within the map selection." if only_selection() else "."))
