"""Code updated under a running server (a pull or an edit): the server keeps the modules it loaded while each
page's script is read anew, so the page says to restart it instead of "try reloading"."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.ui.conftest import ROOT, require_browser
from tests.ui.test_browser import wait_lists
from ui.code_version import changed_since_start, snapshot


def _copy_app(to: Path) -> Path:
    """A checkout of the app's code in ``to`` (the bundled data linked, not copied); returns its app.py."""
    to.mkdir()
    for name in ("app.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, to / name)
    for name in ("ui", "pages_", "recsys_core", "static"):
        shutil.copytree(ROOT / name, to / name, ignore=shutil.ignore_patterns("__pycache__"))
    (to / "data").symlink_to(ROOT / "data", target_is_directory=True)
    return to / "app.py"


def test_an_edited_added_or_removed_module_is_a_change_and_a_touch_or_bytecode_is_not(tmp_path: Path) -> None:
    (tmp_path / "ui" / "sub").mkdir(parents=True)
    (tmp_path / "app.py").write_text("")
    (tmp_path / "ui" / "a.py").write_text("A = 1\n")
    (tmp_path / "ui" / "sub" / "b.py").write_text("B = 1\n")
    loaded = snapshot(tmp_path)
    assert set(loaded) == {str(tmp_path / p) for p in ("app.py", "ui/a.py", "ui/sub/b.py")}
    assert not changed_since_start(tmp_path, loaded)
    # Python writing bytecode for a module imported later, other files, a file touched or put back: no change
    (tmp_path / "ui" / "sub" / "__pycache__").mkdir()
    (tmp_path / "ui" / "sub" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"")
    (tmp_path / "ui" / "notes.txt").write_text("not code")
    later = time.time() + 5
    os.utime(tmp_path / "ui" / "a.py", (later, later))
    assert not changed_since_start(tmp_path, loaded)
    (tmp_path / "ui" / "sub" / "b.py").write_text("B = 2\n")
    assert changed_since_start(tmp_path, loaded), "an edited module"
    (tmp_path / "ui" / "sub" / "b.py").write_text("B = 1\n")
    assert not changed_since_start(tmp_path, loaded), "the edit undone (git checkout)"
    (tmp_path / "ui" / "c.py").write_text("C = 1\n")
    assert changed_since_start(tmp_path, loaded), "an added module"
    (tmp_path / "ui" / "c.py").unlink()
    (tmp_path / "ui" / "a.py").unlink()
    assert changed_since_start(tmp_path, loaded), "a removed module"
    assert not changed_since_start(tmp_path / "gone", loaded), "an unreadable checkout is not a change"


@pytest.mark.browser
def test_a_page_updated_under_a_running_server_asks_for_a_restart(tmp_path: Path, trained_artifacts: Path,
                                                                  browser: object) -> None:
    from benchmarks.serve import start_server, stop_server

    require_browser()
    app = _copy_app(tmp_path / "checkout")
    proc, url = start_server(tmp_path / "streamlit.log", trained_artifacts, timeout_s=60, app=app)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pg = ctx.new_page()
        pg.goto(url)
        wait_lists(pg)
        restart = re.compile(r"code on disk changed after this server started.*restart the server")
        assert not pg.get_by_text(restart).count(), "nothing changed yet"
        # an update lands: a module gains a name and the landing page uses it
        lists_py = app.parent / "ui" / "lists.py"
        lists_py.write_text(lists_py.read_text() + '\nUPDATE_NOTE = "Updated."\n')
        page_py = app.parent / "pages_" / "explore.py"
        page_py.write_text(page_py.read_text().replace(
            "row = picker.movie_picker(ex)", "st.caption(lists.UPDATE_NOTE)\nrow = picker.movie_picker(ex)", 1))
        pg.reload()
        pg.get_by_role("heading", name="Explore similar movies").wait_for(timeout=60_000)
        main = pg.locator('[data-testid="stMain"]')
        main.get_by_text(restart).wait_for(timeout=30_000)
        assert "Try reloading" not in main.inner_text(), "a reload cannot mend it"
        # every loopback session is the operator's: the sidebar says so on every page, errors or not
        pg.goto(f"{url}/your-taste")
        pg.get_by_role("heading", name="Your taste").wait_for(timeout=60_000)
        pg.locator('[data-testid="stSidebar"]').get_by_text(restart).wait_for(timeout=30_000)
        assert not pg.locator('[data-testid="stException"]').count()
        assert "code on disk changed" in (tmp_path / "streamlit.log").read_text(), "the server log says it too"
    finally:
        ctx.close()
        stop_server(proc)
