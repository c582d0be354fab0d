"""The list tables (Explore's three, Your taste's) read back from the HTML a page sends, as AppTest sees it."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd


class _Tables(HTMLParser):
    """Every <table class="rs-list"> of a body as (headers, rows of cell texts, row classes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[list[str], list[list[str]], list[str]]] = []
        self._cell: list[str] | None = None
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "rs-list" in (a.get("class") or ""):
            self._in = True
            self.tables.append(([], [], []))
        elif self._in and tag == "tr":
            head, rows, classes = self.tables[-1]
            if head:  # the header row comes first
                rows.append([])
                classes.append(a.get("class") or "")
        elif self._in and tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in = False
        elif self._in and tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell).strip()
            head, rows, _ = self.tables[-1]
            (head if tag == "th" else rows[-1]).append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(body: str) -> list[pd.DataFrame]:
    """The list tables in one HTML body, numbers as numbers; ``agree`` says which rows are tinted."""
    p = _Tables()
    p.feed(body)
    out = []
    for head, rows, classes in p.tables:
        df = pd.DataFrame(rows, columns=head)
        for col in ("#", "Ratings"):
            if col in df:
                df[col] = df[col].str.replace(",", "").astype(int)
        df.attrs["agree"] = ["agree" in c for c in classes]
        out.append(df)
    return out


def explore_lists(at) -> dict[str, pd.DataFrame]:
    """Explore's three lists in page order: content, collaborative, blended (fewer when a list is empty)."""
    frames = [df for el in at.html for df in html_tables(el.value)]
    return dict(zip(("content", "collab", "hybrid"), frames, strict=False))


def taste_recs(at) -> pd.DataFrame | None:
    """Your taste's recommendations table, if the page shows one."""
    frames = [df for el in at.html for df in html_tables(el.value) if "Why" in df and "Score" in df]
    return frames[0] if frames else None
