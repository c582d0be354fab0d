"""Latent space: UMAP maps of the content, collaborative and blended embeddings; click a film to select it."""

from __future__ import annotations

import streamlit as st

from ui import cached, engine, filters, jobs, layout, maps, picker, state
from ui.charts import PLOT_CONFIG
from ui.format import format_alpha, map_alpha_note, md_text
from ui.state import K

state.require_router()
ex = cached.current_explorer()
key = cached.artifact_key(ex)
ss = st.session_state

layout.page_header(
    "Latent space",
    "Each dot is a movie placed by UMAP; near dots have similar embeddings. Click a dot to select that movie.",
)
row = picker.movie_picker(ex)
alpha = float(ss[K.ALPHA])
map_a = cached.map_alpha(ex, alpha)

colour = st.segmented_control(
    "Colour by", list(maps.COLOUR_MODES), default="Main genre", key="w_map_colour",
    help="Agreement = how many of a movie's content and collaborative top-20 coincide.",
) or "Main genre"

filt = filters.current()
res = cached.similar_lists(key, ex, row, alpha, filt)
overlap = cached.agreement_frame(key, ex).set_index("movie")["overlap"] if colour == "Agreement" else None


def space_map(space: str, title: str, list_name: str, height: int, legend: bool = True) -> None:
    """One map with the selected movie and its top-20 in that space highlighted; clicks select.

    A map not stored yet is computed by a server job (once, however many visitors wait for it)."""
    a = map_a if space == "hybrid" else 0.5
    if not cached.map_cached(ex, space, a):
        ex.refresh()  # another process or job may have stored it meanwhile
    if not cached.map_cached(ex, space, a):
        job = jobs.map_job(ex, ss[K.DATASET], ss[K.CONFIG].get(ss[K.DATASET], cached.DEFAULT_CONFIG_JSON), space, a)
        if job.active:
            st.markdown(f"**{md_text(title, 80)}**")
            jobs.watch([job], f"Drawing the {space} map (UMAP, first time only)", f"map_{space}")
            return
        if not cached.map_cached(ex, space, a):
            st.error(" ".join(jobs.failures([job])) or "This map could not be computed.", icon="⚠️")
            return
    df = cached.projection_frame(key, ex, space, a)
    if overlap is not None:
        df = df.assign(overlap=overlap.reindex(df["movie"]).to_numpy())
    neighbours = [int(m) for m in res[list_name]["movie"]]
    fig = maps.map_figure(df, colour, title, row, neighbours, height=height, legend=legend)
    event = st.plotly_chart(fig, config=PLOT_CONFIG, key=f"map_{space}", on_select="rerun",
                            selection_mode="points")
    maps.apply_map_click(ex, f"map_{space}", event)
    missing = len(ex.catalog) - len(df)
    if missing:
        st.caption(f"{missing:,} movies have no {space} embedding and are not drawn.")


left, right = st.columns(2, gap="medium")
with left:
    space_map("content", "Content space (what it is)", "content", 440, legend=False)
with right:
    space_map("collab", "Collaborative space (who likes it)", "collab", 440, legend=False)
st.caption("The two maps are aligned, so a film sits in comparable places in both. ★ = selected movie, "
           "rings = its top-20 in that space (the first five labelled). Colours: see the legend of the blended map.")

shown_as = f"α = {format_alpha(map_a)}" + ("" if round(map_a, 2) == round(alpha, 2)
                                            else f" (nearest stored step to your α = {format_alpha(alpha)})")
config_json = ss[K.CONFIG].get(ss[K.DATASET], cached.DEFAULT_CONFIG_JSON)
if cached.map_cached(ex, "hybrid", map_a) or jobs.map_pending(ex, ss[K.DATASET], config_json, "hybrid", map_a) \
        or st.button(
    f"Compute the blended map at {shown_as}", key="btn_blend_map", icon="🗺️",
    help="A one-off UMAP run (seconds to a minute); afterwards this map opens instantly for everyone.",
):
    space_map("hybrid", f"Blended space at α = {format_alpha(map_a)}", "hybrid", 560)
    st.caption(map_alpha_note(alpha, map_a, engine.map_step(ex)))
else:
    st.info(f"The blended map at {shown_as} has not been computed yet. Moving the slider never "
            "starts a UMAP run by itself; press the button to compute this one once.")

st.subheader("Agreement: where “what it is” and “who likes it” disagree",
             help="Overlap of each movie's content and collaborative top-20 lists (0 to 20).")
agree = cached.agreement_frame(key, ex)
min_r = st.slider("Only movies with at least this many ratings", 0, 200, 20, step=5, key="w_agree_min")
shown = agree[agree["n_ratings"] >= min_r].sort_values(["overlap", "n_ratings"], ascending=[True, False])
st.dataframe(
    shown.drop(columns=["movie"]), hide_index=True, height=320, key="tbl_agreement",
    column_config={
        "movie_id": st.column_config.NumberColumn("MovieLens id", format="%d"),
        "title": st.column_config.TextColumn("Title", width="large"),
        "genres": st.column_config.TextColumn("Genres"),
        "overlap": st.column_config.ProgressColumn("Top-20 overlap", min_value=0, max_value=20, format="%d"),
        "n_ratings": st.column_config.NumberColumn("Ratings", format="%d"),
        "mean_rating": st.column_config.NumberColumn("Mean", format="%.2f"),
    },
)
st.caption(f"{len(shown):,} movies, least agreement first; click a column header to sort.")
