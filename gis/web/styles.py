"""Map styles: every colour, outline and class of gridmap's maps, defined once.

The Folium pages (``gis.web.region_page``, ``gis.web.upload_page``), their legends and the
MapLibre vector map (``tiles.viewer``, ``api/static/vector-map.js``) read them from here.  A
``Swatch`` is what a legend row shows: a zh-CN label and a colour.
"""

from __future__ import annotations

from typing import NamedTuple

from gis.catalogue import CENTRE_LEVEL_NAMES
from gis.settings import Settings
from gis.store.models import CENTRE_LEVELS


class Swatch(NamedTuple):
    """A legend row: what a colour means, and the colour."""

    label: str
    colour: str


LEVEL_NAMES = {"county": "区县", "street": "街道", "community": "社区", "grid": "网格"}
"""The map layer of each level's outlines, as the layer list names it."""
OUTLINES = {
    "county": {"color": "#222222", "weight": 3.5, "fill": False},
    "street": {"color": "#444444", "weight": 2.5, "fill": False, "dashArray": "8 4"},
    "community": {"color": "#555555", "weight": 1.8, "fill": False, "dashArray": "4 3"},
}
"""Outlines of the levels above the grids (Leaflet path options; the vector map's lines too)."""
FOCUS = {"fill": True, "fillColor": "#fee391", "fillOpacity": 0.35}
"""The region of a page that has nothing below it: filled, among its neighbours."""
NEIGHBOUR = {"color": "#888888", "weight": 1.2, "fill": True, "fillColor": "#cccccc"}
"""The neighbours of such a region."""

ROAD = {"color": "#9a9a9a", "weight": 1.5, "opacity": 0.9}
"""The roads under the service areas walked along them."""

GRID = {"color": "#3b3b3b", "weight": 1, "fillOpacity": 0.55}
"""A grid's outline and fill opacity (the fill is its household or coverage class)."""
GRID_HOVER = {"weight": 3, "color": "#000000"}
HIGHLIGHT = "#ff00ff"
"""The grid found by the search or the address box."""

HOUSEHOLD_CLASSES = {
    "below": Swatch("户数低于标准", "#9ecae1"),
    "within": Swatch("户数在标准内", "#a1d99b"),
    "above": Swatch("户数高于标准", "#fc9272"),
    "unknown": Swatch("户数未知", "#d9d9d9"),
}
"""Grids by households against the band ``Settings.grid_households_min``–``max``."""
COVERAGE_CLASSES = [
    (95, Swatch("≥ 95 %", "#1a9850")),
    (80, Swatch("80–95 %", "#a6d96a")),
    (50, Swatch("50–80 %", "#fdae61")),
    (0, Swatch("< 50 %", "#d73027")),
]
"""Grids by the share of households a centre reaches: (lowest percentage, swatch)."""

CENTRE_STYLES = {
    level: Swatch(CENTRE_LEVEL_NAMES[level], colour)
    for level, colour in zip(CENTRE_LEVELS, ("#b2182b", "#ef8a62", "#e6ab02"), strict=True)
}
"""Display name and colour of each centre level (``gis.store.models.CENTRE_LEVELS``)."""
CAMERA_COLOURS = {"online": "#2166ac", "offline": "#999999"}
"""Cameras on the Folium pages, by status; an online camera's field of view too."""
BLIND_COLOUR = "#e7298a"
"""Where no centre reaches."""

VECTOR = {
    "background": "#f4f2ec",
    "gridLine": "#666",
    "areaOutline": CENTRE_STYLES["centre"].colour,
    "cameraOnline": "#08519c",
    "cameraOffline": CAMERA_COLOURS["offline"],
    "sector": "#3182bd",
    "other": "#999",
    "label": "#222",
}
"""The vector map's own paint beside the shared classes: its cameras and their fields of view
are a darker and a lighter blue than the Folium pages' (small circles on a light ground)."""

CHANGES = {
    "added": Swatch("新增", "#1a9850"),
    "modified": Swatch("修改", "#2166ac"),
    "unchanged": Swatch("未变", "#969696"),
    "unknown": Swatch("未比较（有错误）", "#e6ab02"),
    "removed": Swatch("删除", "#762a83"),
}
"""What an upload does to a region, and its colour on the review page."""
PROBLEM_COLOURS = {"error": Swatch("错误", "#d7301f"), "warning": Swatch("警告", "#fc8d59")}
"""Validation problems by severity."""
CONTEXT_COLOUR = "#555555"
"""The stored regions around an upload."""


def household_class(households: int | None, settings: Settings) -> str:
    """The key of ``HOUSEHOLD_CLASSES`` for a grid of ``households``."""
    if households is None:
        return "unknown"
    if households < settings.grid_households_min:
        return "below"
    return "above" if households > settings.grid_households_max else "within"


def coverage_colour(pct: float | None) -> str:
    """The colour of a grid whose centres reach ``pct`` % of its households (None: no
    buildings to count)."""
    if pct is None:
        return HOUSEHOLD_CLASSES["unknown"].colour
    return next(swatch.colour for low, swatch in COVERAGE_CLASSES if pct >= low)
