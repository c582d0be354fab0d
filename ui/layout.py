"""Page furniture every page shares: the header, the thin-content note, error messages, panels drawn once
opened, the dataset summary."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import cached, charts, operator
from ui.engine import Explorer, RecsysError
from ui.format import error_markdown, md_text


def page_header(title: str, explanation: str) -> None:
    """Every page: a title and a one-line explanation of what it is for (plus a one-off success note)."""
    st.title(title)
    st.caption(explanation)
    flash = st.session_state.pop("flash", None)
    if flash:
        st.success(flash, icon="✅")


def show_error(exc: RecsysError, prefix: str | None = None) -> None:
    """A RecsysError as an escaped message without server paths (never a traceback)."""
    head = prefix or type(exc).__name__.replace("Error", " problem")
    st.error(f"**{md_text(head)}:** {error_markdown(exc)}", icon="⚠️")


def notice(text: object, kind: str = "info") -> None:
    """An engine notice (may quote data or paths) as an escaped info or warning box."""
    from ui.format import public_message

    box = st.warning if kind == "warning" else st.info
    box(md_text(public_message(text)), icon="⚠️" if kind == "warning" else "ℹ️")


def thin_content_note(ex: Explorer, where: str = "on the **Data & model** page") -> None:
    """The bundled default has little content signal; say so and point to the richer releases (downloads are the
    operator's, so a visitor is told who can get one)."""
    if len(ex.dataset.tags) == 0 and ex.dataset.genome is None:
        get = (f"get one {where}" if operator.is_operator()
               else f"the operator of this server can download one {where}")
        st.info(
            "This dataset has no user tags, so the **content** side only knows genres, title and year: "
            "content lists are coarse. Releases with tags (ml-latest-small, ml-20m, ml-25m, ml-32m) give "
            f"much richer content neighbours; {get}.",
            icon="ℹ️",
        )


def try_explorer() -> Explorer | None:
    """The session's explorer, or None when it cannot be opened (the router already said why)."""
    try:
        return cached.current_explorer()
    except RecsysError:
        return None


def metric_row(items: list[tuple[str, str]] | list[tuple[str, str, str | None]]) -> None:
    """Figures side by side, each as wide as its value, wrapping onto another row where the window is narrow: in
    fixed columns a long value was cut ("25,000,095" ratings, "2026-12-01 …") in a 1,024 px window."""
    with st.container(horizontal=True, horizontal_alignment="distribute", gap="medium"):
        for label, value, *rest in items:
            st.metric(label, value, help=rest[0] if rest else None, width="content")


def panel(label: str, key: str, open_first: bool = False, where: Any = st) -> Any | None:
    """An expander whose contents are drawn only while it is open, so a visitor who never opens it loads no code
    for them (a first visit's lists came 0.35 s sooner, README "Page speed"); the expander when open, else None.

    ``open_first``: open when its page is shown anew (Streamlit forgets a widget's state while its page is not
    shown); afterwards the visitor's open or closed stands."""
    if key not in st.session_state:
        st.session_state[key] = open_first
    box = where.expander(label, key=key, on_change="rerun")
    return box if box.open else None


def dataset_summary(ex: Explorer, compact: bool = False) -> None:
    """Counts plus the ratings histogram and the ratings-per-movie long tail."""
    d = cached.dataset_charts_data(cached.artifact_key(ex), ex)
    metric_row([("Movies", f"{d['n_movies']:,}"), ("Users", f"{d['n_users']:,}"),
                ("Ratings", f"{d['n_ratings']:,}"), ("Tags", f"{d['n_tags']:,}")])
    lo, hi = d["scale"]
    years = f"{d['years'][0]}–{d['years'][1]}" if d["years"] else "unknown"
    extra = f" · {d['n_genome']:,} movies with tag-genome scores" if d["n_genome"] else ""
    st.caption(f"Rating scale {lo:g}–{hi:g} · sparsity {d['sparsity']:.2%} · years {years}{extra}")
    figs = [charts.rating_histogram(d["rating_values"], d["rating_counts"]), charts.ratings_per_movie(d["per_movie"])]
    if compact:
        for i, fig in enumerate(figs):
            st.plotly_chart(fig, config=charts.PLOT_CONFIG, key=f"summary_chart_{i}_compact")
    else:
        for col, (i, fig) in zip(st.columns(2), enumerate(figs), strict=True):
            col.plotly_chart(fig, config=charts.PLOT_CONFIG, key=f"summary_chart_{i}")
