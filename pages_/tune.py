"""Tune the blend: the accuracy/coherence trade-off across alpha, two named picks, and how one movie's list moves."""

from __future__ import annotations

import streamlit as st

from ui import cached, charts, frontier, jobs, layout, metrics, operator, picker, settings, state
from ui.format import format_alpha, metrics_note
from ui.state import K

state.require_router()
ex = cached.current_explorer()
key = cached.artifact_key(ex)
ss = st.session_state
alpha = float(ss[K.ALPHA])
default, chosen = ex.default_alpha, ex.default_alpha_chosen  # each reads the settings file: once per run

layout.page_header(
    "Tune the blend",
    "What each α buys and costs, measured on held-out ratings — accuracy against what people see in the lists.",
)

view = metrics.metrics_view(ex.metrics)
picks = frontier.picks_from_view(view) if view is not None else None
measuring = jobs.pending(ex)
if view is None and measuring:
    st.info("Measuring the lists on held-out ratings… the charts appear here when the server's evaluation "
            "job finishes (the lists already work on every page).")
    jobs.watch(measuring, "Measuring the blend", "tune")
elif view is None:
    st.info("This model has no evaluation: the server's evaluation job did not finish. "
            + " ".join(jobs.failures(measuring)))
else:
    if picks is not None:
        st.plotly_chart(frontier.frontier_figure(view, picks, alpha), config=charts.PLOT_CONFIG, key="frontier")
        st.markdown(f"**Most accurate: α = {format_alpha(picks.most_accurate)}** · "
                    f"**Balanced: α = {format_alpha(picks.balanced)}** — {frontier.RULE}")
        st.caption(frontier.WHY_RECALL)
    with st.expander("Every metric across α", expanded=picks is None):
        st.markdown(metrics_note(view))
        metrics.metric_charts(view, alpha, default)
    with st.expander("Numbers behind the charts"):
        metrics.metric_tables(view)

st.divider()
st.subheader("Keep a blend")
left, right = st.columns([3, 2])
with left:
    st.markdown(
        f"The sidebar slider is at **α = {format_alpha(alpha)}**; "
        + frontier.default_alpha_text(view, default, chosen, ex.config.eval.best_alpha_tolerance)
        + " The default is what new visitors (and links without an α) start from."
    )
with right:
    for name, a in (picks.named() if picks is not None else {}).items():
        buttons = st.container(horizontal=True)  # side by side where they fit, else one under the other (never cut)
        if round(a, 2) != round(alpha, 2) and buttons.button(
                f"Try {name} (α = {format_alpha(a)})", key=f"btn_try_{name.replace(' ', '_')}", icon="🎯"):
            settings.set_alpha(a)
            st.rerun()
        if operator.is_operator() and round(a, 2) != round(default, 2) and buttons.button(
                f"Make {name} the default", key=f"btn_default_{name.replace(' ', '_')}",
                help=f"α = {format_alpha(a)} becomes this model's default for everyone."):
            settings.make_default_alpha(ex, a)
            st.rerun()
    if not operator.is_operator():
        operator.explain("Setting the default α for everyone")
    elif st.button(f"Make α = {format_alpha(alpha)} the default", key="btn_set_default", type="primary",
                   icon="📌", help="Any α: saved with this model's artifact, and kept in the page address."):
        settings.make_default_alpha(ex, alpha)
    own = ex.metrics.get("best_alpha")
    if operator.is_operator() and chosen and own is not None and st.button(
            f"Back to the evaluation's default (α = {format_alpha(float(own))})", key="btn_restore_default",
            icon="↩️", help="Forget the chosen default; the model's own serves new visitors again."):
        settings.make_default_alpha(ex, None)
        st.rerun()
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
