"""The dashboard's router (st.navigation), the shared sidebar, and the error boundary; ``app.py`` runs ``main``.

Every page shares the dataset choice, the blend slider and the saved-views tour from here, and any
RecsysError a page raises becomes a message that says what to do, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from ui import cached, code_version, engine, jobs, layout, operator, picker, state
from ui.engine import RecsysError
from ui.format import alpha_label, alpha_options, md_text, public_message
from ui.state import K

_log = logging.getLogger("recsys_app")

# The pages live in pages_/, not pages/: with a pages/ folder Streamlit's legacy discovery handles each server
# process's first run before st.navigation exists, and answers any address other than "/" with a "Page not
# found" dialog (the first visitor after a restart who opens a shared link). The default page is served at "/"
# and Streamlit does not answer its url_path, so Explore's own address "/similar" is a hidden second entry, and
# so is "/explore", the address a person types from the menu's name.
EXPLORE_PATH = "similar"
EXPLORE_ALIAS = "explore"


def site() -> tuple[list[Any], dict[str, Any]]:
    """The menu's pages then the hidden aliases, and each page by its address ("" is the default page). Built in
    each run: an st.Page needs a running script, and the server also imports this file outside one."""
    pages = [
        st.Page("pages_/explore.py", title="Explore", icon="🔎", default=True, url_path="explore-start"),
        st.Page("pages_/latent_space.py", title="Latent space", icon="🗺️", url_path="latent-space"),
        st.Page("pages_/tune.py", title="Tune the blend", icon="🎚️", url_path="tune-blend"),
        st.Page("pages_/your_taste.py", title="Your taste", icon="⭐", url_path="your-taste"),
        st.Page("pages_/data_model.py", title="Data & model", icon="🧠", url_path="data-model"),
        st.Page("pages_/explore.py", title="Explore", icon="🔎", url_path=EXPLORE_PATH, visibility="hidden"),
        st.Page("pages_/explore.py", title="Explore", icon="🔎", url_path=EXPLORE_ALIAS, visibility="hidden"),
    ]
    return pages, {p.url_path: p for p in pages}


def _on_dataset_change() -> None:
    """A different dataset: its own movie and filters, same page."""
    state.reset_for_dataset(st.session_state[K.W_DATASET])


def _on_alpha_change() -> None:
    """The slider is the blend for every page (and the URL)."""
    st.session_state[K.ALPHA] = float(st.session_state[K.W_ALPHA])
    st.session_state[K.ALPHA_AUTO] = None  # the visitor's own choice from now on


def sidebar_dataset(choices: list[str]) -> str:
    """Dataset choice: only what the registry/data dir has, never a free-form path."""
    ss = st.session_state
    if ss[K.DATASET] not in choices:
        ss[K.DATASET] = cached.default_dataset(choices)
    ss[K.W_DATASET] = ss[K.DATASET]
    st.sidebar.selectbox(
        "Dataset", choices, key=K.W_DATASET, on_change=_on_dataset_change,
        help="Datasets on this machine. Download more MovieLens releases on the Data & model page.",
    )
    return ss[K.DATASET]


def sidebar_alpha(default_alpha: float, measuring: bool = False) -> float:
    """The blend slider, labelled at its ends by the signal that end means (``measuring``: the evaluation that
    picks the model's default α has not finished yet, so the default shown is the settings' own)."""
    ss = st.session_state
    default = round(float(default_alpha), 2)
    if ss[K.ALPHA] is None or (ss[K.ALPHA_AUTO] is not None and ss[K.ALPHA] == ss[K.ALPHA_AUTO]):
        ss[K.ALPHA] = ss[K.ALPHA_AUTO] = default  # and it follows the default until the visitor moves it
    ss[K.W_ALPHA] = ss[K.ALPHA]
    st.sidebar.select_slider(
        "Blend α: collaborative ↔ content",
        options=alpha_options(ss[K.ALPHA]),
        key=K.W_ALPHA,
        format_func=alpha_label,
        on_change=_on_alpha_change,
        help="hybrid = α·content + (1−α)·collaborative. 0 = only who-likes-it, 1 = only what-it-is.",
    )
    st.sidebar.caption(f"Default for this model: α = {default_alpha:.2f}"
                       + (" for now; the evaluation running on the server picks the model's own" if measuring else ""))
    return float(ss[K.ALPHA])


def sidebar_saved_views(page_path: str, by_path: dict[str, Any]) -> None:
    """Saved views for demos: name the current view, step through them as a tour, share each link."""
    ss = st.session_state
    panel = layout.panel("Saved views · tour", K.W_SAVED_VIEWS_OPEN, open_first=bool(ss[K.SAVED_VIEWS]),
                         where=st.sidebar)
    if panel is None:
        return
    with panel:
        name = st.text_input("Name this view", key=K.W_VIEW_NAME, max_chars=60,
                             placeholder="e.g. LOTR, content only")
        if st.button("Save view", width="stretch", key="btn_save_view"):
            views: list[state.SavedView] = list(ss[K.SAVED_VIEWS])
            label = (name or "").strip() or f"View {len(views) + 1}"
            views.append(state.SavedView(label, page_path, state.current_view()))
            ss[K.SAVED_VIEWS] = views
            ss[K.TOUR_POS] = len(views) - 1
            st.toast(f"Saved “{md_text(label, 60)}”")
        views = ss[K.SAVED_VIEWS]
        if not views:
            st.caption("Save a few views, then step through them here while you present.")
            return
        pos = min(ss[K.TOUR_POS], len(views) - 1)
        prev_col, label_col, next_col = st.columns([1, 3, 1])
        step = 0
        if prev_col.button("◀", key="btn_tour_prev", help="Previous saved view"):
            step = -1
        if next_col.button("▶", key="btn_tour_next", help="Next saved view"):
            step = 1
        label_col.markdown(f"**{pos + 1}/{len(views)}** {md_text(views[pos].name, 40)}")
        for v in views:
            st.markdown(f"- [{md_text(v.name, 60)}]({v.view.link(v.page)})")
        if step:
            pos = (pos + step) % len(views)
            ss[K.TOUR_POS] = pos
            target = views[pos]
            ss[K.PENDING_VIEW] = target.view  # applied before any widget of the next run
            st.switch_page(by_path.get(target.page, by_path[""]))


def show_error(exc: RecsysError) -> None:
    """A RecsysError as a message with the way out (never a traceback, never a server path)."""
    layout.show_error(exc)
    st.caption("Pick another dataset in the sidebar, or retrain / clear the cache on the Data & model page.")


def open_or_build(dataset: str, choices: list[str]) -> object | None:
    """The cached explorer, or None while the server builds it (its progress shown here, live).

    The build is a job the server owns: leaving, reloading or clicking never stops or restarts it, and
    however many visitors arrive, it runs once. The default dataset builds for anyone on first start;
    any other dataset or setting without a model is the operator's to build.
    """
    ss = st.session_state
    config_json = ss[K.CONFIG].get(dataset, cached.DEFAULT_CONFIG_JSON)
    try:
        return cached.open_explorer(dataset, config_json)
    except RecsysError as exc:
        if not cached.artifact_missing(exc):
            raise
    job = jobs.runner().get(jobs.build_key(dataset, config_json))
    if job is None and config_json != cached.DEFAULT_CONFIG_JSON:
        ss[K.CONFIG].pop(dataset, None)
        st.warning("The chosen training settings have no trained model any more; back to the defaults.")
        return open_or_build(dataset, choices)
    if job is None:
        if dataset != cached.default_dataset(choices) and not operator.is_operator():
            st.info(f"No model has been built for **{md_text(dataset, 60)}** yet; the operator of this server "
                    "can build it on the Data & model page. Pick another dataset in the sidebar meanwhile.")
            return None
        job = jobs.build(dataset, cached.dataset_source(dataset), config_json)
    if job.status == engine.JOB_DONE:
        return cached.open_explorer(dataset, config_json)
    if not job.active:
        for why in jobs.failures([job]):
            st.error(md_text(public_message(why, 300)), icon="⚠️")
        if operator.is_operator() and st.button("Try the build again", key="btn_retry_build", icon="🔁"):
            jobs.build(dataset, cached.dataset_source(dataset), config_json, retry=True)
            st.rerun()
        return None
    st.info(f"First start on **{md_text(dataset, 60)}**: the server is building what the lists need "
            "(content codes and the collaborative space); the metrics follow in the background. "
            "Later starts open it from the cache instantly.")
    jobs.watch([job], f"Building {dataset}", "build")
    return None


def main() -> None:
    """Route, share the sidebar and state across pages, and keep every error a message."""
    st.set_page_config(page_title="Similar-movies explorer", page_icon="🎬", layout="wide",
                       initial_sidebar_state="auto")  # open on desktop, tucked away on a phone
    state.init_session()
    operator.recognise()
    pending = st.session_state.pop(K.PENDING_VIEW, None)
    if pending is not None:
        state.apply_view(pending)
    pages, by_path = site()
    pg = st.navigation(pages)
    st.sidebar.markdown("### 🎬 Similar-movies explorer")
    if operator.is_operator() and code_version.changed_since_start():
        st.sidebar.warning(code_version.RESTART, icon="🔄")
    try:
        choices = cached.dataset_choices()
        state.read_url_once(choices, cached.default_dataset(choices))
        dataset = sidebar_dataset(choices)
        try:
            ex = open_or_build(dataset, choices)
            if ex is None:
                if pg.url_path == "data-model":
                    with state.routed():
                        pg.run()  # the data page works without a model: download, build, clear the cache
                return
        except RecsysError as exc:
            show_error(exc)
            if pg.url_path != "data-model":
                st.page_link(by_path["data-model"], label="Open Data & model to fix it", icon="🧠")
                return
            with state.routed():
                pg.run()  # the data page works without a model: download, retrain, clear the cache
            return
        jobs.pending(ex)  # the rating model and the evaluation follow the lists, as the server's jobs
        jobs.pending_maps(ex)  # then the two base maps, so that Latent space opens drawn
        for notice in ex.notices:  # device fallback, smaller-batch retries, a rebuilt cache, no caching
            layout.notice(notice)
        state.apply_pending_url(cached.catalogue(cached.artifact_key(ex), ex))
        sidebar_alpha(ex.default_alpha, measuring="evaluate" in ex.missing())
        picker.current_row(ex)  # fills the default movie so the URL and the notices see it
        view = state.current_view()
        for notice in state.notices_for(view):
            st.warning(notice, icon="🔗")
        state.write_url(view)
        sidebar_saved_views(pg.url_path, by_path)
        with state.routed():
            pg.run()
        state.write_url(state.current_view())
    except RecsysError as exc:
        show_error(exc)
    except Exception as exc:  # the boundary: log the traceback for us, show a message to people
        _log.exception("Unexpected error on page %s", getattr(pg, "title", "?"))
        if code_version.changed_since_start():  # new pages calling old modules: a reload cannot mend it
            _log.warning(code_version.RESTART)
            st.error(f"Something went wrong ({type(exc).__name__}). {code_version.RESTART}", icon="🔄")
            return
        st.error(
            f"Something went wrong ({type(exc).__name__}: {md_text(public_message(exc, 200))}). "
            "Try reloading the page; if it persists, clear the cache on the Data & model page.",
            icon="⚠️",
        )

