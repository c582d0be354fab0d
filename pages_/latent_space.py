"""Latent space: UMAP maps of the content, collaborative and blended embeddings as instruments.

Select many (box, lasso) and see what they share, read the labelled regions, find a title, link a movie to its
neighbours; click a film to select it."""

from __future__ import annotations

import streamlit as st

from ui import agreement, cached, engine, filters, jobs, layout, map_chart, maps, picker, selection, state
from ui.format import format_alpha, map_alpha_note, md_text, movie_labels, printable, slug
from ui.state import K

state.require_router()
ex = cached.current_explorer()
key = cached.artifact_key(ex)
ss = st.session_state

layout.page_header(
    "Latent space",
    "Each dot is a movie placed by UMAP; near dots have similar embeddings. Drag a box (or lasso) to select many "
    "movies, click a dot to pick one, scroll to zoom. On a touch screen a finger scrolls the page: choose Box or "
    "Lasso Select in the map's toolbar to select.",
)
row = picker.movie_picker(ex)
alpha = float(ss[K.ALPHA])
map_a = ex.map_alpha(alpha)

# The colour modes need about 480 px in one row: the colour control takes three fifths of the width (one row from a
# laptop window up) and wraps its options on a phone instead of hiding the last ones in a scrolling strip.
c_colour, c_find = st.columns([3, 2], vertical_alignment="bottom")
with c_colour:
    colour = st.segmented_control(
        "Colour by", list(maps.COLOUR_MODES), default="Main genre", key="w_map_colour", wrap=True,
        help="Agreement = how many of a movie's content and collaborative top-20 coincide.",
    ) or "Main genre"
with c_find:
    find = st.text_input("Find on the map", key="w_map_find", max_chars=120, placeholder="Type a title",
                         help="Centres every map on the best-matching title and rings it.")
with st.container(horizontal=True, gap="large"):
    show_labels = st.toggle("Labels", value=True, key="w_map_labels",
                            help="Clusters of the map named by what sets them apart from the whole catalogue.")
    density = st.toggle("Density", value=False, key="w_map_density", help="Contours of where movies crowd.")
    lines = st.toggle("Links", value=False, key="w_map_lines",
                      help="Join the selected movie to its top-20 neighbours by lines.")

filt = filters.current(ex.catalog)
res = cached.similar_lists(key, ex, row, alpha, filt)
overlap = cached.agreement_frame(key, ex).set_index("movie")["overlap"] if colour == "Agreement" else None
found = None
if (find or "").strip():
    hits = picker.search(key, ex, find.strip()[:200])
    found = hits[0] if hits else None
    if found is None:
        st.caption(f"No title matches “{md_text(find, 60)}”.")
hybrid_list = res["hybrid"]
picked = map_chart.picked_in_list("tbl_map_list")
if picked in set(hybrid_list["movie"].astype(int)):
    found = picked  # a row picked in the list below
else:
    picked = None  # none, or the list has moved on (slider, filters): its old pick no longer rings anything
chosen_rows = selection.rows_for(ex.catalog, ss[K.SELECTION]).tolist()


def space_map(space: str, title: str, list_name: str, height: int, legend: bool = True,
              width_px: float = maps.HALF_WIDTH_PX) -> None:
    """One map with the selected movie and its top-20 in that space highlighted; clicks and boxes select.

    A map not stored yet is computed by a server job (once, however many visitors wait for it)."""
    a = map_a if space == "hybrid" else 0.5
    if not ex.map_stored(space, a):
        ex.refresh()  # another process or job may have stored it meanwhile
    if not ex.map_stored(space, a):
        job = jobs.map_job(ex, *cached.session_model(), space, a)
        if job.active:
            st.markdown(f"**{md_text(title, 80)}**")
            jobs.watch([job], f"Drawing the {space} map (UMAP, first time only)", f"map_{space}")
            return
        if not ex.map_stored(space, a):
            st.error(" ".join(jobs.failures([job])) or "This map could not be computed.", icon="⚠️")
            return
    prior = ss.get(f"map_{space}")  # the map's last event, as the browser left it
    if selection.apply_event(ex, f"map_{space}", prior):
        st.rerun()  # a new box or lasso: draw every map with the selection it made
    df = cached.projection_frame(key, ex, space, a)
    if overlap is not None:
        df = df.assign(overlap=overlap.reindex(df["movie"]).to_numpy())
    regions = maps.regions_for(key, ex, space, a, ex.projection(space, alpha=a)) if show_labels else ()
    neighbours = [int(m) for m in res[list_name]["movie"]]
    fig = maps.map_figure(df, colour, title, row, neighbours, height=height, legend=legend, regions=regions,
                          width_px=width_px, density=density, chosen=chosen_rows, highlight=found, lines=lines)
    png = slug((f"blended map alpha {format_alpha(a)} " if space == "hybrid" else f"{space} map ") + str(ss[K.DATASET]))
    event = map_chart.draw(fig, maps.map_config(png), key=f"map_{space}", clear=selection.stale_area(ex, prior))
    maps.apply_map_click(ex, f"map_{space}", event)
    missing = len(ex.catalog) - len(df)
    if missing:
        st.caption(f"{missing:,} movie{' has' if missing == 1 else 's have'} no {space} embedding and "
                   f"{'is' if missing == 1 else 'are'} not drawn.")


left, right = st.columns(2, gap="medium")
with left:
    space_map("content", "Content space (what it is)", "content", 460, legend=False)
with right:
    space_map("collab", "Collaborative space (who likes it)", "collab", 460, legend=False)
st.caption("The two maps are aligned, so a film sits in comparable places in both. ★ = selected movie, "
           "rings = its top-20 in that space (the first five labelled). Colours: see the legend of the blended map.")
selection.selection_panel(ex, key)

shown_as = f"α = {format_alpha(map_a)}" + ("" if round(map_a, 2) == round(alpha, 2)
                                            else f" (nearest stored step to your α = {format_alpha(alpha)})")
dataset, config_json = cached.session_model()
blend_col, list_col = st.columns([3, 1], gap="medium")
with blend_col:
    if ex.map_stored("hybrid", map_a) or jobs.map_pending(ex, dataset, config_json, "hybrid", map_a) \
            or st.button(
        f"Compute the blended map at {shown_as}", key="btn_blend_map", icon="🗺️",
        help="A one-off UMAP run (seconds to a minute); afterwards this map opens instantly for everyone.",
    ):
        space_map("hybrid", f"Blended space at α = {format_alpha(map_a)}", "hybrid", 560, width_px=maps.BLEND_WIDTH_PX)
        st.caption(map_alpha_note(alpha, map_a, engine.map_step(ex)))
    else:
        st.info(f"The blended map at {shown_as} has not been computed yet. Moving the slider never "
                "starts a UMAP run by itself; press the button to compute this one once.")
with list_col:
    st.markdown(f"**Blended top-20 · α = {format_alpha(alpha)}**"
                + (" · *only the map selection*" if state.only_selection() else ""))
    labels = [printable(t) for t in movie_labels(list(hybrid_list["title"]), list(hybrid_list["year"]))]
    map_chart.ring_list(list(zip(hybrid_list["rank"].astype(int).tolist(), labels,
                                 hybrid_list["movie"].astype(int).tolist(), strict=True)),
                        key="tbl_map_list", picked=picked)
    st.caption("Point at a title to find it on the maps; click it to ring it.")

agreement.agreement_section(ex, key)
