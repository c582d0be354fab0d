"""The figures a page sends as AppTest sees them: the Latent space maps (``ui.map_chart``'s element) and every
``st.plotly_chart``."""

from __future__ import annotations

import json
import re

from ui.map_chart import COMPONENT, LIST_COMPONENT


def map_elements(at) -> list:
    """The page's map elements (drawn by the maps' own plotly bundle)."""
    return [e for e in at.get("bidi_component") if e.proto.component_name.endswith(COMPONENT)]


def figure_specs(at) -> dict[str, dict]:
    """Every figure on the page by its title (markup stripped): the maps, then plotly charts."""
    figs = [json.loads(json.loads(e.proto.json)["figure"]) for e in map_elements(at)]
    figs += [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {re.sub(r"<[^>]+>", "", f["layout"].get("title", {}).get("text", "")): f for f in figs}


def map_list(at) -> dict:
    """The Latent space map list's data: {"rows": [{"rank", "title", "row"}], "picked": row or None}."""
    return next(json.loads(e.proto.json) for e in at.get("bidi_component")
                if e.proto.component_name.endswith(LIST_COMPONENT))
