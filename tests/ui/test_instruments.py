"""The map and the blend as instruments (issue 17): picks on the frontier, region labels, map selections, find.

Pure units first (no server), then AppTest runs of the two pages, then one real server + Chromium for the
gestures AppTest cannot make (a box drag, a toggle, typing a title).
"""

from __future__ import annotations

import json
import math
import re
import time

import numpy as np
import pandas as pd
import pytest

from tests.ui.map_specs import box_event, figure_specs, map_elements, map_list
from ui import shared_selections
from ui.frontier import KEEP_RECALL, alpha_labels, default_alpha_text, pick_alphas
from ui.regions import overlaps, place_labels, place_point_labels, text_box
from ui.selection import as_filter, ids_from_event, summarise
from ui.state import Catalogue, View, parse_view

# --- pure units -----------------------------------------------------------------------------------

ALPHAS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
RECALL = [0.4035, 0.4046, 0.4027, 0.3697, 0.3305, 0.2841, 0.2429, 0.1985, 0.1546, 0.1083, 0.0836, 0.0572]
COHERENCE = [0.2999, 0.3813, 0.4541, 0.5727, 0.6688, 0.7329, 0.7757, 0.8015, 0.8135, 0.8192, 0.8203, 0.8202]


def test_most_accurate_is_the_best_recall_and_balanced_keeps_97_percent_of_it():
    picks = pick_alphas(ALPHAS, RECALL, COHERENCE)
    assert picks.most_accurate == 0.05
    assert picks.floor == pytest.approx(0.4046 * KEEP_RECALL)
    assert picks.balanced == 0.1  # 0.4027 >= 0.3925 and the most coherent such α; 0.2 (0.3697) is below
    assert pick_alphas(ALPHAS, RECALL, COHERENCE, keep=0.5).balanced == 0.5  # 0.6 (0.1985) is below 0.2023
    # with a looser floor the balanced pick moves towards content, never below the floor
    loose = pick_alphas(ALPHAS, RECALL, COHERENCE, keep=0.8)
    assert RECALL[ALPHAS.index(loose.balanced)] >= 0.8 * 0.4046 and loose.balanced == 0.3


def test_pick_rule_ties_and_missing_values():
    assert pick_alphas([0.0, 0.5, 1.0], [0.3, 0.3, 0.1], [0.1, 0.2, 0.9]).most_accurate == 0.0
    assert pick_alphas([0.0, 0.5, 1.0], [0.3, 0.3, 0.1], [0.2, 0.2, 0.9]).balanced == 0.5
    assert pick_alphas([0.0, 0.5], [math.nan, 0.2], [0.9, 0.1]).most_accurate == 0.5
    assert pick_alphas([0.0, 0.5], [0.2, 0.2], [math.nan, 0.4]).balanced == 0.5
    assert pick_alphas([0.0], [math.nan], [0.1]) is None


def test_the_default_is_explained_in_words_that_agree_with_the_picks():
    v = {"hybrid": pd.DataFrame({"recall@20": RECALL, "genre_coherence": COHERENCE}, index=pd.Index(ALPHAS, name="alpha")),
         "best_metric": "recall@20", "k": 20}
    said = default_alpha_text(v, 0.1, chosen=False, tolerance=0.005).replace("\u200d", "")
    assert said.startswith("this model's default is **α = 0.10**, the evaluation's: the most content weight")
    assert "within 0.5% of the best (0.403 against 0.405 at α = 0.05)" in said, "the most accurate α and its recall"
    assert "the α with the best Recall@20 (0.405)" in default_alpha_text(v, 0.05, False, 0.005).replace("\u200d", "")
    assert default_alpha_text(v, 0.35, chosen=True, tolerance=0.005).endswith("**α = 0.35**, chosen by the operator.")
    assert default_alpha_text(v, 0.45, chosen=False, tolerance=0.005).endswith("**α = 0.45**."), "not a measured α"
    assert "until the evaluation" in default_alpha_text(None, 0.5, chosen=False, tolerance=0.005)
    nan = {**v, "hybrid": v["hybrid"].assign(**{"recall@20": math.nan})}
    assert default_alpha_text(nan, 0.1, chosen=False, tolerance=0.005).endswith("**α = 0.10**.")


def test_frontier_labels_do_not_pile_up_where_the_alphas_crowd():
    # the collaborative end of a real frontier: five α within a few pixels, then the curve falls away
    alphas = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0]
    xs = [0.46, 0.47, 0.48, 0.50, 0.53, 0.65, 0.78, 0.82]
    ys = [0.407, 0.4098, 0.4112, 0.4114, 0.404, 0.389, 0.269, 0.063]
    text, where = alpha_labels(xs, ys, alphas, marked=[0.2])
    shown = [a for a, t in zip(alphas, text, strict=True) if t]
    assert 0.2 not in shown  # a pick is a big marker the legend names with its α: no label of its own
    assert 1.0 in shown and not {0.0, 0.05, 0.1} & set(shown)  # their texts would lie under the pick's marker
    assert {0.5, 0.8} <= set(shown)  # apart from the others: labelled
    text, _ = alpha_labels(xs, ys, alphas, marked=[])
    assert text[0] and not text[1], "with no marker there, the end is labelled first and its neighbour left out"
    assert where[-1] == "top left" and where[0] == "top right"  # the right edge's label goes inside
    # texts that would touch side by side on one level ("0.400.60" in a 36-movie set's popularity panel)
    text, _ = alpha_labels([0.0, 0.5, 0.565, 1.0], [0.5, 0.5, 0.5, 0.5], [0.0, 0.4, 0.6, 1.0], marked=[])
    assert text[1] and not text[2], "the second of two abutting labels is left to the hover"
    # a label whose text would lie under a pick's or the slider's marker is left to the hover
    text, _ = alpha_labels([0.0, 0.5, 0.52, 1.0], [0.0, 0.5, 0.52, 1.0], [0.0, 0.4, 0.6, 1.0], marked=[0.6])
    assert not text[1] and not text[2] and text[0] and text[3]
    # a reversed axis (popularity: lower is better) mirrors which side is the edge
    _, where_rev = alpha_labels(xs, ys, alphas, marked=[0.2], reversed_x=True)
    assert where_rev[0] == "top left" and where_rev[-1] == "top right"


