"""UI fixtures: one real training of the bundled ml-100k per session, AppTest, a live server, Chromium."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) does not put the root there
    sys.path.insert(0, str(ROOT))

from benchmarks.serve import start_server, stop_server  # noqa: E402
from tests.conftest import skip_or_fail, train_bundled  # noqa: E402

ARTIFACTS_OUT = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# A drawn chart's element: Streamlit's plotly chart, or the Latent space maps' own (ui/map_chart.py).
CHARTS = '[data-testid="stPlotlyChart"], [data-testid="stMapChart"]'
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def trained_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train the bundled default once through the facade (and its maps), so pages open it instantly."""
    return train_bundled(tmp_path_factory, maps=True)


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> Iterator[None]:
    """st.cache_* are process-global across AppTest runs: start every test from empty caches."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield


@pytest.fixture
def app(trained_artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run app.py in AppTest, optionally with query params; returns the ran AppTest."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(trained_artifacts))

    def run(query: dict[str, str] | None = None, page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        if query:
            at.query_params.update(query)
        at.run()
        if page:
            at.switch_page(page).run()
        return at

    return run


def open_panel(at: object, key: str) -> object:
    """Open a panel whose controls are drawn only while it is open, as a visitor's click on its header does."""
    at.session_state[key] = True
    return at.run()


# --- live server + browser ----------------------------------------------------------------------


def require_browser() -> None:
    """Skip (or fail under CI's RECSYS_REQUIRE_BROWSER=1) when Debian's chromium is missing."""
    if not CHROMIUM.exists():
        skip_or_fail(
            f"{CHROMIUM} not found: install it with `apt-get install chromium` to run the browser tests",
            "RECSYS_REQUIRE_BROWSER",
        )


@pytest.fixture(scope="session")
def server(trained_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port, opening the pre-trained cache."""
    require_browser()
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    try:
        proc, url = start_server(log_path, trained_artifacts, timeout_s=60)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def browser(server: str) -> Iterator[object]:
    """Headless Debian Chromium through Playwright (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object, server: str) -> Iterator[object]:
    """A fresh browser page (its own Streamlit session) with a desktop viewport."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def screenshot(pg: object, name: str) -> Path:
    """Save the whole scrolled page (Streamlit scrolls inside stMain) under test-artifacts/."""
    ARTIFACTS_OUT.mkdir(exist_ok=True)
    height = pg.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    width = pg.viewport_size["width"]
    pg.set_viewport_size({"width": width, "height": min(max(int(height), 800), 6000)})
    pg.wait_for_timeout(600)
    path = ARTIFACTS_OUT / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def cut_labels(pg: object) -> list[str]:
    """The text of everything on the page cut by an ellipsis, but table cells and a picked value in a select box
    (those are cut by design: the full text is a click away)."""
    return pg.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] *'))
            .filter(e => getComputedStyle(e).textOverflow === 'ellipsis' && e.clientWidth > 0
                && e.scrollWidth > e.clientWidth + 1 && !e.closest('[data-testid="stDataFrame"]')
                && !e.closest('[data-baseweb="select"]') && !e.closest('.js-plotly-plot'))
            .map(e => e.textContent.trim().slice(0, 80))""")
