"""A MapLibre GL JS page of the vector tiles (zh-CN, no network beyond gridmap):
what the page shows, given to its script (``api/templates/vector.html``,
``api/static/vector-map.js``) as JSON.

Every tile layer is a vector source read from its TileJSON; grids are coloured by households
against the standard band, outlines by level, centres and cameras as circles with their service
areas and fields of view; names of counties, streets, communities and grids as labels (from the
``labels`` layer: one point a region) from the zooms of ``gis.store.generalised.LEVEL_ZOOMS``
(8, 10, 12 and 14), of centres from 15; each boundary layer from its level's zoom there (its
TileJSON's ``minzoom``). The style has no ``glyphs`` URL, so MapLibre (≥ 5) draws every
character in the browser (TinySDF) with the fonts of ``LABEL_FONT`` — no glyph files to serve,
Chinese and digits alike; such a style fails MapLibre's style validation ("text-field requires
glyphs"), which the page therefore turns off. MapLibre comes from ``/vendor``
(``gis.web.map_assets``). The office base maps (``GET /api/v1/basemaps``) are chosen in the
page's panel, the first shown: a raster one as a raster source, a vector one drawn in
``BASEMAP_STYLE`` (every layer of the file: areas, lines, points); none, a plain background.
Colours and outlines are the Folium pages' (``gis.web.styles``).
"""

from __future__ import annotations

from typing import Any

from gis.catalogue import REGION_LAYERS
from gis.settings import Settings
from gis.store.generalised import LEVEL_ZOOMS
from gis.web.map_assets import PACKAGES, VENDOR_URL
from gis.web.styles import CENTRE_STYLES, GRID, HOUSEHOLD_CLASSES, OUTLINES, VECTOR
from tiles.layers import LAYERS

MAPLIBRE = next(p for p in PACKAGES if p.name == "maplibre-gl")
MAPLIBRE_JS = f"{VENDOR_URL}/{MAPLIBRE.dirname}/dist/maplibre-gl.js"
MAPLIBRE_CSS = f"{VENDOR_URL}/{MAPLIBRE.dirname}/dist/maplibre-gl.css"

LABEL_FONT = ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC"]
"""CSS font families of the labels, in order (then the browser's sans-serif)."""

BASEMAP_STYLE = {"fill": "#ebe7dc", "fillOpacity": 0.9, "line": "#b5ad9a", "lineWidth": 0.6}
"""The plain default style of a vector office base map: muted, under gridmap's colours."""

TOGGLES = (
    ("grids", "网格"),
    ("communities", "社区/村"),
    ("streets", "街道/乡镇"),
    ("counties", "县"),
    ("centres", "党群服务阵地"),
    ("centre_areas", "服务范围"),
    ("cameras", "摄像机"),
    ("camera_sectors", "摄像机视域"),
)


def viewer_config(
    settings: Settings,
    *,
    bounds: list[float],
    version: int | None,
    as_of: int | None,
) -> dict[str, Any]:
    """What the page's script needs (``bounds``: west, south, east, north, the initial view)."""
    band = [settings.grid_households_min, settings.grid_households_max]
    legend = [
        (f"{label}" + (f" ({band[0]}–{band[1]} 户)" if key == "within" else ""), colour)
        for key, (label, colour) in HOUSEHOLD_CLASSES.items()
    ] + [(label, colour) for label, colour in CENTRE_STYLES.values()]
    return {
        "layers": {
            name: {"versioned": layer.versioned, "minZoom": layer.min_zoom}
            for name, layer in LAYERS.items()
        },
        "labelZooms": {level: zooms.labels_from for level, zooms in LEVEL_ZOOMS.items()},
        "toggles": TOGGLES,
        "band": band,
        "colours": {key: colour for key, (_, colour) in HOUSEHOLD_CLASSES.items()},
        "gridOpacity": GRID["fillOpacity"],
        "outlines": {
            REGION_LAYERS[level].name: {
                "color": style["color"],
                "width": style["weight"],
                "dash": [float(d) for d in str(style.get("dashArray", "")).split()] or None,
            }
            for level, style in OUTLINES.items()
        },
        "paint": VECTOR,
        "centreColours": [v for level, (_, c) in CENTRE_STYLES.items() for v in (level, c)],
        "centreNames": {level: name for level, (name, _) in CENTRE_STYLES.items()},
        "legend": legend,
        "bounds": bounds,
        "version": version,
        "asOf": as_of,
        "maxZoom": settings.tile_max_zoom,
        "labelFont": LABEL_FONT,
        "basemapStyle": BASEMAP_STYLE,
    }
