"""Many movies picked on a map (box or lasso): what they share, a filter made from them, CSV, and the panel.

The summary and the filter are pure functions of the catalogue; ``selection_panel`` draws them. The selection
itself is part of the view (``K.SELECTION``, ``?sel=`` while it fits a link), so it survives reruns and links.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ui import engine
from ui.engine import Explorer
from ui.format import genres_text, md_text, printable
from ui.state import K, only_selection, selection_fits_link

FILTER_COVER = 0.8  # "use as filter" keeps the fewest top genres that cover this share of the selection
MAX_FILTER_GENRES = 3


@dataclass(frozen=True)
class Summary:
    """What a selection shares: top genres (share), year span, ratings, and its distinctive traits."""

    n: int
    genres: tuple[tuple[str, float], ...]
    years: tuple[int, int] | None
    n_ratings: int
    median_ratings: float
    mean_rating: float | None
    traits: str = ""


def rows_for(catalog: pd.DataFrame, movie_ids: Iterable[int]) -> np.ndarray:
    """Catalogue rows of MovieLens ids (unknown ids dropped), in catalogue order."""
    ids = set(int(m) for m in movie_ids)
    return np.flatnonzero(catalog["movie_id"].isin(ids).to_numpy())


def row_of(custom: object) -> int | None:
    """The catalogue row a point carries: its customdata, or the first entry of it (a list, or the
    {"0": ...} a typed array becomes in the browser's JSON); None when it carries none."""
    if isinstance(custom, dict):
        custom = custom.get("0", custom.get(0))
    elif isinstance(custom, (list, tuple)):
        custom = custom[0] if custom else None
    try:
        return int(float(custom)) if custom is not None else None
    except (TypeError, ValueError):
        return None


def ids_from_event(catalog: pd.DataFrame, points: Sequence[dict]) -> tuple[int, ...]:
    """MovieLens ids of the points of a plotly selection event (customdata is the catalogue row)."""
    rows = [row_of(p.get("customdata")) for p in points if isinstance(p, dict)]
    ok = [r for r in dict.fromkeys(rows) if r is not None and 0 <= r < len(catalog)]
    return tuple(sorted(int(m) for m in catalog["movie_id"].to_numpy()[ok]))


def summarise(catalog: pd.DataFrame, rows: np.ndarray, traits: str = "") -> Summary:
    """Top genres by share, the year span, total and median ratings, and the rating-weighted mean rating."""
    sel = catalog.iloc[np.asarray(rows, dtype=np.int64)]
    n = len(sel)
    counts = Counter(g for gs in sel["genres"] for g in gs)
    genres = tuple((g, c / n) for g, c in sorted(counts.items(), key=lambda gc: (-gc[1], gc[0]))[:5]) if n else ()
    years = pd.to_numeric(sel["year"], errors="coerce").dropna()
    span = (int(years.min()), int(years.max())) if len(years) else None
    cnt = sel["n_ratings"].to_numpy(dtype=np.float64)
    means = sel["mean_rating"].to_numpy(dtype=np.float64)
    ok = np.isfinite(means) & (cnt > 0)
    mean = float(np.average(means[ok], weights=cnt[ok])) if ok.any() else None
    return Summary(n, genres, span, int(cnt.sum()), float(np.median(cnt)) if n else 0.0, mean, traits)


def as_filter(summary: Summary) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """The list filter a selection stands for: its fewest top genres covering 80% of it, and its year span."""
    genres: list[str] = []
    for g, share in summary.genres[:MAX_FILTER_GENRES]:
        genres.append(g)
        if sum(s for gg, s in summary.genres if gg in genres) >= FILTER_COVER or share < 0.2:
            break
    return tuple(genres), summary.years


def summary_markdown(s: Summary) -> str:
    """The shared traits as one markdown paragraph (data text escaped)."""
    parts = [f"**{s.n:,} movies**"]
    if s.genres:
        parts.append("genres " + ", ".join(f"{md_text(g)} {share:.0%}" for g, share in s.genres[:3]))
    if s.traits:
        parts.append(f"most distinctive: {md_text(s.traits, 120)}")
    if s.years:
        parts.append(f"years {s.years[0]}–{s.years[1]}")
    mean = f", mean rating {s.mean_rating:.2f}" if s.mean_rating is not None else ""
    parts.append(f"{s.n_ratings:,} ratings (median {s.median_ratings:,.0f} per movie){mean}")
    return " · ".join(parts)


def selection_frame(catalog: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The selected movies as a table (and CSV): id, title, year, genres, ratings, mean rating."""
    sel = catalog.iloc[np.asarray(rows, dtype=np.int64)]
    return pd.DataFrame({
        "movie_id": sel["movie_id"].to_numpy(),
        "title": [printable(t) for t in sel["title"]],
        "year": sel["year"].to_numpy(),
        "genres": [genres_text(g) for g in sel["genres"]],
        "n_ratings": sel["n_ratings"].to_numpy(),
        "mean_rating": sel["mean_rating"].astype(float).round(2).to_numpy(),
    }).sort_values("n_ratings", ascending=False)


@st.cache_data(show_spinner=False, max_entries=32)
def _traits(key: str, _ex: Explorer, ids: tuple[int, ...]) -> str:
    """Distinctive traits of a selection (cached per artifact and selection)."""
    return engine.trait_text(engine.group_traits(_ex, rows_for(_ex.catalog, ids), n=3), 3)


def event_parts(event: Any) -> tuple[list, list, list] | None:
    """(points, box, lasso) of a map's selection event (``st.plotly_chart``'s shape, which ``ui.map_chart``
    returns too), or None for anything else."""
    try:
        sel = event["selection"] if event is not None else {}
        return list(sel.get("points") or []), list(sel.get("box") or []), list(sel.get("lasso") or [])
    except (KeyError, TypeError, AttributeError):
        return None


def apply_event(ex: Explorer, chart_key: str, event: Any) -> bool:
    """A box or lasso selection on a map becomes the view's selection (once per gesture); True if it did."""
    ss = st.session_state
    parts = event_parts(event)
    if parts is None:
        return False
    points, box, lasso = parts
    if not (box or lasso):
        return False
    sig = (str(box), str(lasso), len(points))
    done = ss[K.LAST_MAP_PICK]
    if done.get(f"{chart_key}:area") == sig:
        return False
    done[f"{chart_key}:area"] = sig
    ss[K.SELECTION] = ids_from_event(ex.catalog, points)
    return True


def stale_area(ex: Explorer, event: Any) -> bool:
    """A box or lasso still drawn on a map whose movies are no longer the view's selection (cleared, or replaced
    from another map or a link): the map should drop it rather than show a selection that is not the one in use."""
    parts = event_parts(event)
    if parts is None:
        return False
    points, box, lasso = parts
    return bool(box or lasso) and ids_from_event(ex.catalog, points) != tuple(st.session_state.get(K.SELECTION) or ())


def _use_as_filter(on: bool) -> None:
    """Callback: the lists keep only the selected movies (on), or every movie again (off)."""
    st.session_state[K.ONLY_SELECTION] = on


def _use_traits_as_filter(genres: tuple[str, ...], years: tuple[int, int] | None) -> None:
    """Callback: the selection's genres and years become the list filters (the widgets re-seed from them)."""
    ss = st.session_state
    ss[K.GENRES] = genres
    ss[K.YEARS] = years


def _clear() -> None:
    """Callback: drop the selection (and the filter made from it)."""
    st.session_state[K.SELECTION] = ()
    st.session_state[K.ONLY_SELECTION] = False


def selection_panel(ex: Explorer, key: str) -> None:
    """The panel a map selection opens: the movies, what they share, use-as-filter, CSV, clear."""
    ids = tuple(st.session_state.get(K.SELECTION) or ())
    if not ids:
        return
    rows = rows_for(ex.catalog, ids)
    if len(rows) == 0:
        return
    summary = summarise(ex.catalog, rows, _traits(key, ex, ids))
    genres, years = as_filter(summary)
    with st.container(border=True, key="sel_panel"):
        st.markdown(f"#### Selected on the map\n{summary_markdown(summary)}")
        table = selection_frame(ex.catalog, rows)
        st.dataframe(table, hide_index=True, height=min(36 + 35 * len(table), 260), key="tbl_selection",
                     column_config={"movie_id": st.column_config.NumberColumn("MovieLens id", format="%d"),
                                    "title": st.column_config.TextColumn("Title", width="large"),
                                    "year": st.column_config.NumberColumn("Year", format="%d"),
                                    "genres": st.column_config.TextColumn("Genres"),
                                    "n_ratings": st.column_config.NumberColumn("Ratings", format="%d"),
                                    "mean_rating": st.column_config.NumberColumn("Mean", format="%.2f")})
        buttons = st.container(horizontal=True)  # side by side where they fit, wrapped where not (never cut)
        what = " or ".join(md_text(g) for g in genres) or "any genre"
        when = f", {years[0]}–{years[1]}" if years else ""
        only = only_selection()
        n = f"{len(rows):,} movie{'s' if len(rows) != 1 else ''}"
        if only:
            buttons.button("Stop filtering the lists", key="btn_sel_filter", icon="🧪", on_click=_use_as_filter,
                           args=(False,), help="The lists show every movie again; the selection stays.")
        else:
            buttons.button("Use as filter for the lists", key="btn_sel_filter", icon="🧪", type="primary",
                           on_click=_use_as_filter, args=(True,),
                           help=f"Every list (here, on Explore and on Your taste) shows only these {n}.")
        buttons.button("Filter by their genres and years", key="btn_sel_traits", on_click=_use_traits_as_filter,
                       args=(genres, years), help=f"Lists keep movies like these: {what}{when}.")
        buttons.download_button("Download the selection (CSV)", table.to_csv(index=False).encode("utf-8"),
                                file_name=f"map-selection-{len(table)}-movies.csv", mime="text/csv", icon="⬇️",
                                key="dl_selection")
        buttons.button("Clear", key="btn_sel_clear", on_click=_clear)
        share = ("The address bar holds this selection: copy it to share." if selection_fits_link(ids) else
                 "Too many movies to spell out in a link: the address bar holds a reference to this selection, "
                 "which the server keeps for whoever opens it; copy it to share.")
        kept = f"The lists show only these {n}." if only else f"As a filter: only these {n}, or {what}{when}."
        st.caption(f"{kept} {share}")