def test_region_labels_never_overlap_and_stay_inside():
    rng = np.random.default_rng(0)
    items = [(f"Genre {i} · #tag{i}", float(x), float(y), int(s))
             for i, (x, y, s) in enumerate(zip(rng.normal(size=30), rng.normal(size=30), rng.integers(5, 500, 30), strict=True))]
    placed = place_labels(items, (-3, 3), (-3, 3), 600, 400)
    assert 3 <= len(placed) < len(items)
    for i, a in enumerate(placed):
        assert 0 <= a.box[0] and a.box[2] <= 600 and 0 <= a.box[1] and a.box[3] <= 400
        for b in placed[i + 1:]:
            assert not overlaps(a.box, b.box), (a.text, b.text)
    assert placed[0].size == max(s for *_, s in items), "the biggest region is labelled first"
    w, h = text_box("Sci-Fi", 11)
    assert 30 < w < 60 and 12 < h < 20


def test_a_movie_and_its_neighbours_are_labelled_without_overlaps():
    """Neighbours sit close together on a map: their labels move apart (a line joins each to its point), never
    onto each other or the star, and the selected movie's title is placed first."""
    rng = np.random.default_rng(1)
    items = [(f"Movie number {i} (199{i})", float(x), float(y))
             for i, (x, y) in enumerate(rng.normal(0, 0.02, size=(6, 2)))]  # six points within a few pixels
    placed = place_point_labels(items, (-3, 3), (-3, 3), 600, 400)
    assert len(placed) == 6 and placed[0].order == 0
    star = 300 + items[0][1] * 100, 200 + items[0][2] * 400 / 6
    for i, a in enumerate(placed):
        assert 0 <= a.box[0] and a.box[2] <= 600 and 0 <= a.box[1] and a.box[3] <= 400
        assert not (a.box[0] < star[0] < a.box[2] and a.box[1] < star[1] < a.box[3]), "a label covers the star"
        for b in placed[i + 1:]:
            assert not overlaps(a.box, b.box), (a.text, b.text)
    regions = place_labels([("Drama · 1990s", 0.0, 0.0, 50)], (-3, 3), (-3, 3), 600, 400,
                           taken=[p.box for p in placed])
    assert all(not overlaps(r.box, p.box) for r in regions for p in placed)


CATALOG = pd.DataFrame({
    "movie_id": [10, 20, 30, 40],
    "title": ["A", "B", "C", "D"],
    "year": pd.array([1977, 1980, 1983, None], dtype="Int16"),
    "genres": [("Sci-Fi", "Action"), ("Sci-Fi",), ("Sci-Fi", "Drama"), ("Comedy",)],
    "n_ratings": [500, 300, 100, 5],
    "mean_rating": np.array([4.0, 3.0, 4.0, np.nan], dtype=np.float32),
})


def test_a_selection_summary_and_the_filter_it_stands_for():
    s = summarise(CATALOG, np.array([0, 1, 2]))
    assert s.n == 3 and s.genres[0] == ("Sci-Fi", 1.0)
    assert s.years == (1977, 1983) and s.n_ratings == 900 and s.median_ratings == 300
    assert s.mean_rating == pytest.approx((500 * 4 + 300 * 3 + 100 * 4) / 900)
    assert as_filter(s) == (("Sci-Fi",), (1977, 1983))
    mixed = summarise(CATALOG, np.array([0, 3]))
    assert as_filter(mixed) == (("Action", "Comedy"), (1977, 1977))  # the fewest genres covering 80%
    pts = [{"customdata": [2, 100, 4.0]}, {"customdata": [0.0, 500, 4.0]}, {"customdata": [2, 1, 1]},
           {"customdata": [99, 1, 1]}, {"x": 1}]
    assert ids_from_event(CATALOG, pts) == (10, 30)


def test_a_selection_travels_in_the_link_while_it_fits():
    cat = Catalogue(frozenset({10, 20, 30, 40}), ("Comedy", "Sci-Fi"), (1977, 1983), 500)
    v = View(selection=(10, 30))
    assert v.to_query()["sel"] == "10,30"
    parsed = parse_view({"sel": "10,30,999,abc"}, cat)
    assert parsed.values["selection"] == (10, 30) and parsed.notices
    big = View(dataset="ml-100k", selection=tuple(range(100000, 100100)))
    assert "sel" not in big.to_query(), "too long for the address bar"
    assert big.to_query()["selref"] == shared_selections.ref_for("ml-100k", reversed(big.selection))


