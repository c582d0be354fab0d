"""AppTest on every page, on the really trained bundled ml-100k: widgets change what is shown, bad links don't break."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.ui.conftest import open_panel
from tests.ui.html_lists import explore_lists, html_tables, taste_recs
from tests.ui.map_specs import figure_specs, map_elements
from ui.format import TITLE_CHARS, format_alpha, printable
from ui.state import Catalogue, View, parse_dataset, parse_view

PAGES = ["pages_/explore.py", "pages_/latent_space.py", "pages_/tune.py", "pages_/your_taste.py",
         "pages_/data_model.py"]
HEADINGS = {
    "pages_/explore.py": "Explore similar movies",
    "pages_/latent_space.py": "Latent space",
    "pages_/tune.py": "Tune the blend",
    "pages_/your_taste.py": "Your taste",
    "pages_/data_model.py": "Data & model",
}
STAR_WARS = 50  # the most-rated movie of ml-100k: the preselected one
TOY_STORY = 1


def tables(at) -> dict[str, pd.DataFrame]:
    """The three list tables of Explore, in page order: content, collaborative, blended."""
    return explore_lists(at)


def titles(df: pd.DataFrame) -> list[str]:
    """Titles without the 'also in another list' marker."""
    return [t.removeprefix("◆ ") for t in df["Title"]]


def no_errors(at) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# --- smoke: every page --------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_exception(app, page):
    at = app(page=None if page == PAGES[0] else page)
    no_errors(at)
    assert HEADINGS[page] in [t.value for t in at.title]


# --- Explore ------------------------------------------------------------------------------------


def test_explore_opens_on_a_popular_movie_with_three_full_lists(app):
    at = app()
    no_errors(at)
    assert at.query_params["movie"] == [str(STAR_WARS)] or at.query_params["movie"] == str(STAR_WARS)
    t = tables(at)
    assert set(t) == {"content", "collab", "hybrid"}
    for name, df in t.items():
        assert len(df) == 20, name
        assert "Star Wars (1977)" not in titles(df), f"{name} lists the movie itself"
    assert {"Score", "Content", "Collab", "Rank C", "Rank CF", "Move"} <= set(t["hybrid"].columns)
    assert "Cosine" in t["content"] and "Cosine" in t["collab"]
    # movies in more than one list are marked, and the rows both signals agree on are tinted
    assert any(t["hybrid"]["Also in"]) and any(t["collab"]["Also in"])
    for df in t.values():
        assert df.attrs["agree"] == [s.startswith("◆") for s in df["Title"]]
    assert any(t["hybrid"].attrs["agree"])


def test_blend_slider_changes_the_hybrid_list(app):
    at = app()
    before = titles(tables(at)["hybrid"])
    at.select_slider(key="w_alpha").set_value(0.0).run()
    no_errors(at)
    t = tables(at)
    assert titles(t["hybrid"]) == titles(t["collab"]), "alpha 0 is collaborative only"
    assert titles(t["hybrid"]) != before
    assert any(m for m in t["hybrid"]["Move"]), "arrows show what rose, fell or is new"
    at.select_slider(key="w_alpha").set_value(1.0).run()
    t = tables(at)
    assert titles(t["hybrid"])[:10] == titles(t["content"])[:10], "alpha 1 is content only (ties may swap late)"
    assert str(at.query_params["alpha"]).strip("[]'") == "1.00"


def test_typing_a_title_selects_the_movie_and_changes_the_lists(app):
    at = app()
    before = tables(at)
    at.text_input(key="w_search").input("toy stroy").run()  # typo on purpose
    no_errors(at)
    after = tables(at)
    assert at.session_state["view_movie"] == TOY_STORY
    assert titles(after["content"]) != titles(before["content"])
    assert "Toy Story (1995)" not in titles(after["collab"])
    assert at.selectbox(key="w_pick").value == at.session_state["w_pick"]


def test_picking_from_the_matches_changes_the_lists(app):
    at = app()
    at.text_input(key="w_search").input("godfather").run()
    options = at.selectbox(key="w_pick").options
    assert len(options) >= 2 and any("Godfather: Part II" in o for o in options)
    second = next(o for o in options if "Godfather: Part II" in o)
    at.selectbox(key="w_pick").select_index(options.index(second)).run()
    no_errors(at)
    assert "Godfather: Part II" in at.selectbox(key="w_pick").value_label if hasattr(
        at.selectbox(key="w_pick"), "value_label") else True
    assert "The Godfather: Part II" not in " ".join(titles(tables(at)["content"]))


def test_filters_refill_and_say_how_many_were_removed(app):
    at = open_panel(app(), "exp_filters")
    at.number_input(key="w_min_ratings").set_value(200).run()
    no_errors(at)
    t = tables(at)
    for name, df in t.items():
        assert (df["Ratings"] >= 200).all(), name
        assert len(df) == 20, f"{name} refills to 20"
    captions = " ".join(c.value for c in at.caption)
    assert "removed by the filters" in captions
    assert str(at.query_params["min_ratings"]).strip("[]'") == "200"


def test_csv_download_and_blend_chart_are_there(app):
    at = app()
    chart = next(h.value for h in at.html if "Blended picks" in h.value)
    assert chart.count('class="d"') == 20 and "Content similarity" in chart and "Collaborative similarity" in chart
    assert "<script" not in chart and "<svg" not in chart, "plain HTML: st.html keeps no SVG"
    assert not [m for m in at.markdown if "<svg" in m.value], "no SVG through markdown (0.3 s of every page load)"
    assert at.get("download_button"), "CSV download of the three lists"
    assert not at.get("plotly_chart") and not map_elements(at), "the landing page stays free of plotly (its charts load on demand)"


# --- links --------------------------------------------------------------------------------------


def test_a_shared_link_reproduces_the_view(app):
    query = {"movie": "1", "alpha": "0.30", "genres": "Comedy", "min_ratings": "20", "years": "1990-1998"}
    at = app(query=query)
    no_errors(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.session_state["view_movie"] == 1
    assert at.select_slider(key="w_alpha").value == pytest.approx(0.30)
    for df in tables(at).values():
        assert (df["Ratings"] >= 20).all()
        assert all("Comedy" in g for g in df["Genres"])
    written = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert written == {**query, "dataset": "ml-100k"}


BAD_LINKS = [
    ({"movie": "abc"}, "not a MovieLens movie id"),
    ({"movie": "99999999"}, "isn't in this dataset"),
    ({"movie": "9" * 400}, "too long"),
    ({"alpha": "nan"}, "must be a number from 0"),
    ({"alpha": "1.5"}, "must be a number from 0"),
    ({"alpha": "-0.2"}, "must be a number from 0"),
    ({"alpha": "1e999"}, "must be a number from 0"),
    ({"genres": "Action,NotAGenre"}, "Unknown genre"),
    ({"years": "1999-1980"}, "reversed"),
    ({"years": "soon"}, "should look like"),
    ({"dataset": "../../etc/passwd"}, "isn't available here"),
    ({"dataset": "/tmp"}, "isn't available here"),
    ({"dataset": "ml-nonexistent"}, "isn't available here"),
    ({"min_ratings": "-5"}, "whole number"),
    ({"min_ratings": "100000000"}, "more than any movie has"),
    ({"max_ratings": "0"}, "whole number"),
    ({"movie": "<script>alert(1)</script>"}, "not a MovieLens movie id"),
]


@pytest.mark.parametrize("query,expected", BAD_LINKS, ids=[str(q) for q, _ in BAD_LINKS])
def test_a_bad_link_gives_a_notice_and_the_default(app, query, expected):
    at = app(query=query)
    no_errors(at)
    notices = " ".join(w.value for w in at.warning)
    assert expected in notices
    assert "<script>" not in notices, "HTML from the link is escaped, rendered as text"
    if "min_ratings" not in query:
        assert len(tables(at)["hybrid"]) == 20, "the default view is shown"
    if "movie" in query:
        assert at.session_state["view_movie"] == STAR_WARS
    if "alpha" in query:
        assert 0.0 <= at.select_slider(key="w_alpha").value <= 1.0


def test_notice_goes_away_once_the_view_changes(app):
    at = app(query={"movie": "abc"})
    assert at.warning
    at.select_slider(key="w_alpha").set_value(0.0).run()
    assert not [w for w in at.warning if "MovieLens movie id" in w.value]


def test_url_parsing_units():
    cat = Catalogue(frozenset({1, 50}), ("Action", "Comedy"), (1922, 1998), 583)
    p = parse_view({"movie": "50", "alpha": "0.25", "genres": "action", "years": "1980"}, cat)
    assert p.values == {"movie_id": 50, "alpha": 0.25, "genres": ("Action",), "years": (1980, 1980)}
    assert not p.notices
    assert parse_view({"alpha": "-0"}, cat).values["alpha"] == 0.0
    assert parse_dataset({"dataset": "ML-100K"}, ["ml-100k"], "ml-100k").values["dataset"] == "ml-100k"
    assert View(movie_id=50, alpha=0.3).to_query() == {"dataset": "ml-100k", "movie": "50", "alpha": "0.30"}


# --- the selection follows across pages ---------------------------------------------------------


def test_switching_pages_keeps_the_selection(app):
    at = app()
    at.text_input(key="w_search").input("toy story").run()
    at.select_slider(key="w_alpha").set_value(0.2).run()
    at.switch_page("pages_/latent_space.py").run()
    no_errors(at)
    assert at.session_state["view_movie"] == TOY_STORY
    assert at.select_slider(key="w_alpha").value == pytest.approx(0.2)
    assert "Toy Story" in at.selectbox(key="w_pick").format_func(at.selectbox(key="w_pick").value)


def test_a_link_that_keeps_the_lists_to_a_map_selection_does_so_on_every_page_until_turned_off(app):
    """Star Wars, Empire, Return of the Jedi, Toy Story, Raiders: lists hold only the other four, on Explore and on
    Your taste; the Filters toggle turns that off and the link drops it."""
    picked = {"Empire Strikes Back, The (1980)", "Return of the Jedi (1983)", "Toy Story (1995)",
              "Raiders of the Lost Ark (1981)"}
    at = app(query={"movie": str(STAR_WARS), "sel": "1,50,172,174,181", "only": "selection"})
    no_errors(at)
    for name, df in tables(at).items():
        assert set(titles(df)) == picked, name
    assert at.toggle(key="w_only_selection").value is True
    from recsys_core import EngineConfig, Explorer

    key = Explorer.open("ml-100k", EngineConfig(), train=False).dataset_id
    at.session_state["taste_ratings"] = {key: {50: 4}}
    at.switch_page("pages_/your_taste.py").run()
    no_errors(at)
    recs = taste_recs(at)
    assert recs is not None and set(recs["Title"]) == picked
    at.switch_page("pages_/explore.py").run()
    at.toggle(key="w_only_selection").set_value(False).run()
    no_errors(at)
    assert "only" not in at.query_params and str(at.query_params["sel"]).strip("[]'") == "1,50,172,174,181"
    assert all(len(df) == 20 for df in tables(at).values()), "every movie again"


def test_a_first_visit_draws_the_closed_panels_without_their_controls(app):
    """Filters, Saved views and About start closed and empty: a first visit's browser loads no code for their
    controls (0.35 s of a fresh page load). Opening one draws its controls; a link with a filter opens Filters."""
    at = app()
    labels = [e.label for e in at.expander]
    assert "Filters" in labels and "Saved views · tour" in labels and any(a.startswith("About") for a in labels)
    assert not at.number_input and not at.multiselect and not at.get("metric"), "no controls in closed panels"
    assert not [t for t in at.text_input if t.key == "w_view_name"]
    at = open_panel(at, "exp_filters")
    assert at.number_input(key="w_min_ratings").value == 0 and at.multiselect(key="w_genres").value == []
    at = app(query={"min_ratings": "20"})
    assert at.number_input(key="w_min_ratings").value == 20, "a link with a filter opens the panel on it"
    at = open_panel(at, "exp_about")
    assert [m.value for m in at.get("metric")][:3] == ["1,682", "943", "100,000"]


def test_saved_views_tour_steps_through_views(app):
    at = open_panel(app(), "exp_saved_views")
    at.text_input(key="w_view_name").input("Star Wars default").run()
    at.button(key="btn_save_view").click().run()
    at.text_input(key="w_search").input("toy story").run()
    at.select_slider(key="w_alpha").set_value(0.8).run()
    at.text_input(key="w_view_name").input("Toy Story content").run()
    at.button(key="btn_save_view").click().run()
    assert len(at.session_state["saved_views"]) == 2
    at.button(key="btn_tour_next").click().run()
    no_errors(at)
    assert at.session_state["view_movie"] == STAR_WARS
    links = " ".join(m.value for m in at.markdown)
    assert "movie=1" in links and "alpha=0.80" in links


# --- Latent space -------------------------------------------------------------------------------


def test_latent_space_draws_every_movie_and_highlights_the_pick(app):
    at = app(page="pages_/latent_space.py")
    no_errors(at)
    maps = figure_specs(at)
    assert any(k.startswith("Content space") for k in maps)
    assert any(k.startswith("Collaborative space") for k in maps)
    assert any(k.startswith("Blended space") for k in maps)
    content = next(v for k, v in maps.items() if k.startswith("Content space"))
    names = [t.get("name") for t in content["data"]]
    assert "Selected" in names and "Top-20 neighbours" in names


def agreement_rows(at) -> pd.DataFrame:
    """The agreement section's HTML table: the movies whose two top-20 lists agree least."""
    return html_tables(next(h.value for h in at.html if "agree least" in h.value))[0]


