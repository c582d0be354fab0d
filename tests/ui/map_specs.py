"""The figures a page sends as AppTest sees them (the Latent space maps and list, ``ui.map_chart``'s elements, and
every ``st.plotly_chart``), and the selection event a box on a map sends back."""

from __future__ import annotations

import json
import re

from ui.map_chart import COMPONENT, LIST_COMPONENT


def _elements(at, name: str) -> list:
    """The page's elements of one of ``ui.map_chart``'s components."""
    return [e for e in at.get("bidi_component") if e.proto.component_name.endswith(name)]


def map_elements(at) -> list:
    """The page's map elements (drawn by the maps' own plotly bundle)."""
    return _elements(at, COMPONENT)


def figure_specs(at) -> dict[str, dict]:
    """Every figure on the page by its title (markup stripped): the maps, then plotly charts."""
    figs = [json.loads(json.loads(e.proto.json)["figure"]) for e in map_elements(at)]
    figs += [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {re.sub(r"<[^>]+>", "", f["layout"].get("title", {}).get("text", "")): f for f in figs}


def map_list(at) -> dict:
    """The Latent space map list's data: {"rows": [{"rank", "title", "row"}], "picked": row or None}."""
    return json.loads(_elements(at, LIST_COMPONENT)[0].proto.json)


def box_event(rows: list[int]) -> dict:
    """What a box drawn over these catalogue rows on a map reports (as st.plotly_chart and ui.map_chart do)."""
    return {"selection": {
        "points": [{"customdata": [r, 1, 1], "point_index": i, "curve_number": 0, "x": 0.0, "y": 0.0}
                   for i, r in enumerate(rows)],
        "point_indices": list(range(len(rows))), "box": [{"x": [0, 1], "y": [0, 1]}], "lasso": []}}
