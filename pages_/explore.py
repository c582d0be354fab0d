"""Explore (landing page): pick a movie, see its content, collaborative and blended top-20 side by side."""

from __future__ import annotations

import streamlit as st

from ui import cached, filters, layout, lists, picker, state
from ui.format import blend_scatter_html, format_alpha, md_text, slug
from ui.state import LOW_RATINGS, K

state.require_router()
ex = cached.current_explorer()
key = cached.artifact_key(ex)
cat = cached.catalogue(key, ex)
ss = st.session_state

layout.page_header(
    "Explore similar movies",
    "Pick a movie: what it *is* (content), who *likes* it (collaborative), and the blend of the two.",
)
layout.thin_content_note(ex)
row = picker.movie_picker(ex)
picker.movie_facts(ex, row)
alpha = float(ss[K.ALPHA])

filters_box = layout.panel("Filters", K.W_FILTERS_OPEN, open_first=filters.any_set())  # open on a link's filter
if filters_box is not None:
    with filters_box:
        filters.filter_controls(cat)
filt = filters.current(ex.catalog)

res = cached.similar_lists(key, ex, row, alpha, filt)
for note in res["notes"]:
    layout.notice(note)
if int(ex.catalog.at[row, "n_ratings"]) < LOW_RATINGS and not res["notes"]:
    st.info(f"Only {int(ex.catalog.at[row, 'n_ratings'])} people rated this movie, so its collaborative "
            "list rests on little evidence.")

named = {name: res[name] for name in ("content", "collab", "hybrid")}
members = {name: set(int(m) for m in df["movie"]) for name, df in named.items()}
moves = lists.hybrid_moves(row, alpha, filt, [int(m) for m in named["hybrid"]["movie"]])

cols = st.columns(3, gap="small")
for col, name in zip(cols, ("content", "collab", "hybrid"), strict=True):
    with col:
        title = lists.LIST_NAMES[name] + (f" · α = {format_alpha(alpha)}" if name == "hybrid" else "")
        st.subheader(title, help=lists.LIST_HELP[name])
        removed = res["removed"].get(name, 0)
        others = {o: s for o, s in members.items() if o != name}
        df = named[name]
        if len(df) == 0:
            st.warning("Nothing left after the filters; loosen them to see this list.")
        else:
            with st.container(key=f"list_{name}"):
                lists.list_table(lists.table_frame(df, name, others, moves if name == "hybrid" else None), name)
        st.caption(("◆ = in both the content and the collaborative top-20"
                    + (f" · {removed} removed by the filters" if removed else "")))

left, right = st.columns([3, 2])
with left:
    if len(named["hybrid"]):
        with st.container(key="blend_scatter"):
            st.html(blend_scatter_html(named["hybrid"], alpha))  # titles entity-escaped (ui.format.html_text)
        st.caption("Brighter = higher blended score; hover a dot for the title.")
with right:
    st.markdown("**Share or keep this view**")
    st.caption("The address bar holds this exact view (movie, blend, filters, dataset): copy it to share.")
    label = ex.catalog.at[row, "label"]
    st.download_button(
        "Download the three lists (CSV)", lists.lists_csv(named),
        file_name=f"similar-to-{slug(label)}-alpha-{format_alpha(alpha)}.csv",
        mime="text/csv", icon="⬇️", key="dl_csv", wrap=True,
    )
    about = layout.panel(f"About this dataset ({md_text(ss[K.DATASET], 40)})", K.W_ABOUT_OPEN)
    if about is not None:
        with about:
            layout.dataset_summary(ex, compact=True)
