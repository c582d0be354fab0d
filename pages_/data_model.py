"""Data & model: the dataset and its charts, more MovieLens releases, training settings, curves, metrics, cache."""

from __future__ import annotations

import streamlit as st

from ui import cached, jobs, layout, metrics, operator, settings, state
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
    layout.thin_content_note(ex, "under **Datasets** below")
    layout.dataset_summary(ex)

st.subheader("Datasets", help="The bundled default works offline; GroupLens releases download on request.")
settings.release_table()
if operator.is_operator():
    settings.download_release()
else:
    operator.explain("Downloading releases")

st.subheader("Model")
if ex is not None:
    settings.artifact_details(ex)
    st.caption(f"Similar-movie search: {md_text(ex.search_backend, 60)} "
               f"(faiss above {ex.config.ann.threshold:,} movies)")
    cold = getattr(ex, "cold_start", None) or {}
    st.caption(f"Thin movies lean on content: k = {float(cold.get('k', 0)):g} (rated share n / (n + k), chosen on a "
               "validation split of the training ratings)" if cold.get("enabled") and cold.get("k")
               else "Thin movies lean on content: off (collaborative vectors from ratings alone).")
    cs = ex.config.collab.cold_start
    st.caption(metrics.thin_places_line(ex.metrics, cs.thin_places, cs.thin_content_weight))
    with st.expander("Training curves", expanded=True):
        settings.loss_curves(ex)
    with st.expander("Quality next to the baselines", expanded=False):
        view = metrics.metrics_view(ex.metrics)
        measuring = jobs.pending(ex)
        if view is None and measuring:
            st.info("Measuring… the evaluation runs on the server and its tables appear here when it is done.")
            jobs.watch(measuring, "Measuring the lists", "data")
        elif view is None:
            st.info("No evaluation stored with this model. " + " ".join(jobs.failures(measuring)))
        else:
            metrics.metric_tables(view)

st.subheader("Server jobs", help="Builds, evaluations and maps run here one at a time; the rest wait in line.")
settings.job_queue(operator.is_operator())

if operator.is_operator():
    with st.form("train_form", border=True):
        st.markdown("**Train with these settings**")
        settings_json = settings.training_settings(ss[K.CONFIG].get(ss[K.DATASET], cached.DEFAULT_CONFIG_JSON))
        submitted = st.form_submit_button("Train", type="primary", icon="🏋️")
    if submitted:
        settings.train_and_use(ss[K.DATASET], settings_json)
    if ex is None and jobs.runner().get(jobs.build_key(ss[K.DATASET], cached.DEFAULT_CONFIG_JSON)) is None:
        if st.button(f"Build the default model for {md_text(ss[K.DATASET], 60)}", key="btn_build_default",
                     icon="🏗️"):
            settings.train_and_use(ss[K.DATASET], cached.DEFAULT_CONFIG_JSON)
else:
    operator.explain("Training with other settings")

st.subheader("Cache")
if operator.is_operator():
    settings.cache_controls()
else:
    operator.explain("Clearing the caches")
