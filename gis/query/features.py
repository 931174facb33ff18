"""OGC API – Features, the domain part: collections, their queryables, and paged items.

Desktop GIS (QGIS, GDAL's OAPIF driver) reads gridmap as an OGC API – Features service
(Part 1 Core + GeoJSON; queryables and simple property filters in the style of Part 3).
Each region level is a collection of the current boundary version (``counties``,
``streets``, ``communities``, ``grids``; a feature's id is its code) and each point layer
is one (``centres``, ``cameras``, ``buildings``; the id is the layer's key).  Reads go
through ``gis.query.regions`` and ``gis.query.layers``; this module adds the metadata, parses the
query string the way the standard asks (every problem is a 400: ``InvalidQuery``) and
pages.  URLs and links are the API's business (``api/routers/ogc.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from gis.catalogue import POINT_LAYERS, REGION_LAYERS
from gis.catalogue.schema import Layer
from gis.errors import InvalidInput, InvalidQuery, NotFound
from gis.query import cursor as cursors
from gis.query import layers, regions
from gis.settings import Settings
from gis.store.versions import current_version, resolve_version

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
"""WGS84 longitude/latitude: the CRS of every geometry and bbox served here."""

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
)
"""Conformance classes declared at ``/ogc/conformance``."""

TITLE = "网格化治理 gridmap"
DESCRIPTION = (
    "党建引领网格化治理：县、街道(乡镇)、社区(村)、网格边界(当前边界版本)，党群服务中心、"
    "摄像机与楼栋。Counties, streets, communities and grids (current boundary version), "
    "party-service centres, cameras and buildings, in WGS84 (CRS84)."
)

PAGING_PARAMETERS = ("bbox", "limit", "offset", "cursor", "datetime", "f")
"""The query parameters of ``/items`` besides the property filters."""
FORMATS = ("json", "geojson")
"""Accepted values of ``f``: every answer is JSON (GeoJSON for features)."""


@dataclass(frozen=True)
class Collection:
    """A feature collection: one layer of the catalogue — the regions of one level, or a
    point layer."""

    layer: Layer

    @property
    def id(self) -> str:
        return self.layer.name

    @property
    def title(self) -> str:
        return self.layer.title

    @property
    def level(self) -> str | None:
        return self.layer.level

    @property
    def description(self) -> str:
        layer = self.layer
        if layer.level:
            return (
                f"{layer.title}边界，当前边界版本；要素 id 为区划编码 ({layer.about}, current "
                "boundary version; the feature id is the region code)"
            )
        return (
            f"{layer.title}（点）；要素 id 为{layer.key_title} ({layer.about}; the feature id is "
            f"its {layer.key})"
        )

    @property
    def geometry_type(self) -> str:
        """GeoJSON type of the collection's geometries."""
        return "MultiPolygon" if self.level else "Point"


COLLECTIONS: dict[str, Collection] = {
    layer.name: Collection(layer) for layer in (*REGION_LAYERS.values(), *POINT_LAYERS.values())
}
"""The collections, in the order they are listed."""


def get_collection(collection_id: str) -> Collection:
    """The collection called ``collection_id`` (``collection_not_found`` otherwise)."""
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise NotFound(
            f"没有名为 {collection_id} 的要素集 (no collection {collection_id!r}; there are "
            f"{', '.join(COLLECTIONS)})",
            code="collection_not_found",
            details={"collection": collection_id, "collections": list(COLLECTIONS)},
        )
    return found


# --------------------------------------------------------------------------- metadata


def queryables(collection: Collection) -> dict[str, dict[str, Any]]:
    """The properties a client may filter on by equality, as JSON Schemas by name: the
    layer's queryable fields but the personal ones (a filter would confirm a name or phone)."""
    found: dict[str, dict[str, Any]] = {}
    for f in collection.layer.attributes:
        if f.queryable and not f.personal:
            schema: dict[str, Any] = {"title": f.title, "type": f.json_type}
            if f.enum:
                schema["enum"] = list(f.enum)
            found[f.name] = schema
    return found


def queryables_schema(collection: Collection, url: str) -> dict[str, Any]:
    """The queryables document (OGC API – Features Part 3): a JSON Schema whose
    ``properties`` are the queryables and the geometry."""
    geometry = {
        "title": "几何 (geometry)",
        "format": f"geometry-{collection.geometry_type.lower()}",
        "x-ogc-role": "primary-geometry",
    }
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": collection.title,
        "description": collection.description,
        "properties": {**queryables(collection), "geometry": geometry},
        "additionalProperties": False,
    }


