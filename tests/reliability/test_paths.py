"""A dataset name never resolves outside the data directory; the UI never takes a filesystem path."""

from __future__ import annotations

import os

import pytest

from recsys_core.data import registry
from recsys_core.errors import DatasetError, RecsysError


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "datadir"
    d.mkdir()
    monkeypatch.setenv("RECSYS_DATA_DIR", str(d))
    return d


@pytest.mark.parametrize("name", ["../etc", "../../etc/passwd", "/etc/passwd", "ml-1m/../../x", "..", ".",
                                  "", "ml-1m\x00", "~root", "ml-1m/", "ML-1M", "ml-1m " * 50])
def test_names_outside_the_registry_are_refused(name, data_dir):
    with pytest.raises(DatasetError, match="unknown dataset .*choose one of ml-100k"):
        registry.release_dir(name)


def test_a_symlinked_release_pointing_outside_is_refused(data_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ratings.csv").write_text("secret")
    os.symlink(outside, data_dir / "ml-1m")
    with pytest.raises(DatasetError, match="points outside the data dir"):
        registry.release_dir("ml-1m")


def test_every_registry_name_stays_inside(data_dir):
    for name, rel in registry.RELEASES.items():
        path = registry.release_dir(name).resolve()
        base = registry.BUNDLED_DIR.parent if rel.bundled else data_dir.resolve()
        assert path.is_relative_to(base), (name, path)


@pytest.mark.parametrize("name", ["../outside", "../../etc", "/etc", "..", "sub/../../x"])
def test_the_ui_resolves_only_names_in_the_data_dir(name, data_dir, tmp_path):
    from ui import cached

    (tmp_path / "etc").mkdir(exist_ok=True)
    with pytest.raises(RecsysError, match="not in the data directory; pick one from the sidebar list"):
        cached.dataset_source(name)


def test_the_dataset_selector_offers_only_registry_and_data_dir_entries(app, data_dir, tmp_path):
    (data_dir / "my-release").mkdir()
    (data_dir / "my-release" / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    (data_dir / "not-a-dataset").mkdir()
    os.symlink(tmp_path, data_dir / ".hidden")
    at = app()
    assert not at.exception
    box = at.selectbox(key="w_dataset")
    allowed = {r["name"] for r in registry.list_releases() if r["present"]} | {"my-release"}
    assert set(box.options) <= allowed and "ml-100k" in box.options
    assert not any(("/" in o or o.startswith(".")) for o in box.options)


def test_no_text_box_in_any_page_is_used_as_a_path(app):
    """Type a path into every text box of every page: nothing is opened, the dataset stays the same."""
    from streamlit.testing.v1 import AppTest  # noqa: F401 (AppTest runs through the fixture)

    pages = ["pages_/explore.py", "pages_/latent_space.py", "pages_/tune.py", "pages_/your_taste.py",
             "pages_/data_model.py"]
    seen = 0
    for page in pages:
        at = app()
        at.switch_page(page).run()
        assert not at.exception, page
        for box in list(at.text_input):
            seen += 1
            box.set_value("../../../../etc/passwd").run()
            assert not at.exception, (page, box.label)
            assert at.session_state["view_dataset"] == "ml-100k"
            text = " ".join(str(e.value) for e in [*at.error, *at.warning, *at.info, *at.markdown])
            assert "root:x:0:0" not in text, "a file's content reached the page"
    assert seen >= 2, "the pages' text boxes were exercised"
