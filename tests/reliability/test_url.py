"""Hostile and malformed links through AppTest on app.py: a short notice and the default view, never an
exception, never HTML from the link. The common bad links (unknown id, alpha out of range, reversed years,
unknown dataset, ...) are in tests/ui/test_pages.py::test_a_bad_link_gives_a_notice_and_the_default;
these are the ones it does not try."""

from __future__ import annotations

import re

import pytest

from tests.ui.html_lists import explore_lists

STAR_WARS = 50  # ml-100k's most-rated movie: the default pick
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(1)">'

LINKS = {
    "alpha not a number": ({"alpha": "abc"}, "must be a number from 0"),
    "alpha inf": ({"alpha": "inf"}, "must be a number from 0"),
    "alpha hex": ({"alpha": "0x1p-1"}, "must be a number from 0"),
    "movie path": ({"movie": "../../etc/passwd"}, "not a MovieLens movie id"),
    "movie absolute path": ({"movie": "/etc/passwd"}, "not a MovieLens movie id"),
    "movie negative": ({"movie": "-1"}, "not a MovieLens movie id"),
    "movie float": ({"movie": "1e3"}, "not a MovieLens movie id"),
    "movie huge": ({"movie": "9" * 100}, "not a MovieLens movie id"),
    "movie zero": ({"movie": "0"}, "isn't in this dataset"),
    "genre script": ({"genres": SCRIPT}, "Unknown genre"),
    "genre img": ({"genres": IMG}, "Unknown genre"),
    "genre path": ({"genres": "../../etc/passwd,Drama"}, "Unknown genre"),
    "dataset script": ({"dataset": SCRIPT}, "isn't available here"),
    "dataset huge": ({"dataset": "x" * 100_000}, "isn't available here"),
    "dataset home": ({"dataset": "~/.ssh"}, "isn't available here"),
    "years script": ({"years": SCRIPT}, "should look like"),
    "years huge": ({"years": "1-99999"}, "should look like"),
    "years out of range": ({"years": "0001-0002"}, "outside this dataset"),
    "min ratings huge": ({"min_ratings": "9" * 30}, "whole number"),
    "genres very long": ({"genres": "Drama," * 3000}, "too long"),
    "control chars": ({"movie": "1\x00\x1b[2J"}, "not a MovieLens movie id"),
    "emoji": ({"genres": "🎬🍿"}, "Unknown genre"),
    "markdown injection": ({"movie": "[click](javascript:alert(1))"}, "not a MovieLens movie id"),
}

RAW_SCRIPT = re.compile(r"(?<!\\)<\s*script", re.I)  # the app draws its own inline SVG; never a script


def _texts(at) -> list[tuple[str, str, bool]]:
    """(element type, text, HTML allowed) for every text-bearing element of the page."""
    out = []
    for kind in ("html", "markdown", "caption", "warning", "error", "info", "success", "title", "header",
                 "subheader", "text", "code", "latex", "exception", "toast"):
        for el in getattr(at, kind, []):
            proto = getattr(el, "proto", None)
            allow = kind == "html" or (bool(getattr(proto, "allow_html", False)) if proto is not None else False)
            out.append((kind, str(getattr(el, "value", "") or getattr(el, "body", "")), allow))
    return out


@pytest.mark.parametrize("name", sorted(LINKS))
def test_hostile_link_gives_a_notice_and_the_default_view(app, name):
    query, expected = LINKS[name]
    at = app(query)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    notices = [w.value for w in at.warning]
    assert any(expected in n for n in notices), notices
    assert all(len(n) < 1200 for n in notices), "the notice stays short (long values are truncated)"
    assert at.session_state["view_dataset"] == "ml-100k"
    if "movie" in query:
        assert at.session_state["view_movie"] == STAR_WARS
    payloads = [v for v in query.values() if "<" in v]
    for kind, text, allow_html in _texts(at):
        assert not RAW_SCRIPT.search(text), f"a raw <script> in a {kind}: {text[:200]!r}"
        assert not any(p in text for p in payloads), f"the link's HTML reached a {kind} unescaped"
        assert not (allow_html and ("alert(1)" in text or "passwd" in text)), f"link text in an HTML {kind}"
    assert len(explore_lists(at).get("hybrid", [])) == 20, "the default lists are shown"


def test_repeated_parameters_take_the_last_and_survive(app):
    at = app({"movie": ["1", "abc"], "alpha": ["0.3", "2"]})
    assert not at.exception and not at.error
    assert at.session_state["view_movie"] == STAR_WARS
    assert any("not a MovieLens movie id" in w.value for w in at.warning)
