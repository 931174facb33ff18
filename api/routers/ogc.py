"""OGC API – Features under ``/ogc``: the endpoints QGIS and GDAL (OAPIF) read.

Thin: the collections, queryables, query-string rules and paging are in ``gis.query.features``;
the OpenAPI 3.0 document of the service (``/ogc/api``) is built by ``api.ogc_openapi``;
this module adds the URLs and links.  Every problem with a query parameter is a 400, an
unknown collection or feature a 404, both in gridmap's ``{"code", "message", "details"}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from api.deps import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CallerDep,
    ConnectionDep,
    Page,
    SettingsDep,
    role_of,
)
from api.ogc_openapi import ERRORS, ITEMS_PARAMETERS, OPENAPI, PATH_PARAMETERS, F
from api.ogc_openapi import document as openapi_document
from api.responses import GeoJSONResponse, link, paged
from gis.access.privacy import redact
from gis.query import features
from gis.query.features import COLLECTIONS, Collection

router = APIRouter(prefix="/ogc", tags=["OGC API Features"])

JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA = "application/schema+json"

CollectionId = Annotated[
    str, Path(alias="collectionId", description=PATH_PARAMETERS["collectionId"]["description"])
]
FeatureId = Annotated[
    str, Path(alias="featureId", description=PATH_PARAMETERS["featureId"]["description"])
]


class SchemaResponse(JSONResponse):
    """A JSON Schema document."""

    media_type = SCHEMA


class OpenAPIResponse(JSONResponse):
    """An OpenAPI 3.0 document."""

    media_type = OPENAPI


# --------------------------------------------------------------------------- OpenAPI


def _get(path: str, name: str, summary: str, *parameters: dict[str, Any], **kw: Any) -> Any:
    """A GET route of the service, its query parameters documented (they are read from the
    query string by ``gis.query.features``, so that every problem is a 400)."""
    return router.get(
        path,
        name=name,
        summary=summary,
        responses=ERRORS,
        openapi_extra={"parameters": list(parameters or (F,))},
        **kw,
    )


# --------------------------------------------------------------------------- helpers


def _params(request: Request, allowed: tuple[str, ...] = ("f",)) -> None:
    features.check_parameters(request.query_params.multi_items(), allowed)


def _collection_body(request: Request, conn: Connection, collection: Collection) -> dict[str, Any]:
    url = request.url_for("ogc_collection", collectionId=collection.id)
    items_url = request.url_for("ogc_items", collectionId=collection.id)
    queryables_url = request.url_for("ogc_queryables", collectionId=collection.id)
    return {
        **features.describe(conn, collection),
        "links": [
            link(url, "self", JSON, collection.title),
            link(items_url, "items", GEOJSON, f"{collection.title} (GeoJSON)"),
            *(
                link(queryables_url, rel, SCHEMA, "可查询属性 (queryables)")
                for rel in ("http://www.opengis.net/def/rel/ogc/1.0/queryables", "queryables")
            ),
        ],
    }


# --------------------------------------------------------------------------- endpoints


@_get("", "ogc_landing", "Landing page")
def landing(request: Request) -> JSONResponse:
    """The service: title, description and links to the API definition, the conformance
    declaration and the collections."""
    _params(request)
    links = [
        link(request.url_for("ogc_landing"), "self", JSON, "本页 (this document)"),
        # QGIS accepts the API definition only with this very media type; GDAL reads the
        # server-side filters of each collection from it
        link(request.url_for("ogc_api"), "service-desc", OPENAPI, "API 定义 (OpenAPI 3.0)"),
        link(request.url_for("swagger_ui"), "service-doc", "text/html", "API 文档"),
        link(request.url_for("ogc_conformance"), "conformance", JSON, "符合性 (conformance)"),
        link(request.url_for("ogc_collections"), "data", JSON, "要素集 (collections)"),
    ]
    return JSONResponse(
        {"title": features.TITLE, "description": features.DESCRIPTION, "links": links}
    )


@_get("/api", "ogc_api", "API definition (OpenAPI 3.0)", response_class=OpenAPIResponse)
def api_definition(request: Request) -> OpenAPIResponse:
    """The OpenAPI 3.0 document of this service, its paths relative to ``/ogc``; each
    collection's ``/items`` path lists that collection's property filters."""
    _params(request)
    server = str(request.url_for("ogc_landing"))
    return OpenAPIResponse(openapi_document(server, router, request.app.version))


@_get("/conformance", "ogc_conformance", "Conformance classes")
def conformance(request: Request) -> JSONResponse:
    """The conformance classes the service implements."""
    _params(request)
    return JSONResponse({"conformsTo": list(features.CONFORMANCE)})


@_get("/collections", "ogc_collections", "Collections")
def collections(request: Request, conn: ConnectionDep) -> JSONResponse:
    """Every collection with its extent (from the data) and links."""
    _params(request)
    return JSONResponse(
        {
            "links": [link(request.url_for("ogc_collections"), "self", JSON)],
            "collections": [_collection_body(request, conn, c) for c in COLLECTIONS.values()],
        }
    )


@_get("/collections/{collectionId}", "ogc_collection", "One collection")
def collection(request: Request, conn: ConnectionDep, collection_id: CollectionId) -> JSONResponse:
    """A collection: id, title, description, extent, CRS and links."""
    found = features.get_collection(collection_id)
    _params(request)
    return JSONResponse(_collection_body(request, conn, found))


@_get(
    "/collections/{collectionId}/queryables",
    "ogc_queryables",
    "Queryables of a collection",
    response_class=SchemaResponse,
)
def queryables(request: Request, collection_id: CollectionId) -> SchemaResponse:
    """The properties ``/items`` filters on by equality, as a JSON Schema (Part 3)."""
    found = features.get_collection(collection_id)
    _params(request)
    url = request.url_for("ogc_queryables", collectionId=found.id)
    return SchemaResponse(features.queryables_schema(found, str(url)))


@_get(
    "/collections/{collectionId}/items",
    "ogc_items",
    "Features of a collection",
    *ITEMS_PARAMETERS,
    response_class=GeoJSONResponse,
)
def items(
    request: Request,
    settings: SettingsDep,
    conn: ConnectionDep,
    caller: CallerDep,
    collection_id: CollectionId,
) -> GeoJSONResponse:
    """A page of GeoJSON features (CRS84), ordered by id, with ``numberMatched``,
    ``numberReturned`` and ``next``/``prev`` links — the paging of every list
    (``api.responses.paged``), its cursors pinned to the version the walk reads."""
    found = features.get_collection(collection_id)
    query = features.items_query(
        found,
        request.query_params.multi_items(),
        default_limit=DEFAULT_PAGE_SIZE,
        max_limit=MAX_PAGE_SIZE,
    )
    listed = features.list_items(conn, found, query, settings)
    shown, paging = paged(  # keyset: page 10 000 costs what page 1 costs
        request,
        listed.features,
        total=listed.matched,
        page=Page(limit=query.limit, offset=query.offset, after=query.after, keyset=True),
        cursor=lambda f: features.cursor_after(f["id"], listed.version),
        media_type=GEOJSON,
    )
    collection_url = request.url_for("ogc_collection", collectionId=found.id)
    paging["links"].insert(1, link(collection_url, "collection", JSON, found.title))
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            **paging,
            "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "features": redact(shown, role_of(caller)),
        }
    )


@_get(
    "/collections/{collectionId}/items/{featureId}",
    "ogc_item",
    "One feature",
    response_class=GeoJSONResponse,
)
def item(
    request: Request,
    settings: SettingsDep,
    conn: ConnectionDep,
    caller: CallerDep,
    collection_id: CollectionId,
    feature_id: FeatureId,
) -> GeoJSONResponse:
    """One GeoJSON feature by id: a region code, or the point layer's key."""
    found = features.get_collection(collection_id)
    _params(request)
    feature = features.get_item(conn, found, feature_id, settings)
    feature = redact(feature, role_of(caller))
    links = [
        link(
            request.url_for("ogc_item", collectionId=found.id, featureId=feature_id),
            "self",
            GEOJSON,
        ),
        link(
            request.url_for("ogc_collection", collectionId=found.id),
            "collection",
            JSON,
            found.title,
        ),
    ]
    return GeoJSONResponse({**feature, "links": links})
