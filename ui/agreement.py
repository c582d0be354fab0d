"""Latent space's agreement section: the movies whose content and collaborative top-20s share least.

The few that disagree most are a plain HTML table (what a reader looks at first); the whole catalogue, sortable,
is a data grid drawn only while its panel is open: a grid on the page made every page load of Latent space wait
for the grid's code (its three maps drawn 7-11% later, `benchmarks/bench_ui_ab.py`, README "Page speed").
"""

from __future__ import annotations

import streamlit as st

from ui import cached, layout, tables
from ui.engine import Explorer
from ui.state import K

FIRST = 10  # rows shown without opening the panel
COLUMNS = {
    "title": tables.Column("Title", tables.TITLE),
    "genres": tables.GENRES,
    "overlap": tables.Column("Overlap", tables.NUM, "{:d} / 20", "Movies in both its content and its collaborative "
                             "top-20 (0 to 20)"),
    "n_ratings": tables.RATINGS,
    "mean_rating": tables.MEAN,
}


def agreement_section(ex: Explorer, key: str) -> None:
    """The section under the maps: a ratings floor, the ten movies that disagree most, the rest in a panel."""
    st.subheader("Agreement: where “what it is” and “who likes it” disagree",
                 help="Overlap of each movie's content and collaborative top-20 lists (0 to 20).")
    agree = cached.agreement_frame(key, ex)
    min_r = st.slider("Only movies with at least this many ratings", 0, 200, 20, step=5, key="w_agree_min")
    shown = agree[agree["n_ratings"] >= min_r]  # the cached frame is in order: least agreement first
    if shown.empty:
        st.info("No movie has that many ratings; lower the floor.")
        return
    first = shown.head(FIRST)
    tables.show(first[list(COLUMNS)], COLUMNS, f"The {len(first)} movies whose two top-20 lists agree least")
    box = layout.panel(f"All {len(shown):,} movies, sortable", K.W_AGREEMENT_OPEN)
    if box is not None:
        with box:
            st.dataframe(
                shown.drop(columns=["movie"]), hide_index=True, height=320, key="tbl_agreement",
                column_config={
                    "movie_id": st.column_config.NumberColumn("MovieLens id", format="%d"),
                    "title": st.column_config.TextColumn("Title", width="large"),
                    "genres": st.column_config.TextColumn("Genres"),
                    "overlap": st.column_config.ProgressColumn("Top-20 overlap", min_value=0, max_value=20,
                                                               format="%d"),
                    "n_ratings": st.column_config.NumberColumn("Ratings", format="%d"),
                    "mean_rating": st.column_config.NumberColumn("Mean", format="%.2f"),
                },
            )
            st.caption("Click a column header to sort.")
    st.caption(f"{len(shown):,} movies with at least {min_r} ratings; the {len(first)} with the least agreement "
               "above, the most rated first among equals.")
