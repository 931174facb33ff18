"""GeoJSON responses that say their CRS, with OGC-style paging links; the answer of a
checked write (upload, edit, roster)."""

from __future__ import annotations

from collections.abc import Callable
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


def link(href: Any, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    """A link of a JSON document (OGC API style): ``href``, ``rel``, ``type``, ``title``."""
    found = {"href": str(href), "rel": rel, "type": media_type}
    if title:
        found["title"] = title
    return found


def paged(
    request: Request,
    items: list[Any],
    *,
    total: int,
    page: Page,
    key: Callable[[Any], Any] | None = None,
    pin: dict[str, Any] | None = None,
    cursor: Callable[[Any], str] | None = None,
    media_type: str = "application/json",
) -> tuple[list[Any], dict[str, Any]]:
    """A page of a list and what its answer says of it: ``numberMatched``,
    ``numberReturned`` and ``links`` (``self``, ``next`` while more follow, ``prev`` after an
    offset, each with a zh-CN and English ``title``) — every list's paging in one shape,
    /api/v1 and /ogc alike.

    A keyset page (``page.keyset``) comes with one item more than the page when more follow
    (the caller asks for ``limit + 1``): its ``next`` link carries a cursor after the page's
    last item — ``cursor`` of it when the list writes its own (OGC's carry their version),
    else one of its ``key`` — and ``pin`` (e.g. ``as_of``: the walk stays on its version);
    its ``numberMatched`` is exact up to ``EXACT_COUNT_UP_TO`` and estimated above
    (``numberMatchedExact``)."""
    links = [link(request.url, "self", media_type, "本页 (this page)")]
    nxt = None
    if page.keyset:
        more = len(items) > page.limit
        items = items[: page.limit]
        if more:
            after = cursor(items[-1]) if cursor else cursors.encode({"after": key(items[-1])})
            nxt = request.url.remove_query_params("offset").include_query_params(
                cursor=after, limit=page.limit, **(pin or {})
            )
    elif page.offset + len(items) < total:
        nxt = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
    if nxt is not None:
        links.append(link(nxt, "next", media_type, "下一页 (next page)"))
    if page.offset > 0:
        prev = request.url.include_query_params(
            offset=max(0, page.offset - page.limit), limit=page.limit
        )
        links.append(link(prev, "prev", media_type, "上一页 (previous page)"))
    exact = {"numberMatchedExact": total <= cursors.EXACT_COUNT_UP_TO} if page.keyset else {}
    return items, {"numberMatched": total, **exact, "numberReturned": len(items), "links": links}


def feature_collection(
    request: Request,
    features: list[dict[str, Any]],
    *,
    total: int,
    page: Page,
    version: int | None,
) -> GeoJSONResponse:
    """A paged FeatureCollection (:func:`paged`, keyed by feature id, a walk pinned to
    ``version``) with its CRS."""
    features, paging = paged(
        request,
        features,
        total=total,
        page=page,
        key=lambda f: f["id"],
        pin={"as_of": version} if version is not None else None,
        media_type=GeoJSONResponse.media_type,
    )
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            "crs": GEOJSON_CRS,
            "crs_name": CRS_NAME,
            "version": version,
            **paging,
            "features": features,
        }
    )


def feature(content: dict[str, Any], version: int | None) -> GeoJSONResponse:
    """A single Feature, saying its CRS and boundary version."""
    return GeoJSONResponse(
        {**content, "crs": GEOJSON_CRS, "crs_name": CRS_NAME, "version": version}
    )
