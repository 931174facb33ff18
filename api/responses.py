"""GeoJSON responses that say their CRS, with OGC-style paging links."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from api.deps import Page
from gis.query.regions import CRS_NAME, GEOJSON_CRS

CRS_HEADER = {"Content-Crs": "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"}


class GeoJSONResponse(JSONResponse):
    """``application/geo+json`` with a ``Content-Crs`` header."""

    media_type = "application/geo+json"

    def __init__(self, content: Any, status_code: int = 200) -> None:
        super().__init__(content, status_code=status_code, headers=CRS_HEADER)


def feature_collection(
    request: Request,
    features: list[dict[str, Any]],
    *,
    total: int,
    page: Page,
    version: int | None,
) -> GeoJSONResponse:
    """A paged FeatureCollection with ``numberMatched``, ``links`` and its CRS."""
    links = [{"rel": "self", "href": str(request.url), "type": "application/geo+json"}]
    if page.offset + len(features) < total:
        nxt = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
        links.append({"rel": "next", "href": str(nxt), "type": "application/geo+json"})
    if page.offset > 0:
        prev = request.url.include_query_params(
            offset=max(0, page.offset - page.limit), limit=page.limit
        )
        links.append({"rel": "prev", "href": str(prev), "type": "application/geo+json"})
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            "crs": GEOJSON_CRS,
            "crs_name": CRS_NAME,
            "version": version,
            "numberMatched": total,
            "numberReturned": len(features),
            "links": links,
            "features": features,
        }
    )


def feature(content: dict[str, Any], version: int | None) -> GeoJSONResponse:
    """A single Feature, saying its CRS and boundary version."""
    return GeoJSONResponse(
        {**content, "crs": GEOJSON_CRS, "crs_name": CRS_NAME, "version": version}
    )
