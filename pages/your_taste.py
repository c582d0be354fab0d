"""Your taste: rate a handful of movies and get blended recommendations with reasons, no retraining."""

from __future__ import annotations

import streamlit as st

from ui import cached, state, widgets
from ui.state import K, format_alpha

state.require_router()
ex = cached.current_explorer()
key = cached.artifact_key(ex)
ss = st.session_state
alpha = float(ss[K.ALPHA])

widgets.page_header(
    "Your taste",
    "Rate a few movies you know; the blended embeddings suggest what to watch next, and say why.",
)

left, right = st.columns([2, 3], gap="large")
with left:
    st.subheader("Rate movies")
    widgets.taste_search(ex)
    st.markdown("**Or rate some popular ones**")
    widgets.taste_grid(ex, cached.popular_rows(key, ex)[:10])
    rated = widgets.taste_ratings(ex)
    if rated:
        if st.button("Clear my ratings", key="btn_taste_clear", icon="🗑️"):
            widgets.clear_taste()
            st.rerun()

with right:
    st.subheader(f"Recommended for you · α = {format_alpha(alpha)}")
    if len(rated) < 1:
        st.info("Rate at least one movie (three or more work best) to see recommendations.")
    else:
        filt = cached.filters_from(int(ss[K.MIN_RATINGS]), tuple(ss[K.GENRES]), ss[K.YEARS],
                                   ss[K.MAX_RATINGS])
        recs = widgets.recommend(ex, rated, alpha, filt)
        if recs is not None and len(recs):
            widgets.recs_table(recs)
            st.caption("Scores blend content and collaborative similarity to the movies you rated, "
                       "weighted by your stars. The blend slider in the sidebar changes them; filters from "
                       "Explore apply here too.")
        else:
            st.warning("No recommendations left: loosen the filters on Explore or rate other movies.")