def test_the_agreement_section_lists_the_least_agreeing_movies_and_opens_the_whole_table(app):
    at = app(page="pages_/latent_space.py")
    no_errors(at)
    rows = agreement_rows(at)
    assert len(rows) == 10 and not at.dataframe, "ten rows as HTML, no data grid until the panel is opened"
    overlap = rows["Overlap"].str.split(" / ").str[0].astype(int)
    assert overlap.is_monotonic_increasing and (rows["Ratings"] >= 20).all(), "least first, the floor's default 20"
    at.slider(key="w_agree_min").set_value(100).run()
    rows = agreement_rows(at)
    assert (rows["Ratings"] >= 100).all() and len(rows) == 10
    at = open_panel(at, "exp_agreement")
    no_errors(at)
    grid = at.dataframe[0].value
    assert len(grid) > 10 and (grid["n_ratings"] >= 100).all() and grid["overlap"].is_monotonic_increasing
    shown = [printable(t, TITLE_CHARS) for t in grid["title"].head(10)]  # as a table cell shows a title
    assert shown == rows["Title"].tolist(), "the grid starts with the table's movies"


def test_colour_modes_render(app):
    at = app(page="pages_/latent_space.py")
    for mode in ("Decade", "Popularity", "Mean rating", "Agreement"):
        at.segmented_control(key="w_map_colour").set_value(mode).run()
        no_errors(at)


