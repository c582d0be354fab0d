"""Hostile data in the UI (#14) and page addresses (#17): titles, genres and tags carrying HTML, script,
markdown and bare URLs render as text on every page that shows them; taste ratings stay with their dataset;
every page's own address opens that page."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import CHARTS, require_browser
from tests.ui.hostile import EVIL_TITLES, LONG_ID, LONG_TITLE, NAME, train_hostile
from tests.ui.html_lists import taste_recs
from ui.format import html_text, md_text, plot_text, public_message

# --- pure escaping (no Streamlit) -----------------------------------------------------------------


@pytest.mark.parametrize("title", EVIL_TITLES)
def test_escaping_leaves_no_tag_and_no_link(title):
    for out in (plot_text(title), html_text(title)):
        assert "<" not in out and ">" not in out
    md = md_text(title)
    assert not re.search(r"(?<!\\)[<>\[\]()*_`$]", md), md
    assert "http://" not in md and "www." not in md, "bare URLs are broken up so markdown cannot autolink them"


def test_a_list_table_writes_hostile_titles_and_reasons_as_text():
    """Explore's lists are HTML tables: every data text in them is escaped, the long ones' tooltips too."""
    import pandas as pd

    from tests.ui.html_lists import html_tables
    from ui.lists import list_html, table_frame

    df = pd.DataFrame({"movie": [1, 2], "rank": [1, 2], "title": EVIL_TITLES[:2], "year": [1996, None],
                       "score": [0.9, 0.8], "n_ratings": [12, 3], "mean_rating": [4.0, float("nan")],
                       "genres": [["<b>Drama</b>"], ["Comedy"]], "why": ['both "<i>x</i>" & y', "also ' z"]})
    body = list_html(table_frame(df, "content", {"collab": {1}, "hybrid": set()}), "content")
    for t in ("<b>", "<i>", "<a ", "<img", "<script"):
        assert t not in body.split("</style>", 1)[1].lower()
    [back] = html_tables(body)
    assert list(back.columns) == ["#", "Title", "Cosine", "Also in", "Ratings", "Mean", "Genres", "Why"]
    assert back["Title"][0] == f"◆ {EVIL_TITLES[0]} (1996)" and back["Why"][0] == 'both "<i>x</i>" & y'
    assert back["Mean"][1] == "–", "a missing number reads as a dash"
    assert back.attrs["agree"] == [True, False], "the row both signals agree on is tinted"


def test_a_job_panel_line_is_escaped_once():
    """A running job's line reads as the numbers it carries (a double escape showed "loss 5\\.521")."""
    from recsys_core.events import Progress
    from ui import engine, jobs

    job = engine.Job(engine.JobKey("fp", "cfg", "lists"), "Training on ml-latest-small", lambda _p: None, 1,
                     status=engine.JOB_RUNNING,
                     last=Progress("content", 5, 30, {"loss": 5.521, "val_loss": 5.603}, 44.0))
    frac, md = jobs.progress_line(job)
    read = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", md)  # what CommonMark shows: each escape read once
    assert read == "Training on ml-latest-small · Content · epoch 5/30 · loss 5.521 · val loss 5.603 · about 44 s left"
    assert frac == pytest.approx(5 / 30)
    job.last = Progress("projection", 0, 1, message="UMAP of 9,740 movies, first time only")
    frac, md = jobs.progress_line(job)
    assert re.sub(r"\\(.)", r"\1", md) == "Training on ml-latest-small · Projection · UMAP of 9,740 movies, first time only"
    assert frac == 0.0, "a one-step stage keeps its bar but says no 'epoch 0/1'"


def test_messages_lose_server_paths_but_keep_the_dataset():
    msg = public_message("/srv/secret/data/ml-latest-small/ratings.csv: no ratings; see /home/op/x/y.csv")
    assert "/srv" not in msg and "/home" not in msg
    assert "ml-latest-small/ratings.csv" in msg
    assert public_message("see http://example.org/a/b") == "see http://example.org/a/b"