def extent(conn: Connection, collection: Collection) -> tuple[float, float, float, float] | None:
    """The bbox of the collection's features (CRS84), None when it has none."""
    if collection.level:
        return regions.extent(conn, version=current_version(conn), level=collection.level)
    return layers.extent(conn, collection.layer)


def describe(conn: Connection, collection: Collection) -> dict[str, Any]:
    """The collection's metadata, without links: id, title, description, extent, CRS."""
    found: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84],
    }
    box = extent(conn, collection)
    if box is not None:
        found["extent"] = {"spatial": {"bbox": [list(box)], "crs": CRS84}}
    return found


# --------------------------------------------------------------------------- query string


def _invalid(parameter: str, message: str, **details: Any) -> InvalidQuery:
    return InvalidQuery(
        message,
        details={
            "problems": [{"parameter": parameter, "in": "query", "problem": message}],
            **details,
        },
    )


def check_parameters(params: Iterable[tuple[str, str]], allowed: Iterable[str]) -> dict[str, str]:
    """The query parameters as a mapping, refusing (400) those the endpoint does not know
    (the standard's rule for unknown parameters), those given twice, and ``f`` other than
    json."""
    allowed = set(allowed)
    found: dict[str, str] = {}
    for name, value in params:
        if name not in allowed:
            raise _invalid(
                name,
                f"未知的查询参数 {name} (unknown query parameter; allowed: "
                f"{', '.join(sorted(allowed))})",
                allowed=sorted(allowed),
            )
        if name in found:
            raise _invalid(name, f"查询参数 {name} 重复 (query parameter given more than once)")
        found[name] = value
    if "f" in found and found["f"] not in FORMATS:
        raise _invalid("f", f"不支持的格式 f={found['f']} (only f=json is served)")
    return found


_DIGITS = re.compile(r"[0-9]{1,15}")
_INT32 = 2**31


def _integer(name: str, value: str, minimum: int) -> int:
    """A decimal integer ≥ ``minimum`` (at most 15 digits)."""
    number = int(value) if _DIGITS.fullmatch(value) else None
    if number is None or number < minimum:
        raise _invalid(
            name,
            f"{name} 应为 ≥ {minimum} 的整数: {value!r} (must be an integer ≥ {minimum})",
        )
    return number


def _bbox(value: str) -> regions.BBox:
    try:
        return regions.BBox.parse(value)
    except InvalidInput as error:
        raise InvalidQuery(error.message, code=error.code, details=error.details) from error


def _coerce(collection: Collection, name: str, kind: str, value: str) -> Any:
    if kind == "string":
        attribute = collection.layer.attribute(name)
        return attribute.aliases.get(value, value) if attribute else value
    if kind == "integer":
        number = int(value) if re.fullmatch(r"-?[0-9]{1,10}", value) else None
        if number is not None and -_INT32 <= number < _INT32:
            return number
        raise _invalid(name, f"{name} 应为整数: {value!r} (must be an integer)")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _invalid(name, f"{name} 应为数字: {value!r} (must be a finite number)")
    return number


@dataclass(frozen=True)
class ItemsQuery:
    """What ``/items`` asks for: a page, a bbox, and property values to equal."""

    limit: int
    offset: int = 0
    bbox: regions.BBox | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    after: Any = None
    """The last feature id of the previous page (from ``cursor``), None from the first."""
    version: int | None = None
    """The boundary version a cursor's pages of regions are read from (None: current)."""
    cursor: str | None = None
    """The cursor as given (for the answer to one naming a version that does not exist)."""


@dataclass(frozen=True)
class ItemsPage:
    """A page of features — one more than the limit when a next page follows — how many
    match (counted up to ``EXACT_COUNT_UP_TO``, else estimated) and the boundary version
    they were read from (None for a point layer): what :func:`cursor_after` pins."""

    features: list[dict[str, Any]]
    matched: int
    version: int | None


