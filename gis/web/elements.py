"""The parts of a Folium page written here: their scripts are Jinja2 templates in
``gis/web/templates/*.js`` (Folium's ``{% macro script(this, kwargs) %}`` form, rendered into
the page's one inline script), their HTML in ``templates/page.html`` (autoescaped).

Every value from the database or a user reaches the page as text: popups and tooltips escape
Folium's HTML, names are set with ``textContent``, and branca never renders rendered text again
(``_Literal``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import branca.element
import folium
import jinja2
import shapely
from branca.element import Element, MacroElement
from folium.features import GeoJsonDetail
from folium.template import Template as FoliumTemplate

from gis.web.styles import CAMERA_COLOURS, HIGHLIGHT

TEMPLATES = Path(__file__).resolve().parent / "templates"
_SCRIPTS = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False)
_HTML = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
HTML = _HTML.get_template("page.html").module
"""The macros of ``page.html``: ``head(css)``, ``title(text)``, ``legend(title, rows, note)``."""


class _Literal:
    """Text an ``Element`` shows as it is.

    branca wraps what each element's template has rendered in ``Element(text)``, which
    compiles that text as a Jinja template and renders it again: a name holding ``{{ … }}``
    (user data inside the rendered JSON) would run on the server.  Every template is loaded
    at import, so a string reaching branca's ``Template`` at run time is rendered output (or
    our own ``<meta>``/``<style>``/``<title>``): kept literal."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.text


def _literal_or_template(source: Any, *args: Any, **kwargs: Any) -> Any:
    return _Literal(source) if isinstance(source, str) else jinja2.Template(source, *args, **kwargs)


branca.element.Template = _literal_or_template  # type: ignore[assignment,misc]
if Element("{{ 1 }}").render() != "{{ 1 }}":  # a branca upgrade changed how elements render
    raise RuntimeError("gis.web.elements cannot keep branca from rendering rendered text again")

# Folium's templates share one Jinja environment: compact JSON, Chinese as UTF-8 (``tojson``
# still escapes <, >, & and ' for the HTML around it)
folium.GeoJson._template.environment.policies["json.dumps_kwargs"] = {
    "separators": (",", ":"),
    "ensure_ascii": False,
    "sort_keys": True,
}


_ESCAPING = (TEMPLATES / "popup_escaping.js").read_text(encoding="utf-8").rstrip("\n")
_DETAIL = GeoJsonDetail.base_template.replace("let handleObject = feature => {", _ESCAPING, 1)
if "rawValue" not in _DETAIL:  # a Folium upgrade changed the template
    raise RuntimeError("gis.web.elements cannot make Folium's popups escape their values")


def _bound(method: str, options: str) -> FoliumTemplate:
    """Folium's popup/tooltip script with ``_DETAIL`` as the content function."""
    return FoliumTemplate(
        "{% macro script(this, kwargs) %}{{ this._parent.get_name() }}."
        f"{method}({_DETAIL},{{{{ this.{options} | tojavascript }}}});{{% endmacro %}}"
    )


class _TextDetail(GeoJsonDetail):
    """Popup and tooltip rules: values show as text; a layer filled in the browser (no
    features yet) is not checked against its first feature."""

    def render(self, **kwargs: Any) -> None:
        if isinstance(self._parent, folium.GeoJson) and not self._parent.data["features"]:
            MacroElement.render(self, **kwargs)
        else:
            super().render(**kwargs)


class Popup(_TextDetail, folium.GeoJsonPopup):
    """A GeoJSON popup whose values show as text (Folium's put them in as HTML)."""

    _template = _bound("bindPopup", "popup_options")


class Tooltip(_TextDetail, folium.GeoJsonTooltip):
    """A GeoJSON tooltip whose values show as text (Folium's put them in as HTML)."""

    _template = _bound("bindTooltip", "tooltip_options")


LABEL_ZOOMS = {"county": 0, "street": 11, "community": 13}
"""The zoom from which a level's names show.  One level is labelled at a time, one label a
region: the finest level on the page whose zoom is reached (the coarsest below them all)."""


