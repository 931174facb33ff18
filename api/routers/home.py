"""``/``: the start page (zh-CN) — where to go first, and what is stored now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.deps import ConnectionDep
from api.pages import templates
from gis.store.models import LEVELS
from gis.store.versions import current, current_version
from tiles.layers import LAYERS

router = APIRouter(include_in_schema=False)

COUNTS_SQL = text(f"SELECT level, count(*) AS n FROM regions WHERE {current('')} GROUP BY level")
EXAMPLE_POINT_SQL = text(
    f"""
    SELECT round(ST_X(p)::numeric, 6) AS lon, round(ST_Y(p)::numeric, 6) AS lat
    FROM (
        SELECT ST_PointOnSurface(geom) AS p FROM regions WHERE {current("")}
        ORDER BY array_position(CAST(:levels AS text[]), level) DESC, code LIMIT 1
    ) AS lowest
    """
)
"""A point inside the first region of the lowest level stored: the lookup example answers."""


@router.get("/", response_class=HTMLResponse)
def home(request: Request, conn: ConnectionDep) -> HTMLResponse:
    """Links to the maps, API docs, uploads, tiles and OGC API, with the current boundary
    version and how many regions each level holds (api/templates/home.html)."""
    counts = dict(conn.execute(COUNTS_SQL).all())
    layer_of = {layer.level: layer for layer in LAYERS.values() if layer.level}
    levels: list[dict[str, Any]] = [
        {"level": level, "title": layer_of[level].title, "count": counts.get(level, 0)}
        for level in LEVELS
    ]
    example = conn.execute(EXAMPLE_POINT_SQL, {"levels": list(LEVELS)}).one_or_none()
    context = {
        "version": current_version(conn),
        "levels": levels,
        "layers": list(LAYERS.values()),
        "example": example,
    }
    return templates.TemplateResponse(request, "home.html", context)