# --- a trained hostile dataset next to the bundled ml-100k ---------------------------------------


@pytest.fixture(scope="module")
def hostile_data(trained_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir holding the hostile release, trained (with its maps) into the session's artifacts."""
    data_dir = tmp_path_factory.mktemp("hostile-data")
    train_hostile(data_dir, trained_artifacts)
    return data_dir


def _dataset_key(name: str, data_dir: Path, artifacts: Path) -> str:
    """The key the app keeps taste ratings under for a dataset."""
    from recsys_core import EngineConfig, Explorer

    old = os.environ.get("RECSYS_ARTIFACTS_DIR")
    os.environ["RECSYS_ARTIFACTS_DIR"] = str(artifacts)
    try:
        src = name if name == "ml-100k" else str(data_dir / name)
        return Explorer.open(src, EngineConfig(), train=False).dataset_id
    finally:
        if old is not None:
            os.environ["RECSYS_ARTIFACTS_DIR"] = old


def test_taste_ratings_stay_with_their_dataset(app, hostile_data, trained_artifacts, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(hostile_data))
    k100 = _dataset_key("ml-100k", hostile_data, trained_artifacts)
    kh = _dataset_key(NAME, hostile_data, trained_artifacts)
    at = app(query={"dataset": "ml-100k"}, page="pages_/your_taste.py")
    at.session_state["taste_ratings"] = {k100: {50: 4, 172: 4}}  # Star Wars, Empire Strikes Back: 5 stars
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert "Your ratings (2)" in text and "Star Wars" in text
    assert at.session_state["w_star_50"] == 4

    at.selectbox(key="w_dataset").set_value(NAME).run()  # switch dataset: its own (empty) ratings
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "Your ratings" not in text and "Star Wars" not in text
    assert taste_recs(at) is None, "no recommendations from another dataset"
    assert at.session_state["taste_ratings"][k100] == {50: 4, 172: 4}, "the other dataset's ratings are kept"

    taste = dict(at.session_state["taste_ratings"])
    taste[kh] = {1: 4}  # id 1 is Toy Story on ml-100k, a hostile title here
    at.session_state["taste_ratings"] = taste
    at.run()
    text = " ".join(m.value for m in at.markdown)
    listed = " ".join(m.value for m in at.markdown if "★" in m.value)
    assert "Your ratings (1)" in text and "Toy Story" not in listed and "evil" in listed
    recs = taste_recs(at)
    assert recs is not None and not recs["Why"].str.contains("Star Wars").any()

    at.selectbox(key="w_dataset").set_value("ml-100k").run()  # and back: the ml-100k ratings again
    text = " ".join(m.value for m in at.markdown)
    listed = " ".join(m.value for m in at.markdown if "★" in m.value)  # the "Your ratings" list itself
    assert "Your ratings (2)" in text and "Star Wars" in listed and "Toy Story" not in listed
    assert at.session_state.get("w_star_1") is None


def test_a_very_long_title_is_shortened_where_it_is_written_inline(app, hostile_data, trained_artifacts, monkeypatch):
    """A 327-character title filled Explore's movie line over three lines and Your taste's column over thirteen."""
    from ui.format import TITLE_CHARS

    monkeypatch.setenv("RECSYS_DATA_DIR", str(hostile_data))
    at = app(query={"dataset": NAME, "movie": str(LONG_ID)})
    assert not at.exception, [e.value for e in at.exception]
    line = next(m.value for m in at.markdown if " ratings · " in m.value)
    shown = line.split("**")[1]
    assert shown.startswith("A Very Very") and shown.endswith("…") and len(shown) <= TITLE_CHARS
    at.switch_page("pages_/your_taste.py").run()
    at.session_state["taste_ratings"] = {_dataset_key(NAME, hostile_data, trained_artifacts): {LONG_ID: 3}}
    at.run()
    rated = [m.value for m in at.markdown if "★" in m.value and "A Very" in m.value]
    assert rated and "…" in rated[0] and len(rated[0]) <= TITLE_CHARS + 20, "the rated movie's line is short"
    assert LONG_TITLE not in " ".join(m.value for m in at.markdown)


def test_the_latent_space_says_which_alpha_a_map_shows(app):
    at = app(query={"alpha": "0.05"}, page="pages_/latent_space.py")
    assert not at.exception
    said = " ".join([b.label for b in at.button if b.key == "btn_blend_map"]
                    + [c.value for c in at.caption] + [i.value for i in at.info])
    assert "α = 0.05" in said, "the slider's α is named next to the map's"
    assert re.search(r"α = 0\.(00|10)", said), said


# --- Chromium: hostile data on every page that shows titles --------------------------------------

INJECTED = """() => ({
  links: Array.from(document.querySelectorAll('a')).filter(a => /evil/.test(
      a.getAttribute('href') || a.getAttribute('xlink:href') || (a.href && a.href.baseVal) || String(a.href || ''))
      || /evil\\.example/.test(a.textContent)).length,
  imgs: document.querySelectorAll('img[src="x"], svg[onload], [onerror]').length,
  scripts: Array.from(document.querySelectorAll('script')).filter(s => /__pwned/.test(s.textContent)).length,
  styled: document.querySelectorAll('b[style], [style*="color:red"], [style*="fill:red"]').length,
  pwned: typeof window.__pwned !== 'undefined',
  plotText: Array.from(document.querySelectorAll('.js-plotly-plot svg text'))
              .map(t => t.textContent).join('\\n'),
  bodyText: document.body.innerText.replace(/\\u200d/g, ''),
})"""


@pytest.fixture(scope="module")
def hostile_server(hostile_data: Path, trained_artifacts: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run app.py` with the hostile release in its data dir."""
    from benchmarks.serve import start_server, stop_server

    require_browser()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECSYS_DATA_DIR", str(hostile_data))
        proc, url = start_server(tmp_path_factory.mktemp("hserver") / "streamlit.log", trained_artifacts, 60)
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def hpage(browser: object, hostile_server: str) -> Iterator[tuple[object, list[str]]]:
    """One Chromium page on the hostile server, recording every dialog (alert, confirm) that fires."""
    context = browser.new_context(viewport={"width": 1600, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield pg, dialogs
    context.close()


def _settle(pg) -> None:
    """Wait until the run is over and every chart is drawn."""
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-stale=\"true\"]')"
        f" && Array.from(document.querySelectorAll('{CHARTS}'))"
        "      .every(c => c.querySelector('.main-svg'))", timeout=60_000)
    pg.wait_for_timeout(800)


def _check_clean(pg, dialogs: list[str], where: str) -> dict:
    """Nothing injected: no link to evil, no img/onerror, no script, no inline style, no dialog."""
    found = pg.evaluate(INJECTED)
    assert found["links"] == 0, f"{where}: a link was injected"
    assert found["imgs"] == 0, f"{where}: an element with onerror/onload was injected"
    assert found["scripts"] == 0 and not found["pwned"], f"{where}: a script was injected"
    assert found["styled"] == 0, f"{where}: a style attribute was injected"
    assert not dialogs, f"{where}: a dialog fired: {dialogs}"
    assert not pg.locator('[data-testid="stException"]').count(), where
    return found


def _hover_first_point(pg, layer: str = ".scatterlayer .point") -> None:
    """Move the mouse over a drawn (SVG) point so plotly renders its hover label into the DOM."""
    pts = pg.locator(f'.js-plotly-plot {layer}')
    if pts.count():
        box = pts.first.bounding_box()
        if box:
            pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            pg.wait_for_timeout(500)


@pytest.mark.browser
def test_hostile_titles_render_as_text_on_every_page(hpage, hostile_server):
    pg, dialogs = hpage
    q = f"?dataset={NAME}&movie=1&alpha=0.50"

    pg.goto(f"{hostile_server}/{q}")  # Explore: picker, facts line, three lists, the blend scatter
    pg.get_by_role("heading", name="Explore similar movies").wait_for()
    pg.wait_for_selector(".st-key-list_hybrid table.rs-list tbody tr", state="attached")
    _settle(pg)
    found = _check_clean(pg, dialogs, "Explore")
    assert '<a href="http://evil.example">x</a> (1996)' in found["bodyText"], "the title is shown as text"
    tips = pg.evaluate("() => Array.from(document.querySelectorAll('.st-key-blend_scatter .d'))"
                       "  .map(d => d.title.replace(/\\u200d/g, ''))")
    assert len(tips) == 20, "one dot per blended pick"
    assert any(t in tip for t in EVIL_TITLES[1:] for tip in tips), f"a hostile title is a tooltip's text: {tips[:3]}"

    pg.goto(f"{hostile_server}/latent-space{q}")  # maps: labels, legend (genres), hover
    pg.get_by_role("heading", name="Latent space").wait_for()
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3")
    _settle(pg)
    _hover_first_point(pg)
    found = _check_clean(pg, dialogs, "Latent space")
    assert '<a href="http://evil.example">' in found["plotText"], "the selected title is drawn as text"
    assert "<img src=x onerror=alert(1)>" in found["plotText"], "the genre legend is drawn as text"

    pg.goto(f"{hostile_server}/tune-blend{q}")  # heatmap tick labels and hover
    pg.get_by_role("heading", name="Tune the blend").wait_for()
    _settle(pg)
    pg.locator('[data-testid="stPlotlyChart"]').last.scroll_into_view_if_needed()
    _hover_first_point(pg, ".heatmaplayer")
    found = _check_clean(pg, dialogs, "Tune")
    assert any(t.split(" (")[0][:20] in found["plotText"] for t in EVIL_TITLES), "heatmap labels are text"

    pg.goto(f"{hostile_server}/your-taste{q}")  # star grid of popular (hostile) titles, then recommendations
    pg.get_by_role("heading", name="Your taste").wait_for()
    _settle(pg)
    pg.locator('[data-testid="stFeedback"]').first.get_by_role("radio", name="5 out of 5 stars").click()
    pg.wait_for_selector(".st-key-taste_recs table.rs-list tbody tr", state="attached")
    _settle(pg)
    found = _check_clean(pg, dialogs, "Your taste")
    assert "Your ratings (1)" in found["bodyText"]
    assert "http://evil.example/x" in found["bodyText"] or "www.evil.example" in found["bodyText"]

    pg.goto(f"{hostile_server}/data-model{q}")  # dataset name, manifest, metrics
    pg.get_by_role("heading", name="Data & model").wait_for()
    _settle(pg)
    found = _check_clean(pg, dialogs, "Data & model")
    assert str(Path.home()) not in found["bodyText"] and "/tmp/" not in found["bodyText"], "no server path shown"


# --- every page's address opens that page --------------------------------------------------------

ADDRESSES = [("", "Explore similar movies"), ("similar", "Explore similar movies"), ("explore", "Explore similar movies"),
             ("latent-space", "Latent space"), ("tune-blend", "Tune the blend"),
             ("your-taste", "Your taste"), ("data-model", "Data & model")]


@pytest.mark.browser
@pytest.mark.parametrize("path,heading", ADDRESSES, ids=[a[0] or "root" for a in ADDRESSES])
def test_each_page_address_opens_that_page(page, server, path, heading):
    page.goto(f"{server}/{path}")
    page.get_by_role("heading", name=heading).wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert not page.get_by_text("Page not found").count(), f"/{path} showed a 'Page not found' dialog"
    assert not page.get_by_text("open it from the start page").count()
    if path:
        assert re.search(rf"/{re.escape(path)}(\?|$)", page.url), page.url