class Labels(MacroElement):
    """Region names at a point inside each region (``[lon, lat, level, name]`` rows), the
    level shown chosen by zoom (``LABEL_ZOOMS``) so labels never pile up; names as text."""

    _template = _SCRIPTS.get_template("labels.js")

    def __init__(self, features: list[dict[str, Any]], geoms: Any) -> None:
        super().__init__()
        self.zooms = LABEL_ZOOMS
        picked = [i for i, f in enumerate(features) if f["properties"]["level"] in LABEL_ZOOMS]
        points = shapely.get_coordinates(shapely.point_on_surface(geoms[picked]))
        props = [features[i]["properties"] for i in picked]
        self.rows = [
            [round(x, 6), round(y, 6), p["level"], p["name"]]
            for p, (x, y) in zip(props, points.tolist(), strict=True)
        ]


class Basemaps(MacroElement):
    """The base maps as choices in the layer list, ``current`` selected.  The overlays are
    drawn in one ``datum`` (GCJ-02 for AMap, else WGS84): picking a base map of the other
    datum reloads the page with ``?basemap=`` — offered only on a served page, not in an
    exported file.  ``choices``: key, name, url, subdomains, attribution, datum."""

    _template = _SCRIPTS.get_template("basemaps.js")

    def __init__(
        self, control: folium.LayerControl, choices: list[dict[str, str]], current: str
    ) -> None:
        super().__init__()
        self.control, self.choices, self.current = control, choices, current
        self.datum = next(c["datum"] for c in choices if c["key"] == current)


class SearchPopup(MacroElement):
    """The search's suggestions as text (leaflet-search puts them in as HTML; the labels
    are grid names as written), and the popup of the grid it found opened once the map has
    flown there (the search's own attempt misses popups bound to the whole layer)."""

    _template = _SCRIPTS.get_template("search_popup.js")

    def __init__(self, grids: folium.GeoJson) -> None:
        super().__init__()
        self.grids = grids


class MetricScale(MacroElement):
    """A scale bar in metres only."""

    _template = _SCRIPTS.get_template("metric_scale.js")


class Legend(MacroElement):
    """A legend control (bottom left): ``title``, ``rows`` (label, colour) and ``note`` as
    text."""

    _template = _SCRIPTS.get_template("legend.js")

    def __init__(self, title: str, rows: list[tuple[str, str]], note: str = "") -> None:
        super().__init__()
        self.html = HTML.legend(title, rows, note)


class LookupBox(MacroElement):
    """An address or coordinate box: asks the lookup API (``api_base``; the lookup answers
    CORS GETs, so an exported page opened from ``file://`` can ask a running server),
    highlights the grid it names, marks the point (where ``point_url`` says it is drawn on
    the page's base map, when its datum is not WGS84) and says plainly when no server
    answers."""

    _template = _SCRIPTS.get_template("lookup_box.js")

    def __init__(self, grids: folium.GeoJson | None, api_base: str, point_url: str | None) -> None:
        super().__init__()
        self.grids, self.api_base, self.point_url = grids, api_base, point_url
        self.highlight = HIGHLIGHT


class Cameras(MacroElement):
    """Cameras and their fields of view, drawn in the browser from compact rows
    ``[lon, lat, online, azimuth, fov, range, device_id, name]``: a sector is the camera's
    point and an arc of ``range`` metres every 10°, on a sphere of the Earth's mean radius
    (under 0.5 % off the ellipsoid's distances — the coverage numbers are exact)."""

    _template = _SCRIPTS.get_template("cameras.js")

    def __init__(
        self, rows: list[list[Any]], points: folium.FeatureGroup, sectors: folium.FeatureGroup
    ) -> None:
        super().__init__()
        self.rows, self.points, self.sectors = rows, points, sectors
        self.online, self.offline = CAMERA_COLOURS["online"], CAMERA_COLOURS["offline"]


class CopyGrids(MacroElement):
    """Adds the drawn grids listed in ``codes`` to another GeoJSON layer, in the browser:
    a grid no centre reaches is wholly a blind spot, and its outline is in the page already."""

    _template = _SCRIPTS.get_template("copy_grids.js")

    def __init__(self, grids: folium.GeoJson, target: folium.GeoJson, codes: list[str]) -> None:
        super().__init__()
        self.grids, self.target, self.codes = grids, target, codes