def test_clicking_a_point_selects_that_movie(app):
    at = app(page="pages_/latent_space.py")
    row = int(at.session_state["w_pick"])
    target = row + 1 if row == 0 else 0  # Toy Story is row 0 in ml-100k
    at.session_state["map_content"] = {
        "selection": {"points": [{"customdata": [target, "Animation", 452, 3.9], "point_index": 0,
                                  "curve_number": 0, "x": 0.0, "y": 0.0}],
                      "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    no_errors(at)
    assert at.session_state["w_pick"] == target


# --- Tune, Your taste, Data & model -------------------------------------------------------------


def test_tune_shows_metrics_across_alpha_and_sets_the_default(app, trained_artifacts, monkeypatch):
    from recsys_core import EngineConfig, Explorer

    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(trained_artifacts))
    ex = Explorer.open("ml-100k", EngineConfig(), train=False)
    kept = ex.default_alpha if ex.default_alpha_chosen else None
    ex.set_default_alpha(None)  # the model's own default: the evaluation's pick
    own = float(ex.metrics["best_alpha"])
    at = app(page="pages_/tune.py")
    no_errors(at)
    titles_ = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any("Recall@20" in t for t in titles_) and any("NDCG@20" in t for t in titles_)
    assert any("Blended top-20 as α moves" in t for t in titles_)
    said = " ".join(m.value for m in at.markdown).replace("\u200d", "")  # (metric labels keep "@" from autolinks)
    assert f"this model's default is **α = {format_alpha(own)}**" in said
    assert "the evaluation's" in said or "the α with the best Recall@20" in said, "where the default comes from"
    assert "Best α" not in said, "no third 'best' beside the two named picks"
    assert "btn_restore_default" not in {b.key for b in at.button}, "nothing to hand back while nobody chose one"
    try:
        at.select_slider(key="w_alpha").set_value(0.35).run()
        at.button(key="btn_set_default").click().run()
        no_errors(at)
        assert "0.35" in " ".join(s.value for s in at.success)
        assert str(at.query_params["alpha"]).strip("[]'") == "0.35"
        assert Explorer.open("ml-100k", EngineConfig(), train=False).default_alpha == pytest.approx(0.35)
        at.run()
        assert "**α = 0.35**, chosen by the operator" in " ".join(m.value for m in at.markdown)
        at.button(key="btn_restore_default").click().run()  # the operator hands it back to the evaluation
        no_errors(at)
        back = Explorer.open("ml-100k", EngineConfig(), train=False)
        assert not back.default_alpha_chosen and back.default_alpha == pytest.approx(own)
        assert f"this model's default is **α = {format_alpha(own)}**" in " ".join(m.value for m in at.markdown)
    finally:
        ex.set_default_alpha(kept)  # the artifact is shared by the whole session


def test_an_untouched_slider_follows_the_model_default_a_moved_one_stays(app, trained_artifacts, monkeypatch):
    """A visitor who arrived while the evaluation was measuring sees the model's own default once it is known
    (the slider had stayed at the settings' 0.50); a slider the visitor moved is theirs."""
    from recsys_core import EngineConfig, Explorer

    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(trained_artifacts))
    ex = Explorer.open("ml-100k", EngineConfig(), train=False)
    original = ex.default_alpha
    kept = original if ex.default_alpha_chosen else None
    first, later = (0.4, 0.6) if round(original, 2) != 0.4 else (0.3, 0.6)
    at = app()
    assert at.select_slider(key="w_alpha").value == pytest.approx(round(original, 2))
    try:
        ex.set_default_alpha(first)  # what the evaluation's pick (or the operator) does to the default
        at.run()
        no_errors(at)
        assert at.select_slider(key="w_alpha").value == pytest.approx(first)
        assert str(at.query_params["alpha"]).strip("[]'") == f"{first:.2f}"
        at.select_slider(key="w_alpha").set_value(0.15).run()
        ex.set_default_alpha(later)
        at.run()
        assert at.select_slider(key="w_alpha").value == pytest.approx(0.15)
    finally:
        ex.set_default_alpha(kept)  # the artifact is shared by the whole session