def test_a_link_keeps_the_lists_to_its_selection_only_when_it_carries_one():
    cat = Catalogue(frozenset({10, 20, 30, 40}), ("Comedy", "Sci-Fi"), (1977, 1983), 500)
    q = View(selection=(10, 30), only_selection=True).to_query()
    assert q["sel"] == "10,30" and q["only"] == "selection"
    assert "only" not in View(only_selection=True).to_query(), "no selection, nothing to keep to"
    parsed = parse_view(q, cat)
    assert parsed.values["only_selection"] is True and parsed.values["selection"] == (10, 30) and not parsed.notices
    for raw, says in (({"only": "selection"}, "does not carry"), ({"sel": "10", "only": "<b>all</b>"}, "not `selection`"),
                      ({"sel": "999", "only": "selection"}, "aren't in this dataset")):
        got = parse_view(raw, cat)
        assert "only_selection" not in got.values and any(says in n for n in got.notices), (raw, got.notices)
        assert all("<b>" not in n for n in got.notices), "hostile text is escaped"


def test_a_big_selection_is_kept_on_the_server_and_its_link_brings_it_back(tmp_path, monkeypatch):
    ids = tuple(range(1, 301))
    ref = shared_selections.keep("ml-100k", ids, root=tmp_path)
    assert ref == shared_selections.ref_for("ml-100k", ids)
    assert shared_selections.keep("ml-100k", ids[::-1], root=tmp_path) == ref, "stored once, whatever the order"
    assert [p.name for p in tmp_path.iterdir()] == [f"{ref}.json"], "nothing half-written left beside it"
    assert shared_selections.find(ref, root=tmp_path) == ("ml-100k", ids)
    cat = Catalogue(frozenset(range(1, 251)), ("Comedy",), (1950, 2000), 500)

    def find(r: str):
        return shared_selections.find(r, root=tmp_path)

    parsed = parse_view({"selref": ref}, cat, find, "ml-100k")
    assert parsed.values["selection"] == tuple(range(1, 251)) and "50 of the link's" in parsed.notices[0]
    other = parse_view({"selref": ref}, cat, find, "ml-latest-small")
    assert "selection" not in other.values and "made on" in other.notices[0]
    for bad in ("0" * 16, "../../etc/passwd", "ABCDEF0123456789", "x" * 500):
        gone = parse_view({"selref": bad}, cat, find, "ml-100k")
        assert "selection" not in gone.values and len(gone.notices) == 1
    (tmp_path / "0123456789abcdef.json").write_text("not json")
    assert shared_selections.find("0123456789abcdef", root=tmp_path) is None
    # visitors create these: the folder keeps the most recently used within its bounds
    monkeypatch.setattr(shared_selections, "MAX_FILES", 3)
    refs = [shared_selections.keep("ml-100k", (i, i + 1), root=tmp_path) for i in range(5)]
    assert shared_selections.find(refs[-1], root=tmp_path) is not None
    assert shared_selections.find(refs[0], root=tmp_path) is None
    assert len(list(tmp_path.glob("*.json"))) == 3


# --- engine: region labels on the bundled ml-100k ---------------------------------------------------


@pytest.fixture(scope="module")
def explorer(trained_artifacts):
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSYS_ARTIFACTS_DIR", str(trained_artifacts))
    from recsys_core import EngineConfig, Explorer

    yield Explorer.open("ml-100k", EngineConfig(), train=False)
    mp.undo()


def test_regions_are_named_by_what_sets_them_apart(explorer):
    from recsys_core.map_labels import region_labels, traits

    coords = explorer.projection("content")
    regions = region_labels(explorer, coords)
    assert 3 <= len(regions) <= 12
    assert sum(r.size for r in regions) == int(np.isfinite(coords).all(axis=1).sum())
    labels = [r.label for r in regions if r.label]
    assert len(labels) >= 3 and len(set(labels)) == len(labels), "distinct names"
    assert regions == region_labels(explorer, coords), "deterministic"
    docs = np.flatnonzero([("Documentary" in g) for g in explorer.catalog["genres"]])
    top = traits(explorer, docs, n=1)
    assert top and top[0].name == "Documentary" and top[0].lift > 10


# --- AppTest: the pages ------------------------------------------------------------------------------