def items_query(
    collection: Collection,
    params: Iterable[tuple[str, str]],
    *,
    default_limit: int,
    max_limit: int,
) -> ItemsQuery:
    """Parse the query string of ``/items``: ``limit`` (default ``default_limit``; larger
    than ``max_limit`` is clamped to it, as Part 1 asks), ``offset``, ``bbox`` (CRS84),
    ``datetime`` (accepted and ignored: no feature has a time), ``f`` and one equality
    filter per queryable; anything else is a 400.  ``cursor`` (a ``next`` link's) continues
    a keyset walk; not with ``offset``."""
    fields = queryables(collection)
    given = check_parameters(params, (*PAGING_PARAMETERS, *fields))
    limit = default_limit
    if "limit" in given:
        limit = min(_integer("limit", given["limit"], 1), max_limit)
    offset = _integer("offset", given["offset"], 0) if "offset" in given else 0
    cursors.check_offset(offset, InvalidQuery)
    after, version = _cursor(collection, given["cursor"]) if "cursor" in given else (None, None)
    if after is not None and offset:
        raise _invalid("offset", "cursor 与 offset 不能同时使用 (give cursor or offset, not both)")
    bbox = _bbox(given["bbox"]) if "bbox" in given else None
    equals = {
        name: _coerce(collection, name, fields[name]["type"], value)
        for name, value in given.items()
        if name in fields
    }
    return ItemsQuery(
        limit=limit,
        offset=offset,
        bbox=bbox,
        equals=equals,
        after=after,
        version=version,
        cursor=given.get("cursor"),
    )


def _bad_cursor(value: str) -> InvalidQuery:
    """400 ``invalid_cursor``: a cursor no page of this collection wrote."""
    message = cursors.invalid(value).message
    return InvalidQuery(
        message,
        code="invalid_cursor",
        details={"problems": [{"parameter": "cursor", "in": "query", "problem": message}]},
    )


def _cursor(collection: Collection, value: str) -> tuple[Any, int | None]:
    """The last id and the version of a ``next`` link's cursor: regions' carry the version
    their walk reads, point layers' none (400 ``invalid_cursor`` for anything else; whether
    the version exists is :func:`list_items`' to check)."""
    try:
        payload = cursors.decode(value)
    except InvalidInput:
        raise _bad_cursor(value) from None
    key_type = str if collection.level else layers.key_type(collection.layer)
    if (
        isinstance(payload, dict)
        and set(payload) == {"after", "version"}
        and cursors.is_key(payload["after"], key_type)
        and (
            type(payload["version"]) is int and payload["version"] > 0
            if collection.level
            else payload["version"] is None
        )
    ):
        return payload["after"], payload["version"]
    raise _bad_cursor(value)


# --------------------------------------------------------------------------- features


def list_items(
    conn: Connection, collection: Collection, query: ItemsQuery, settings: Settings
) -> ItemsPage:
    """One page of the collection's features (ordered by id; one more when a next page
    follows) and how many match in all.  Pages of regions after the first are read from the
    version the first was (a commit between two pages mixes no versions into one walk)."""
    limit = query.limit + 1  # one more than the page: whether there is a next one
    version = None
    if collection.level:
        try:  # a cursor's version (one that exists), else the current one
            version = resolve_version(conn, query.version)
        except NotFound:
            raise _bad_cursor(query.cursor or "") from None
        features, total = regions.list_regions(
            conn,
            version=version,
            level=collection.level,
            bbox=query.bbox,
            equals=query.equals,
            limit=limit,
            offset=query.offset,
            after=query.after,
            exact_up_to=cursors.EXACT_COUNT_UP_TO,
        )
    else:
        features, total = layers.list_features(
            conn,
            collection.layer,
            layers.SpatialFilter(bbox=query.bbox, equals=query.equals),
            limit=limit,
            offset=query.offset,
            settings=settings,
            after=query.after,
            exact_up_to=cursors.EXACT_COUNT_UP_TO,
        )
    return ItemsPage(features, total, version)


def cursor_after(feature_id: Any, version: int | None) -> str:
    """The cursor of the page after feature ``feature_id`` of a walk reading ``version``
    (what :func:`items_query` reads back)."""
    return cursors.encode({"after": feature_id, "version": version})


def get_item(
    conn: Connection, collection: Collection, feature_id: str, settings: Settings
) -> dict[str, Any]:
    """One feature of the collection by its id (``feature_not_found`` otherwise)."""
    found = None
    if collection.level:
        features, _ = regions.list_regions(
            conn,
            version=current_version(conn),
            level=collection.level,
            equals={"code": feature_id},
            limit=1,
        )
        found = features[0] if features else None
    else:
        spec = collection.layer
        key: Any = feature_id
        if spec.key == "id":
            key = int(feature_id) if _DIGITS.fullmatch(feature_id) else None
        if key is not None:
            try:
                found = layers.get_feature(conn, spec, key, settings)
            except NotFound:
                found = None
    if found is None:
        raise NotFound(
            f"要素集 {collection.id} 中没有要素 {feature_id} (no feature {feature_id!r} in "
            f"collection {collection.id})",
            code="feature_not_found",
            details={"collection": collection.id, "featureId": feature_id},
        )
    return found
