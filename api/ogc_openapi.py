"""The OpenAPI 3.0 document of the OGC API – Features service (``/ogc/api``).

FastAPI's ``/openapi.json`` is OpenAPI 3.1 and describes the whole app with ``/ogc``-prefixed
paths; OGC clients want the service's own 3.0 document, its paths relative to the service
root.  GDAL's OAPIF driver filters on the server only by the query parameters it finds at
``paths["/collections/<id>/items"].get.parameters``, so besides the templated paths every
collection has its own ``/items`` path listing exactly its queryables.

The query parameters of ``api/routers/ogc.py`` are defined here, once: the router documents
them in the app's document, :func:`document` in this one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from api.deps import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from gis.query import features
from gis.query.cursor import MAX_OFFSET
from gis.query.features import COLLECTIONS, Collection

OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
"""The media type of an OpenAPI 3.0 document (QGIS and GDAL look for this one)."""
OPENAPI_VERSION = "3.0.3"

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad query parameter: `{code, message, details}`."},
    401: {"description": "A bad API key, where one is read: `{code, message, details}`."},
    404: {"description": "No such collection or feature: `{code, message, details}`."},
    414: {"description": "The URL is longer than 8 KB: `{code, message, details}`."},
    422: {"description": "A NUL character in the URL: `{code, message, details}`."},
    503: {"description": "The database is unreachable for now: `{code, message, details}`."},
}
"""The error responses of every route of the service."""

_EXCEPTION = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}


# --------------------------------------------------------------------------- parameters


def query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An optional query parameter (an OpenAPI Parameter Object)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


F = query(
    "f",
    "Format: json (the only one; GeoJSON for features).",
    {"type": "string", "enum": list(features.FORMATS)},
)

PAGING = [
    query(
        "bbox",
        "minlon,minlat,maxlon,maxlat in CRS84 (WGS84 lon/lat): features intersecting it.",
        {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        style="form",
        explode=False,
    ),
    query(
        "limit",
        f"Page size, default {DEFAULT_PAGE_SIZE}; larger values than {MAX_PAGE_SIZE} are "
        f"clamped to {MAX_PAGE_SIZE} (not an error, as OGC API Features Part 1 asks).",
        {"type": "integer", "minimum": 1, "default": DEFAULT_PAGE_SIZE},
    ),
    query(
        "offset",
        "Features to skip (kept for clients that count; the `next` link uses `cursor`); "
        f"above {MAX_OFFSET} a 400 `offset_too_large`.",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    ),
    query(
        "cursor",
        "Where the next page starts (opaque; set by the `next` link): pages are keyset "
        "pages, each as fast as the first, and regions are read from the version the first "
        "page was; one gridmap did not write is a 400 `invalid_cursor`.",
        {"type": "string", "maxLength": 1000},
    ),
    query("datetime", "Accepted and ignored: no feature has a time.", {"type": "string"}),
    F,
]
"""The parameters of ``/items`` besides the property filters (``features.PAGING_PARAMETERS``)."""
assert [p["name"] for p in PAGING] == list(features.PAGING_PARAMETERS)


def filter_parameters(collection: Collection) -> list[dict[str, Any]]:
    """One equality filter per queryable of ``collection``, typed as the queryable."""
    return [
        query(
            name,
            f"Features whose `{name}` ({schema['title']}) equals this value.",
            {"type": schema["type"]},
        )
        for name, schema in features.queryables(collection).items()
    ]


def _any_filter_parameters() -> list[dict[str, Any]]:
    """One equality filter per queryable of any collection (naming the collections)."""
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for collection in COLLECTIONS.values():
        for parameter in filter_parameters(collection):
            found.setdefault(parameter["name"], (parameter, []))[1].append(collection.id)
    return [
        {
            **parameter,
            "description": f"Features whose `{name}` equals this value ({', '.join(ids)}).",
        }
        for name, (parameter, ids) in found.items()
    ]


ITEMS_PARAMETERS = [*PAGING, *_any_filter_parameters()]
"""The query parameters of ``/collections/{collectionId}/items``, any collection."""

PATH_PARAMETERS = {
    "collectionId": {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "description": f"One of {', '.join(COLLECTIONS)}.",
        "schema": {"type": "string", "enum": list(COLLECTIONS)},
    },
    "featureId": {
        "name": "featureId",
        "in": "path",
        "required": True,
        "description": "Region code, or the point layer's key.",
        "schema": {"type": "string"},
    },
}
"""The path parameters of the service's routes."""


# --------------------------------------------------------------------------- document


def _operation(
    route: APIRoute, path: str, parameters: list[dict[str, Any]], collection: str | None = None
) -> dict[str, Any]:
    """The GET operation of ``route`` at ``path`` (for one ``collection`` if given)."""
    media_type = getattr(route.response_class, "media_type", None) or "application/json"
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}}
    responses: dict[str, Any] = {
        "200": {"description": route.summary or "OK", "content": {media_type: {"schema": {}}}},
    }
    for status, response in (route.responses or {}).items():
        responses[str(status)] = {**response, "content": error}
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    operation: dict[str, Any] = {
        "operationId": f"{route.name}_{collection}" if collection else route.name,
        "summary": f"{route.summary}: {collection}" if collection else route.summary,
        "tags": ["OGC API Features"],
        "parameters": [*(PATH_PARAMETERS[name] for name in names), *parameters],
        "responses": responses,
    }
    if route.description:
        operation["description"] = route.description
    return operation


def document(server: str, router: APIRouter, version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document (of API ``version``) of the service at ``server`` (its root
    URL, ``…/ogc``): the GET routes of ``router``, their paths relative to its prefix; each
    collection's ``/items`` path lists that collection's queryables as query parameters."""
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        path = route.path.removeprefix(router.prefix) or "/"
        parameters = (route.openapi_extra or {}).get("parameters", [])
        paths[path] = {"get": _operation(route, path, parameters)}
        if not path.startswith("/collections/{collectionId}/items"):
            continue
        paging = [p for p in parameters if p["name"] in features.PAGING_PARAMETERS]
        for collection in COLLECTIONS.values():
            own = path.replace("{collectionId}", collection.id)
            filters = filter_parameters(collection) if path.endswith("/items") else []
            paths[own] = {"get": _operation(route, own, [*paging, *filters], collection.id)}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": features.TITLE,
            "description": features.DESCRIPTION,
            "version": version,
        },
        "servers": [{"url": server}],
        "tags": [{"name": "OGC API Features"}],
        "paths": paths,
        "components": {"schemas": {"exception": _EXCEPTION}},
    }