def test_your_taste_recommends_from_a_few_stars(app):
    at = app(page="pages_/your_taste.py")
    no_errors(at)
    at.text_input(key="w_taste_q").input("star wars").run()
    from recsys_core import EngineConfig, Explorer

    key = Explorer.open("ml-100k", EngineConfig(), train=False).dataset_id
    at.session_state["taste_ratings"] = {key: {50: 4, 172: 4, 181: 3}}  # ratings are kept per dataset
    at.run()
    no_errors(at)
    recs = taste_recs(at)
    assert recs is not None and len(recs) == 20
    assert list(recs.columns[:3]) == ["#", "Title", "Why"], "the reason sits beside the title"
    assert recs["Why"].str.startswith("because you rated").all()
    rated = {"Star Wars (1977)", "Return of the Jedi (1983)", "Empire Strikes Back, The (1980)"}
    assert not rated & set(recs["Title"]), "movies already rated are not recommended"
    assert "Your ratings (3)" in " ".join(m.value for m in at.markdown)


def test_data_page_shows_the_dataset_and_the_model(app):
    at = app(page="pages_/data_model.py")
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Movies"] == "1,682" and metrics["Users"] == "943" and metrics["Ratings"] == "100,000"
    titles_ = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Ratings histogram" in titles_ and any("log scale" in t for t in titles_)
    thin = [c.value for c in at.caption if c.value.startswith("Thin places")]
    assert thin and "strength 1" in thin[0] and "cold-start recall@20 0.000 → 0.019" in thin[0], thin
    assert "plus content x 0.66" in thin[0], thin  # the fill's fitted weight, as stored with the evaluation


