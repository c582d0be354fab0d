"""Jobs outlive the page, on the real server (started as `make run` starts it) in real Chromium.

Each server here starts on an EMPTY artifacts folder, so it starts the default dataset's build as it starts
(``ui/startup.py``); its log line "job started: <stage>" counts how many times each job really ran.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import require_browser
from tests.ui.test_browser import wait_lists

pytestmark = pytest.mark.browser

TOKEN = "op-secret-token"


class Server:
    """A dashboard on an empty artifacts folder, with its log for counting jobs."""

    def __init__(self, root: Path) -> None:
        from benchmarks.serve import start_server

        self.log = root / "streamlit.log"
        (root / "artifacts").mkdir()
        self.proc, self.url = start_server(self.log, root / "artifacts", timeout_s=60,
                                           env_extra={"RECSYS_OPERATOR_TOKEN": TOKEN})

    def started(self, stage: str, detail: str = "-") -> int:
        """How many times a job of ``stage`` (and detail) started on this server."""
        return len(re.findall(rf"job started: {re.escape(stage)} {re.escape(detail)} ", self.log.read_text()))

    def wait_log(self, pattern: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not re.search(pattern, self.log.read_text()):
            assert time.monotonic() < deadline, f"{pattern!r} not in the server log:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        from benchmarks.serve import stop_server

        stop_server(self.proc)


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[Server]:
    require_browser()
    srv = Server(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def chromium(browser: object) -> object:
    """The session's Chromium (one Playwright per process: a second sync_playwright inside it is refused)."""
    return browser


def _visit(browser: object, url: str) -> tuple[object, object]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    pg.goto(url)
    return ctx, pg


def test_a_build_outlives_the_visitor_who_started_it(empty_server: Server, chromium: object) -> None:
    """The first visitor leaves 5 s into the first start; the build goes on alone, once; the next visitor
    (after it finished) sees the three lists within 15 s."""
    ctx, pg = _visit(chromium, empty_server.url)
    pg.get_by_text(re.compile("First start on")).wait_for(timeout=30_000)
    pg.wait_for_timeout(5_000)
    ctx.close()  # the visitor leaves mid-build
    empty_server.wait_log(r"job done: lists", timeout_s=120)
    ctx2, pg2 = _visit(chromium, empty_server.url)
    t0 = time.monotonic()
    wait_lists(pg2)
    assert time.monotonic() - t0 < 15.0
    ctx2.close()
    assert empty_server.started("lists") == 1


def test_the_server_builds_the_default_dataset_before_any_visitor(empty_server: Server, chromium: object) -> None:
    """`streamlit run app.py` starts the default dataset's build itself: with nobody on the page it finishes,
    once, and the first visitor after it is served from the cache."""
    empty_server.wait_log(r"job done: lists", timeout_s=120)
    assert list((empty_server.log.parent / "artifacts").glob("*/*/manifest.json")), "no artifact was written"
    ctx, pg = _visit(chromium, empty_server.url)
    wait_lists(pg)
    assert pg.get_by_text(re.compile("First start on")).count() == 0
    ctx.close()
    assert empty_server.started("lists") == 1, empty_server.log.read_text()[-2000:]


def test_ten_visitors_at_once_cause_one_build_and_clicks_do_not_restart_it(empty_server: Server,
                                                                         chromium: object) -> None:
    ctx, first = _visit(chromium, empty_server.url)
    # a click while the first start builds: it reruns that visitor's page, never the server's job
    first.get_by_role("link", name=re.compile("Data & model")).first.click()
    first.wait_for_timeout(500)
    first.goto(empty_server.url)
    visitors = [(ctx, first)] + [_visit(chromium, empty_server.url) for _ in range(9)]
    t0 = time.monotonic()
    for _, pg in visitors:  # within the test's own bound below (each wait alone defaults to 60 s)
        wait_lists(pg, timeout_s=max(1.0, 120 - (time.monotonic() - t0)))
    waited = time.monotonic() - t0
    for ctx, _ in visitors:
        ctx.close()
    assert empty_server.started("lists") == 1, empty_server.log.read_text()[-2000:]
    assert waited < 120


def test_two_visitors_on_latent_space_cause_one_umap_run_per_map(empty_server: Server, chromium: object) -> None:
    ctx, pg = _visit(chromium, empty_server.url)
    wait_lists(pg)  # the lists' build is done; the maps are not computed yet
    ctx.close()
    visitors = [_visit(chromium, f"{empty_server.url}/latent-space") for _ in range(2)]
    for _, pg in visitors:
        pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                             timeout=240_000)
    for ctx, _ in visitors:
        ctx.close()
    assert empty_server.started("map", "content") == 1
    assert empty_server.started("map", "collab") == 1


def test_the_base_maps_follow_the_metrics_and_latent_space_opens_drawn(empty_server: Server,
                                                                       chromium: object) -> None:
    """After the lists the server goes on alone: the rating model, the evaluation, then the two base maps; a visitor
    who opens Latent space afterwards finds both maps drawn, with no UMAP run of their own."""
    ctx, pg = _visit(chromium, empty_server.url)
    wait_lists(pg)
    ctx.close()  # nobody is left on the dashboard
    empty_server.wait_log(r"job done: map collab", timeout_s=300)
    log = empty_server.log.read_text()
    assert log.index("job started: evaluate") < log.index("job started: map content"), log[-2000:]
    ctx, pg = _visit(chromium, f"{empty_server.url}/latent-space")
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2", timeout=60_000)
    assert pg.get_by_text(re.compile("Drawing the (content|collab) map")).count() == 0
    ctx.close()
    assert empty_server.started("map", "content") == 1 and empty_server.started("map", "collab") == 1


def test_visitors_cannot_train_or_clear_caches_the_operator_can(empty_server: Server, chromium: object) -> None:
    ctx, pg = _visit(chromium, empty_server.url)
    wait_lists(pg)
    pg.goto(f"{empty_server.url}/data-model")
    pg.get_by_text(re.compile("Clearing the caches is for the operator")).wait_for()
    assert pg.get_by_role("button", name=re.compile("^Train$")).count() == 0
    assert pg.get_by_role("button", name=re.compile("Clear the dashboard")).count() == 0
    assert pg.get_by_role("button", name=re.compile("^Download$")).count() == 0
    ctx.close()
    ctx, pg = _visit(chromium, f"{empty_server.url}/data-model?operator={TOKEN}")
    pg.get_by_role("button", name=re.compile("Clear the dashboard")).wait_for()
    assert pg.get_by_role("button", name=re.compile("Train")).count() >= 1
    assert "operator=" not in pg.url  # the token leaves the address bar
    ctx.close()


def test_on_loopback_a_session_through_a_proxy_is_a_visitor(server: str, browser: object) -> None:
    """No token, the default 127.0.0.1: a local session is the operator's; one a reverse proxy passed on (a
    forwarding header on its connection) browses as a visitor."""
    proxied = browser.new_context(viewport={"width": 1400, "height": 900},
                                  extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    pg = proxied.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(f"{server}/data-model")
    pg.get_by_text(re.compile("Clearing the caches is for the operator")).wait_for()
    assert pg.get_by_role("button", name=re.compile("Clear the dashboard")).count() == 0
    proxied.close()
    local, pg = _visit(browser, f"{server}/data-model")
    pg.get_by_role("button", name=re.compile("Clear the dashboard")).wait_for()
    local.close()