def test_maps_load_their_own_small_plotly_and_fall_back_to_streamlits_when_it_is_not_served(app):
    """`make run` serves static/ (the maps' 1.6 MB plotly); a server started from another folder does not read
    .streamlit/config.toml, and the maps are then Streamlit's own plotly charts, selections and all."""
    from streamlit import config

    from ui.map_chart import BUNDLE

    at = app(page="pages_/latent_space.py")
    assert len(map_elements(at)) == 3 and not at.get("plotly_chart")
    src = json.loads(map_elements(at)[0].proto.json)["src"]
    assert src.startswith("/app/static/plotly-maps.min.js?v=")
    at.toggle(key="w_map_density").set_value(True).run()
    at.toggle(key="w_map_lines").set_value(True).run()
    drawn = {t.get("type", "scatter") for f in figure_specs(at).values() for t in f["data"]}
    registered = set(re.findall(rb'moduleType:"trace",name:"(\w+)"', BUNDLE.read_bytes()))
    assert drawn >= {"scattergl", "histogram2dcontour", "scatter"}
    assert all(f["layout"][ax]["ticks"] == "" for f in figure_specs(at).values() for ax in ("xaxis", "yaxis")), \
        "no tick marks (plotly gives contour plots outside ticks by default)"
    assert {t.encode() for t in drawn} <= registered, "every trace the maps draw is in their plotly bundle"
    assert BUNDLE.stat().st_size < 2_000_000
    assert config.get_option("server.enableStaticServing")
    config.set_option("server.enableStaticServing", False)
    try:
        at = app(page="pages_/latent_space.py")
        assert not at.exception and not map_elements(at)
        assert {k.split(" (")[0] for k in figure_specs(at)} >= {"Content space", "Collaborative space"}
        at.session_state["map_collab"] = box_event([0, 49])
        at.run()
        assert not at.exception and at.session_state["view_selection"] == (1, 50)
    finally:
        config.set_option("server.enableStaticServing", True)


def test_latent_space_labels_regions_and_a_box_selection_opens_the_panel(app):
    at = app(page="pages_/latent_space.py")
    assert not at.exception
    content = next(v for k, v in figure_specs(at).items() if k.startswith("Content space"))
    assert _regions(content), "region labels drawn"
    points = [a["text"] for a in content["layout"]["annotations"] if a.get("name") == "point"]
    assert points and points[0].startswith("<b>"), "the selected movie's title, beside its star"
    assert 2 <= len(points) <= 6
    assert content["layout"]["dragmode"] == "select"
    rows = [0, 49, 171]  # Toy Story, Star Wars, The Empire Strikes Back
    at.session_state["map_content"] = box_event(rows)
    at.run()
    assert not at.exception
    assert at.session_state["view_selection"] == (1, 50, 172)
    assert "sel" in at.query_params and str(at.query_params["sel"]).strip("[]'") == "1,50,172"
    text = " ".join(m.value for m in at.markdown)
    assert "3 movies" in text and "Sci" in text
    listed = [r["title"] for r in map_list(at)["rows"]]
    assert len(listed) == 20
    at.button(key="btn_sel_filter").click().run()
    assert not at.exception
    assert at.session_state["view_only_selection"] is True
    assert str(at.query_params["only"]).strip("[]'") == "selection"
    kept = [r["title"] for r in map_list(at)["rows"]]
    picked = {"Toy Story (1995)", "Star Wars (1977)", "Empire Strikes Back, The (1980)"}
    assert kept and set(kept) <= picked and kept != listed, "the lists keep only the selected movies"
    at.button(key="btn_sel_traits").click().run()  # the broader filter: the selection's genres and years
    assert at.session_state["view_genres"] and at.session_state["view_years"] == (1977, 1995)
    at.button(key="btn_sel_filter").click().run()  # "Stop filtering the lists"
    assert at.session_state["view_only_selection"] is False and "only" not in at.query_params
    at.toggle(key="w_map_labels").set_value(False).run()
    content = next(v for k, v in figure_specs(at).items() if k.startswith("Content space"))
    assert not _regions(content)
    assert not any(json.loads(e.proto.json)["clear"] for e in map_elements(at)), "the box is the selection in use"
    at.button(key="btn_sel_clear").click().run()
    assert not at.exception and at.session_state["view_selection"] == ()
    clear = [json.loads(e.proto.json)["clear"] for e in map_elements(at)]
    assert clear[0] and not any(clear[1:]), "the content map drops the box that no longer selects anything"


def test_a_selection_too_big_for_the_address_bar_is_shared_by_reference(app):
    """A box over a dense region picks hundreds of movies: the link carries a server-kept reference, and a second
    visitor opening it gets the same selection."""
    at = app(page="pages_/latent_space.py")
    rows = list(range(0, 400, 2))  # 200 movies: far more than a link spells out
    at.session_state["map_content"] = box_event(rows)
    at.run()
    assert not at.exception
    picked = at.session_state["view_selection"]
    assert len(picked) == 200 and "sel" not in at.query_params
    ref = str(at.query_params["selref"]).strip("[]'")
    other = app(query={"selref": ref}, page="pages_/latent_space.py")
    assert not other.exception
    assert other.session_state["view_selection"] == picked
    assert "200 movies" in " ".join(m.value for m in other.markdown)
    gone = app(query={"selref": "0123456789abcdef"})
    assert any("no longer kept" in w.value for w in gone.warning)


def _regions(spec: dict) -> list[dict]:
    return [a for a in spec["layout"].get("annotations", []) if a.get("name") == "region"]


def test_finding_a_title_rings_and_centres_it(app):
    at = app(page="pages_/latent_space.py")
    at.text_input(key="w_map_find").set_value("empire strikes back").run()
    assert not at.exception
    content = next(v for k, v in figure_specs(at).items() if k.startswith("Content space"))
    found = [t for t in content["data"] if t.get("name") == "Found"]
    assert found and "Empire Strikes Back" in found[0]["text"][0]
    xr = content["layout"]["xaxis"]["range"]
    assert xr[0] < _num(found[0]["x"]) < xr[1]


