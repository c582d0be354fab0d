"""Your taste: rate a handful of movies and get blended recommendations with reasons, no retraining."""

from __future__ import annotations

import streamlit as st

from ui import cached, filters, layout, state, taste
from ui.format import format_alpha

state.require_router()
ex = cached.current_explorer()
key = cached.artifact_key(ex)
alpha = float(st.session_state[state.K.ALPHA])

layout.page_header(
    "Your taste",
    "Rate a few movies you know; the blended embeddings suggest what to watch next, and say why.",
)

left, right = st.columns([2, 3], gap="large")
with left:
    st.subheader("Rate movies")
    taste.taste_search(ex)
    st.markdown("**Or rate some popular ones**")
    taste.taste_grid(ex, cached.popular_rows(key, ex)[:10])
    rated = taste.taste_ratings(ex)
    if rated:
        if st.button("Clear my ratings", key="btn_taste_clear", icon="🗑️"):
            taste.clear_taste(ex)
            st.rerun()

with right:
    st.subheader(f"Recommended for you · α = {format_alpha(alpha)}")
    if len(rated) < 1:
        st.info("Rate at least one movie (three or more work best) to see recommendations. "
                "Ratings are kept per dataset: each dataset in the sidebar has its own.")
    else:
        recs = taste.recommend(ex, rated, alpha, cached.filters_from(*filters.current(ex.catalog)))
        if recs is not None and len(recs):
            taste.recs_table(recs)
            st.caption("Scores blend content and collaborative similarity to the movies you rated, "
                       "weighted by your stars. The blend slider in the sidebar changes them; filters from "
                       "Explore apply here too.")
        else:
            st.warning("No recommendations left: loosen the filters on Explore or rate other movies.")
