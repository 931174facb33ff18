"""GeoJSON responses that say their CRS, with OGC-style paging links; the answer of a
checked write (upload, edit, roster)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from api.deps import Page
from gis.errors import InvalidInput
from gis.query import cursor as cursors
from gis.query.regions import CRS_NAME, GEOJSON_CRS

CRS_HEADER = {"Content-Crs": "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"}


def checked_write(body: dict[str, Any], refused: str | None = None) -> JSONResponse:
    """The answer of a write checked like an upload (``body`` has its ``status`` and
    ``report``): 200 for a dry run, 201 when committed; 422 ``validation_failed`` carrying
    ``body`` when errors blocked it — nothing was changed then.  ``refused``: the message's
    first words (default: how many errors validation found), the CRS doctor's suggestion
    appended when it has one."""
    if body["status"] == "rejected":
        report = body["report"]
        doctor = (report.get("crs") or {}).get("doctor") or {}
        hint = f" {doctor['suggestion']['message']}" if doctor.get("suggestion") else ""
        first = refused or (
            f"校验发现 {report['summary']['errors']} 个错误，未做任何更改 "
            "(validation found errors; nothing was changed)."
        )
        raise InvalidInput(first + hint, code="validation_failed", details=body)
    return JSONResponse(body, status_code=201 if body["status"] == "committed" else 200)


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
    """A paged FeatureCollection with ``numberMatched``, ``links`` and its CRS.

    A keyset page (``page.keyset``) comes with one feature more than the page when more
    follow (the caller asks for ``limit + 1``): its ``next`` link carries a cursor after the
    page's last feature and pins the walk to ``version`` (``as_of``); its ``numberMatched``
    is exact up to ``EXACT_COUNT_UP_TO`` and estimated above (``numberMatchedExact``)."""
    links = [{"rel": "self", "href": str(request.url), "type": "application/geo+json"}]
    nxt = None
    if page.keyset:
        more = len(features) > page.limit
        features = features[: page.limit]
        if more:
            pin = {"as_of": version} if version is not None else {}
            nxt = request.url.remove_query_params("offset").include_query_params(
                cursor=cursors.encode({"after": features[-1]["id"]}), limit=page.limit, **pin
            )
    elif page.offset + len(features) < total:
        nxt = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
    if nxt is not None:
        links.append({"rel": "next", "href": str(nxt), "type": "application/geo+json"})
    if page.offset > 0:
        prev = request.url.include_query_params(
            offset=max(0, page.offset - page.limit), limit=page.limit
        )
        links.append({"rel": "prev", "href": str(prev), "type": "application/geo+json"})
    exact = {"numberMatchedExact": total <= cursors.EXACT_COUNT_UP_TO} if page.keyset else {}
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            "crs": GEOJSON_CRS,
            "crs_name": CRS_NAME,
            "version": version,
            "numberMatched": total,
            **exact,
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