def test_a_title_picked_in_the_map_list_is_ringed_and_let_go_when_the_list_moves_on(app):
    at = app(page="pages_/latent_space.py")
    rows = map_list(at)["rows"]
    assert len(rows) == 20 and [r["rank"] for r in rows] == list(range(1, 21))
    eighth = rows[7]
    at.session_state["tbl_map_list"] = {"picked": eighth["row"]}  # what a click on the eighth row reports
    at.run()
    assert not at.exception and map_list(at)["picked"] == eighth["row"]
    for name, fig in figure_specs(at).items():
        found = [t for t in fig["data"] if t.get("name") == "Found"]
        assert found and eighth["title"].split(" (")[0][:30] in found[0]["text"][0], name
    at.session_state["tbl_map_list"] = {"picked": 10_000}  # no longer in the list (the slider moved, say)
    at.run()
    assert not at.exception and map_list(at)["picked"] is None
    assert not any(t.get("name") == "Found" for f in figure_specs(at).values() for t in f["data"])


def _num(v) -> float:
    """First value of a plotly array (plain list or plotly 7's base64 typed array)."""
    if isinstance(v, dict):
        import base64

        return float(np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))[0])
    return float(v[0])


def test_tune_marks_both_picks_and_the_operator_keeps_one(app, trained_artifacts, monkeypatch):
    from recsys_core import EngineConfig, Explorer

    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(trained_artifacts))
    ex = Explorer.open("ml-100k", EngineConfig(), train=False)
    kept = ex.default_alpha if ex.default_alpha_chosen else None
    at = app(page="pages_/tune.py")
    assert not at.exception
    frontier = next(v for k, v in figure_specs(at).items() if k.startswith("The trade-off"))
    names = {t.get("name", "") for t in frontier["data"]}
    assert any(n.startswith("most accurate") for n in names) and any(n.startswith("balanced") for n in names)
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "97%" in text and "Yao and Harper" in text
    try:
        at.button(key="btn_default_balanced").click().run()
        assert not at.exception
        picks = pick_alphas(ex.metrics["alphas"], ex.metrics["hybrid"]["recall@20"],
                            ex.metrics["hybrid"]["genre_coherence"])
        assert Explorer.open("ml-100k", EngineConfig(), train=False).default_alpha == pytest.approx(picks.balanced)
    finally:
        ex.set_default_alpha(kept)  # the artifact is shared by the whole session


# --- real server + Chromium: the gestures ------------------------------------------------------------

JS_MAP = """(prefix) => {
  const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(g => g.layout && g.layout.title && String(g.layout.title.text).replace(/<[^>]+>/g, '').startsWith(prefix));
  if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) return null;
  const fl = gd._fullLayout, r = gd.getBoundingClientRect();
  const pts = [];
  for (const t of gd._fullData || []) {
    if (t.type !== 'scattergl' || !t.x) continue;
    for (let i = 0; i < t.x.length; i++) pts.push([t.x[i], t.y[i], t.customdata[i][0]]);
  }
  return {left: r.left + fl._size.l, top: r.top + fl._size.t, w: fl._size.w, h: fl._size.h,
          x: fl.xaxis.range, y: fl.yaxis.range, pts: pts,
          labels: (gd.layout.annotations || []).filter(a => a.name === 'region').length,
          drawn: gd.querySelectorAll('g.annotation').length,
          traces: (gd._fullData || []).map(t => t.name)};
}"""


JS_AREA = """(prefix) => {
  const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(g => g.layout && g.layout.title && String(g.layout.title.text).replace(/<[^>]+>/g, '').startsWith(prefix));
  return gd ? (gd.layout.selections || []).length : -1;
}"""


def _map(pg, prefix: str) -> dict:
    pg.wait_for_function(f"(p) => ({JS_MAP})(p) !== null", arg=prefix, timeout=60_000)
    return pg.evaluate(JS_MAP, prefix)


def _px(m: dict, x: float, y: float) -> tuple[float, float]:
    """Page pixels of a data point on a map (linear axes)."""
    (x0, x1), (y0, y1) = m["x"], m["y"]
    return m["left"] + (x - x0) / (x1 - x0) * m["w"], m["top"] + (y1 - y) / (y1 - y0) * m["h"]


def _idle(pg) -> None:
    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                         " && !document.querySelector('[data-stale=\"true\"]')", timeout=60_000)


def _dismiss_dialog(pg) -> None:
    """Close a modal Streamlit may show over a page opened by its address (it would swallow the clicks)."""
    pg.wait_for_timeout(500)
    if pg.locator('[role="dialog"]').count():
        pg.keyboard.press("Escape")
        pg.locator('[role="dialog"]').wait_for(state="detached", timeout=10_000)


def _open_latent(pg, server: str) -> dict:
    pg.goto(f"{server}/latent-space?alpha=0.50")
    pg.get_by_role("heading", name="Latent space").wait_for(timeout=60_000)
    _dismiss_dialog(pg)
    _map(pg, "Content space")
    _idle(pg)
    return _map(pg, "Content space")


JS_LIST = ("() => Array.from(document.querySelectorAll('.st-key-tbl_map_list table.rs-maplist tbody td:nth-child(2)'))"
           ".map(c => c.textContent.trim())")


def _list_titles(pg) -> list[str]:
    """The titles of the Latent space page's blended top-20, as drawn."""
    return pg.evaluate(JS_LIST)