def test_the_thin_content_note_says_who_can_get_a_richer_release(app, monkeypatch):
    """ml-100k has no tags: the operator is told where to download one, a visitor who can download nothing is told
    that the operator can."""
    def note(at) -> str:
        return next(i.value for i in at.info if "no user tags" in i.value)

    at = app()  # no token set: this loopback session is the operator's
    assert "get one on the **Data & model** page" in note(at)
    assert "under **Datasets** below" in note(at.switch_page("pages_/data_model.py").run())
    from ui import operator

    monkeypatch.setenv("RECSYS_OPERATOR_TOKEN", "s3cret-token")
    operator._token.clear()  # the server reads its token once per process
    visitor = app()
    assert "the operator of this server can download one" in note(visitor)


def test_moving_a_widget_reads_no_data_and_trains_nothing(app):
    """A rerun from the slider or a filter is served from caches: no parsing, no training, no UMAP."""
    from recsys_core.data import cache as parsed_cache

    at = app()
    at.select_slider(key="w_alpha").set_value(0.7).run()  # warm the blend once
    before = (parsed_cache.stats.hits, parsed_cache.stats.misses, parsed_cache.stats.writes)
    at.select_slider(key="w_alpha").set_value(0.3).run()
    open_panel(at, "exp_filters").number_input(key="w_min_ratings").set_value(10).run()
    at.switch_page("pages_/latent_space.py").run()
    no_errors(at)
    assert (parsed_cache.stats.hits, parsed_cache.stats.misses, parsed_cache.stats.writes) == before
    assert not [s for s in at.get("status")], "no training or projection progress on a rerun"


