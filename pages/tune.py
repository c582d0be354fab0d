"""Tune the blend: list quality against alpha on held-out ratings, the best alpha, and how one movie's list moves."""

from __future__ import annotations

import streamlit as st

from ui import cached, charts, jobs, layout, metrics, operator, picker, settings, state
from ui.format import best_alpha_text, format_alpha
from ui.state import K

state.require_router()
ex = cached.current_explorer()
key = cached.artifact_key(ex)
ss = st.session_state
alpha = float(ss[K.ALPHA])

layout.page_header(
    "Tune the blend",
    "How good the blended lists are at each α, measured on held-out ratings — then keep the α that works.",
)

view = metrics.metrics_view(ex.metrics)
measuring = jobs.pending(ex)
if view is None and measuring:
    st.info("Measuring the lists on held-out ratings… the charts appear here when the server's evaluation "
            "job finishes (the lists already work on every page).")
    jobs.watch(measuring, "Measuring the blend", "tune")
elif view is None:
    st.info("This model has no evaluation: the server's evaluation job did not finish. "
            + " ".join(jobs.failures(measuring)))
else:
    st.markdown(best_alpha_text(view))
    metrics.metric_charts(view, alpha)
    with st.expander("Numbers behind the charts"):
        metrics.metric_tables(view)

st.divider()
st.subheader("Keep a blend")
left, right = st.columns([3, 2])
with left:
    st.markdown(
        f"The sidebar slider is at **α = {format_alpha(alpha)}**; this model's default is "
        f"**α = {format_alpha(ex.default_alpha)}**. The default is what new visitors (and links without "
        "an α) start from."
    )
with right:
    if view is not None and round(view["best_alpha"], 2) != round(alpha, 2):
        if st.button(f"Try the best α = {format_alpha(view['best_alpha'])}", key="btn_try_best", icon="🎯"):
            settings.set_alpha(view["best_alpha"])
            st.rerun()
    if not operator.is_operator():
        operator.explain("Setting the default α for everyone")
    elif st.button(f"Make α = {format_alpha(alpha)} the default", key="btn_set_default", type="primary",
                   icon="📌", help="Saved with this model's artifact, and kept in the page address."):
        settings.make_default_alpha(ex, alpha)
    if ss.get("default_alpha_saved") is not None:
        st.success(f"Saved: α = {format_alpha(ss['default_alpha_saved'])} is now this model's default "
                   "and is in the link.")

st.divider()
st.subheader("How one movie's blended list changes with α")
st.caption("Each row is a title that makes the blended top-20 at some α; the number is its rank. "
           "Left = collaborative only, right = content only; the orange line is the current α.")
row = picker.movie_picker(ex)
path = cached.blend_path(key, ex, row)
if path is None or len(path) == 0:
    st.info("No blended list for this movie (it lacks one of the embeddings).")
else:
    st.plotly_chart(charts.path_heatmap(path, alpha), config=charts.PLOT_CONFIG, key="blend_path")