@pytest.mark.browser
def test_labels_toggle_and_a_box_drag_selects_the_movies_inside_it(page, server, trained_artifacts, monkeypatch):
    from playwright.sync_api import expect

    m = _open_latent(page, server)
    assert m["labels"] >= 3 and m["drawn"] > m["labels"], "region labels drawn, and the selected movie's titles"
    page.get_by_text("Labels", exact=True).click()
    _idle(page)
    page.wait_for_function(f"() => ({JS_MAP})('Content space').labels === 0", timeout=30_000)
    m = _map(page, "Content space")
    # a box around the middle fifth of the map, in data coordinates
    (x0, x1), (y0, y1) = m["x"], m["y"]
    bx = (x0 + 0.4 * (x1 - x0), x0 + 0.6 * (x1 - x0))
    by = (y0 + 0.4 * (y1 - y0), y0 + 0.6 * (y1 - y0))
    inside = sorted({int(r) for x, y, r in m["pts"] if bx[0] <= x <= bx[1] and by[0] <= y <= by[1]})
    assert inside, "the box holds movies"
    page.wait_for_function(f"() => ({JS_LIST})().length > 0", timeout=30_000)
    before = _list_titles(page)
    sx, sy = _px(m, bx[0], by[1])
    ex_, ey = _px(m, bx[1], by[0])
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move((sx + ex_) / 2, (sy + ey) / 2, steps=5)
    page.mouse.move(ex_, ey, steps=5)
    page.mouse.up()
    panel = page.locator(".st-key-sel_panel")
    panel.wait_for(timeout=30_000)
    _idle(page)
    expect(panel).to_contain_text(re.compile(rf"\b{len(inside):,} movies"))
    ring = _map(page, "Content space")
    assert "Map selection" in ring["traces"]
    from tests.ui.conftest import cut_labels

    page.set_viewport_size({"width": 1024, "height": 1000})  # a small laptop: the panel's buttons read whole
    page.wait_for_timeout(800)
    assert not cut_labels(page), cut_labels(page)
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.get_by_role("button", name="Use as filter for the lists").click()
    _idle(page)
    expect(page).to_have_url(re.compile(r"only=selection"))
    page.wait_for_function(f"(b) => {{ const t = ({JS_LIST})(); return t.length > 0 && "
                           "JSON.stringify(t) !== JSON.stringify(b); }", arg=before, timeout=30_000)
    from recsys_core import EngineConfig, Explorer

    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(trained_artifacts))
    labels = Explorer.open("ml-100k", EngineConfig(), train=False).catalog["label"]
    in_box = {str(labels.iloc[r]) for r in inside}
    kept = _list_titles(page)
    assert kept and set(kept) <= in_box, f"the blended list keeps only movies inside the box: {set(kept) - in_box}"
    assert not page.locator('[data-testid="stException"]').count()
    page.locator(".st-key-sel_panel").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    from tests.ui.conftest import ROOT, screenshot

    shot = screenshot(page, "latent_space_selection")
    (ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
    (ROOT / "docs" / "screenshots" / "latent_space_selection.png").write_bytes(shot.read_bytes())
    assert page.evaluate(JS_AREA, "Content space") == 1, "the box stays drawn while it is the selection"
    page.get_by_role("button", name="Clear").click()
    panel.wait_for(state="detached", timeout=30_000)
    _idle(page)
    page.wait_for_function(f"() => ({JS_AREA})('Content space') === 0", timeout=30_000)
    page.wait_for_timeout(1500)  # the map's reset event has come and gone: nothing selects the box again
    _idle(page)
    assert not panel.count() and "sel=" not in page.url and "selref=" not in page.url


def _inside(px: float, py: float, poly: list[tuple[float, float]]) -> bool:
    """Even-odd rule: is the pixel (px, py) inside the polygon?"""
    hit = False
    for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (ay > py) != (by > py) and px < (bx - ax) * (py - ay) / (by - ay) + ax:
            hit = not hit
    return hit


def _edge_px(px: float, py: float, poly: list[tuple[float, float]]) -> float:
    """Distance in pixels from (px, py) to the polygon's outline."""
    best = math.inf
    for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1], strict=True):
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
    return best


JS_SELECTION_ROWS = """(prefix) => {
  const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(g => g.layout && g.layout.title && String(g.layout.title.text).replace(/<[^>]+>/g, '').startsWith(prefix));
  const t = gd && (gd._fullData || []).find(t => t.name === 'Map selection');
  return t ? Array.from(t.customdata, c => Number(c[0])) : [];
}"""


