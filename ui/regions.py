"""Where labels go on a map at its default zoom: greedy placement that never lets two labels overlap.

Pure (no Streamlit, no plotly): labels are boxes estimated from their text length and font size in pixels.
The selected movie's and its first neighbours' titles are placed first, each beside its point (a line joins
them); then the regions' labels, biggest region first, each at its centre or one of four nudges, clear of
everything placed. A label that fits nowhere is left out rather than drawn over another one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

CHAR_W = 0.62  # average glyph width as a share of the font size (plotly's default sans-serif)
LINE_H = 1.5  # box height as a share of the font size, with the annotation's padding
PAD_PX = 4.0


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels (y up)


@dataclass(frozen=True)
class Placed:
    """A label that fits: its anchor in data coordinates and its estimated box in pixels."""

    text: str
    x: float
    y: float
    box: Box
    size: int


def text_box(text: str, font_px: float) -> tuple[float, float]:
    """Estimated (width, height) in pixels of a one-line label."""
    return len(text) * font_px * CHAR_W + 2 * PAD_PX, font_px * LINE_H


def overlaps(a: Box, b: Box) -> bool:
    """Whether two pixel boxes intersect."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


Convert = Callable[[float, float], tuple[float, float]]


def _pixels(x_range: tuple[float, float], y_range: tuple[float, float], width_px: float,
            height_px: float) -> tuple[Convert, Convert]:
    """Data coordinates -> pixels from the plot's bottom-left corner, and back."""
    (x0, x1), (y0, y1) = x_range, y_range
    sx, sy = width_px / max(x1 - x0, 1e-12), height_px / max(y1 - y0, 1e-12)
    return (lambda x, y: ((x - x0) * sx, (y - y0) * sy)), (lambda px, py: (x0 + px / sx, y0 + py / sy))


def _free_spot(px: float, py: float, w: float, h: float, nudges: Sequence[tuple[float, float]], width_px: float,
               height_px: float, taken: Sequence[Box]) -> tuple[float, float, Box] | None:
    """The first nudge (dx, dy) from (px, py) whose w x h box lies inside the plot and clear of ``taken``."""
    for dx, dy in nudges:
        cx, cy = px + dx, py + dy
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if box[0] >= 0 and box[1] >= 0 and box[2] <= width_px and box[3] <= height_px \
                and not any(overlaps(box, t) for t in taken):
            return dx, dy, box
    return None


def place_labels(items: Sequence[tuple[str, float, float, int]], x_range: tuple[float, float],
                 y_range: tuple[float, float], width_px: float, height_px: float,
                 font_px: float = 11.0, taken: Sequence[Box] = ()) -> list[Placed]:
    """Place (text, x, y, size) labels biggest first, each inside the plot and clear of every placed one (and of
    the ``taken`` pixel boxes: the point labels drawn first)."""
    to_px, to_data = _pixels(x_range, y_range, width_px, height_px)
    boxes = list(taken)
    placed: list[Placed] = []
    for text, x, y, size in sorted(items, key=lambda it: -it[3]):
        w, h = text_box(text, font_px)
        px, py = to_px(x, y)
        nudges = ((0, 0), (0, h), (0, -h), (w * 0.6, 0), (-w * 0.6, 0), (0, 2 * h), (0, -2 * h))
        spot = _free_spot(px, py, w, h, nudges, width_px, height_px, boxes)
        if spot is not None:
            dx, dy, box = spot
            placed.append(Placed(text, *to_data(px + dx, py + dy), box, size))
            boxes.append(box)
    return placed


@dataclass(frozen=True)
class PointLabel:
    """A label of one point: the point in data coordinates, the label's offset from it and its box in pixels."""

    text: str
    order: int  # its place in the items given (0: the first, e.g. the selected movie)
    x: float
    y: float
    dx: float  # pixels right of the point
    dy: float  # pixels above the point
    box: Box


def place_point_labels(items: Sequence[tuple[str, float, float]], x_range: tuple[float, float],
                       y_range: tuple[float, float], width_px: float, height_px: float, font_px: float = 10.0,
                       marker_px: float = 16.0) -> list[PointLabel]:
    """Place (text, x, y) labels of single points in the order given: beside the point (above, below, either side,
    the corners, then further out), inside the plot, clear of the other labels and of the first point's marker.

    Neighbours of a movie sit close together on a map, so their labels drawn at the points pile up unreadably;
    here each label moves to the nearest free spot (a line joins it to its point) or is left out."""
    to_px, _ = _pixels(x_range, y_range, width_px, height_px)
    placed: list[PointLabel] = []
    boxes: list[Box] = []
    if items:
        px, py = to_px(items[0][1], items[0][2])
        boxes.append((px - marker_px / 2, py - marker_px / 2, px + marker_px / 2, py + marker_px / 2))
    for order, (text, x, y) in enumerate(items):
        w, h = text_box(text, font_px)
        v, side = h / 2 + 6, w / 2 + 8
        nudges = ((0, v), (0, -v), (side, 0), (-side, 0), (side, v), (-side, v), (side, -v), (-side, -v),
                  (0, v + h), (0, -v - h), (side, v + h), (-side, v + h), (side, -v - h), (-side, -v - h),
                  (0, v + 2 * h), (0, -v - 2 * h))
        spot = _free_spot(*to_px(x, y), w, h, nudges, width_px, height_px, boxes)
        if spot is not None:
            dx, dy, box = spot
            placed.append(PointLabel(text, order, x, y, dx, dy, box))
            boxes.append(box)
    return placed


def padded_range(values: Sequence[float], pad: float = 0.04) -> tuple[float, float]:
    """The axis range plotly shows by default for a scatter (data range plus a small margin)."""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return lo - pad * span, hi + pad * span