def test_train_button_with_the_current_settings_reuses_the_model(app):
    """Pressing Train on settings that are already trained opens the cached artifact (no second training)."""
    at = app(page="pages_/data_model.py")
    at.button(key="FormSubmitter:train_form-Train").click().run()
    no_errors(at)
    assert any("Every page uses this model" in s.value for s in at.success)
    assert any(k.startswith("Content") for k in [json.loads(c.proto.spec)["layout"]["title"]["text"]
                                                  for c in at.get("plotly_chart")])


def test_data_page_settings_list_the_model_kinds(app):
    at = app(page="pages_/data_model.py")
    kinds = at.selectbox(key="w_set_collab_space")
    assert set(kinds.options) == {"spectral", "rating_net", "dot_bias"}
    assert at.selectbox(key="w_set_device").value == "auto"


def test_a_select_boxs_stale_label_maps_back_to_its_movie_or_to_nothing(trained_artifacts, monkeypatch):
    """Streamlit hands a select box's label back instead of the option when the browser sends a choice from older
    options; the pickers' callbacks map it to the movie with that label, and an unknown or shared one to none."""
    from recsys_core import EngineConfig, Explorer
    from ui.format import printable
    from ui.picker import as_row

    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(trained_artifacts))
    ex = Explorer.open("ml-100k", EngineConfig(), train=False)
    star_wars = ex.resolve("Star Wars (1977)")
    assert as_row(ex, star_wars) == star_wars and as_row(ex, np.int64(star_wars)) == star_wars
    assert as_row(ex, printable(ex.catalog.at[star_wars, "label"])) == star_wars
    assert as_row(ex, "No Such Movie (1999)") is None and as_row(ex, ex.dataset.n_movies + 5) is None
    assert as_row(ex, None) is None and as_row(ex, True) is None