@pytest.mark.browser
def test_a_lasso_on_the_collaborative_map_selects_the_movies_inside_it(page, server):
    m = _open_latent(page, server)
    m = _map(page, "Collaborative space")
    chart = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="Collaborative space"))
    chart.hover()
    buttons = chart.locator(".modebar-btn").evaluate_all("els => els.map(e => e.getAttribute('data-title'))")
    assert {"Box Select", "Lasso Select", "Download plot as a PNG"} <= set(buttons), buttons
    assert not any("Share" in b or "Cloud" in b for b in buttons), f"nothing uploads the map to a cloud: {buttons}"
    with page.expect_download(timeout=30_000) as png:
        chart.locator('.modebar-btn[data-title="Download plot as a PNG"]').click()
    assert png.value.suggested_filename == "collab-map-ml-100k.png"
    assert png.value.path().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    chart.hover()
    chart.locator('.modebar-btn[data-title="Lasso Select"]').click()
    # a lopsided quadrilateral around the map's middle, drawn as a visitor would (it is not a box)
    (x0, x1), (y0, y1) = m["x"], m["y"]
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    corners = [(cx - rx, cy - ry), (cx + rx, cy - 0.5 * ry), (cx + 0.2 * rx, cy + ry), (cx - 0.8 * rx, cy + 0.6 * ry)]
    poly = [_px(m, x, y) for x, y in corners]
    dots = [(_px(m, x, y), int(r)) for x, y, r in m["pts"]]
    surely = {r for (px, py), r in dots if _inside(px, py, poly) and _edge_px(px, py, poly) > 2}
    maybe = {r for (px, py), r in dots if _edge_px(px, py, poly) <= 2}
    assert len(surely) >= 20, "the lasso holds movies"
    page.mouse.move(*poly[0])
    page.mouse.down()
    for q in poly[1:] + poly[:1]:
        page.mouse.move(*q, steps=8)
    page.mouse.up()
    page.locator(".st-key-sel_panel").wait_for(timeout=30_000)
    _idle(page)
    page.wait_for_function(f"() => ({JS_SELECTION_ROWS})('Collaborative space').length > 0", timeout=30_000)
    picked = set(page.evaluate(JS_SELECTION_ROWS, "Collaborative space"))
    assert surely <= picked <= surely | maybe, (len(surely - picked), len(picked - surely - maybe))
    n = len(picked)
    assert re.search(rf"\b{n:,} movies?\b", page.locator(".st-key-sel_panel").inner_text())
    assert set(page.evaluate(JS_SELECTION_ROWS, "Content space")) == picked, "the other map rings the same movies"
    assert not page.locator('[data-testid="stException"]').count()


def _swipe(cdp, x0: float, y0: float, x1: float, y1: float) -> None:
    """One finger drawn from (x0, y0) to (x1, y1), as a touch screen sends it."""
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for i in range(1, 11):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                              "touchPoints": [{"x": x0 + (x1 - x0) * i / 10, "y": y0 + (y1 - y0) * i / 10}]})
        time.sleep(0.03)  # a finger takes its time: a third of a second for the whole stroke
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


# per map, whether its plotly toolbar's box crosses its title's box
JS_TITLE_UNDER_TOOLBAR = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(gd => gd.querySelector('.gtitle') && gd.querySelector('.modebar')).map(gd => {
    const t = gd.querySelector('.gtitle').getBoundingClientRect(), m = gd.querySelector('.modebar').getBoundingClientRect();
    return t.left < m.right && m.left < t.right && t.top < m.bottom && m.top < t.bottom;
  })"""


@pytest.mark.browser
def test_on_a_phone_a_finger_scrolls_past_the_maps_and_the_toolbar_selects(browser, server):
    """A box drawn by default trapped a phone's page: a finger over a map (most of the screen) selected movies
    instead of scrolling. On a touch screen the finger scrolls; Box Select in the toolbar, then a finger, selects."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    try:
        _open_latent(pg, server)
        crossed = pg.evaluate(JS_TITLE_UNDER_TOOLBAR)
        assert crossed == [False, False, False], "each map's toolbar stays off its title on a phone"
        chart = pg.locator(".js-plotly-plot", has=pg.locator(".gtitle", has_text="Content space"))
        chart.scroll_into_view_if_needed()
        pg.wait_for_timeout(500)
        box = chart.bounding_box()
        main = "() => document.querySelector('[data-testid=\"stMain\"]').scrollTop"
        before = pg.evaluate(main)
        cdp = context.new_cdp_session(pg)
        x = box["x"] + box["width"] / 2
        _swipe(cdp, x, box["y"] + 0.7 * box["height"], x, box["y"] + 0.2 * box["height"])
        pg.wait_for_timeout(1500)
        assert pg.evaluate(main) > before + 100, "the page scrolled under the finger"
        assert pg.evaluate(JS_AREA, "Content space") == 0 and not pg.locator(".st-key-sel_panel").count()
        chart.scroll_into_view_if_needed()
        pg.wait_for_timeout(1500)  # the swipe's scroll has come to rest
        chart.locator('.modebar-btn[data-title="Box Select"]').tap()
        pg.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullLayout.dragmode === 'select'",
                             timeout=10_000)  # the toolbar's choice is in place before the finger moves
        pg.wait_for_timeout(500)
        box = chart.bounding_box()
        _swipe(cdp, box["x"] + 40, box["y"] + 60, box["x"] + box["width"] - 30, box["y"] + box["height"] - 40)
        pg.locator(".st-key-sel_panel").wait_for(timeout=30_000)
        _idle(pg)
        assert re.search(r"\b[\d,]+ movies\b", pg.locator(".st-key-sel_panel").inner_text())
        assert not pg.locator('[data-testid="stException"]').count()
    finally:
        context.close()


