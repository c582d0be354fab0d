"""Data & model: the dataset and its charts, more MovieLens releases, training settings, curves, metrics, cache."""

from __future__ import annotations

import streamlit as st

from ui import cached, layout, metrics, settings, state
from ui.format import md_text
from ui.state import K

state.require_router()
ss = st.session_state
ex = layout.try_explorer()

layout.page_header(
    "Data & model",
    "What the current dataset holds, how the model was trained and how well it does — and where to get more data.",
)

if ex is not None:
    st.subheader(f"Dataset: {md_text(ss[K.DATASET], 60)}")
    layout.thin_content_note(ex)
    layout.dataset_summary(ex)

st.subheader("Datasets", help="The bundled default works offline; GroupLens releases download on request.")
settings.release_table()
settings.download_release()

st.subheader("Model")
if ex is not None:
    settings.artifact_details(ex)
    st.caption(f"Similar-movie search: {md_text(ex.search_backend, 60)} "
               f"(faiss above {ex.config.ann.threshold:,} movies)")
    with st.expander("Training curves", expanded=True):
        settings.loss_curves(ex)
    with st.expander("Quality next to the baselines", expanded=False):
        view = metrics.metrics_view(ex.metrics)
        if view is None:
            st.info("No evaluation stored with this model.")
        else:
            metrics.metric_tables(view)

with st.form("train_form", border=True):
    st.markdown("**Train with these settings**")
    settings_json = settings.training_settings(ss[K.CONFIG].get(ss[K.DATASET], cached.DEFAULT_CONFIG_JSON))
    submitted = st.form_submit_button("Train", type="primary", icon="🏋️")
if submitted:
    settings.train_and_use(ss[K.DATASET], settings_json)

st.subheader("Cache")
settings.cache_controls()