@pytest.mark.browser
def test_typing_a_title_rings_and_centres_its_point(page, server):
    m = _open_latent(page, server)
    box = page.get_by_role("textbox", name="Find on the map")
    box.fill("empire strikes back")
    box.press("Enter")
    page.wait_for_function(f"() => {{ const m = ({JS_MAP})('Content space'); return m && m.traces.includes('Found'); }}",
                           timeout=30_000)
    _idle(page)
    found = page.evaluate("""() => { const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .find(g => String(g.layout.title.text).replace(/<[^>]+>/g, '').startsWith('Content space'));
        const t = gd._fullData.find(t => t.name === 'Found'); return {x: t.x[0], y: t.y[0], text: t.text[0]}; }""")
    m2 = _map(page, "Content space")
    assert "Empire Strikes Back" in found["text"]
    cx, cy = (m2["x"][0] + m2["x"][1]) / 2, (m2["y"][0] + m2["y"][1]) / 2
    assert abs(found["x"] - cx) < 1e-3 * (1 + abs(cx)) + 0.01 and abs(found["y"] - cy) < 0.01 + 1e-3 * abs(cy)
    assert (m2["x"][1] - m2["x"][0]) < (m["x"][1] - m["x"][0]), "zoomed in on it"
    # pointing at a title of the map list brings up its label on the maps; a click rings it
    row = page.locator(".st-key-tbl_map_list table.rs-maplist tbody tr").nth(2)
    title = row.locator("td").nth(1).inner_text()
    row.scroll_into_view_if_needed()
    row.hover()
    page.wait_for_function("(t) => Array.from(document.querySelectorAll('.js-plotly-plot .hoverlayer .hovertext'))"
                           ".some(h => h.textContent.startsWith(t))", arg=title, timeout=10_000)
    row.click()
    _idle(page)
    page.wait_for_function("(t) => Array.from(document.querySelectorAll('.js-plotly-plot')).every(gd => "
                           "(gd._fullData || []).some(tr => tr.name === 'Found' && String(tr.text[0]).includes(t)))",
                           arg=title.split(" (")[0][:30], timeout=30_000)
    assert page.locator(".st-key-tbl_map_list tr.picked").inner_text().endswith(title)


@pytest.mark.browser
def test_the_frontier_marks_both_picks(page, server):
    page.goto(f"{server}/tune-blend?alpha=0.50")
    page.get_by_role("heading", name="Tune the blend").wait_for(timeout=60_000)
    _dismiss_dialog(page)
    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                           ".some(g => g._fullLayout && String(g.layout.title.text).replace(/<[^>]+>/g, '').startsWith('The trade-off'))",
                           timeout=60_000)
    _idle(page)
    legend = page.evaluate("""() => { const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .find(g => String(g.layout.title.text).replace(/<[^>]+>/g, '').startsWith('The trade-off'));
        return Array.from(gd.querySelectorAll('.legendtext')).map(e => e.textContent); }""")
    assert any(t.startswith("most accurate (α = ") for t in legend), legend
    assert any(t.startswith("balanced (α = ") for t in legend), legend
    assert page.get_by_text(re.compile("Yao and Harper")).count()
    page.wait_for_timeout(1000)
    from tests.ui.conftest import ROOT, screenshot

    shot = screenshot(page, "tune")
    (ROOT / "docs" / "screenshots" / "tune.png").write_bytes(shot.read_bytes())
    for width in (1024, 390):  # a small laptop, then a phone: the three panels' titles never run into each other
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(1000)
        texts = page.evaluate(JS_FRONTIER_TEXTS)
        assert len(texts) >= 4, texts
        assert max(t["right"] for t in texts) <= width, texts
        clash = [(a["text"], b["text"]) for i, a in enumerate(texts) for b in texts[i + 1:]
                 if a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1
                 and a["top"] < b["bottom"] - 1 and b["top"] < a["bottom"] - 1]
        assert not clash, f"at {width} px: {clash}"
    crossed = page.evaluate(JS_TITLE_UNDER_TOOLBAR)  # at 390 px, where a phone shows the toolbars without hover
    assert len(crossed) >= 3 and not any(crossed), f"{crossed.count(True)} of {len(crossed)} charts' toolbars on their titles"


JS_FRONTIER_TEXTS = """() => {
  const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(g => String(g.layout.title.text).replace(/<[^>]+>/g, '').startsWith('The trade-off'));
  return Array.from(gd.querySelectorAll('.gtitle, .annotation-text, [class$="title"] text, text[class$="title"]'))
    .map(e => { const r = e.getBoundingClientRect();
                return {text: e.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })
    .filter(t => t.right > t.left);
}"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [1400, 420], ids=["laptop", "phone"])
def test_every_colour_mode_and_map_toggle_is_in_view(browser, server, width):
    """On a 1,400 px laptop window the last colour modes were hidden in a strip that scrolled sideways and the
    toggles read "Den..."; each option and toggle label must be whole and on screen, at that width and on a phone."""
    from tests.ui.conftest import cut_labels
    from ui.maps import COLOUR_MODES

    context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 640)
    pg = context.new_page()
    try:
        _open_latent(pg, server)
        group = pg.locator(".st-key-w_map_colour")
        box = group.bounding_box()
        for mode in COLOUR_MODES:
            b = group.locator("button").filter(has_text=re.compile(f"^{re.escape(mode)}$")).bounding_box()
            assert b and box["x"] - 1 <= b["x"] and b["x"] + b["width"] <= box["x"] + box["width"] + 1, mode
            assert b["x"] + b["width"] <= width, f"{mode} is off screen"
        clipped = cut_labels(pg)
        assert not clipped, f"cut-off labels: {clipped}"
        overflow = pg.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 2, f"the page scrolls sideways by {overflow}px"
    finally:
        context.close()
