"""Point layers — centres, cameras, buildings: spatial queries and, for editors, writes."""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from shapely.geometry import shape
from sqlalchemy import Connection, Engine

from api.deps import (
    MAX_PAGE_SIZE,
    ConnectionDep,
    Crs,
    EngineDep,
    KeysetPageDep,
    Page,
    SettingsDep,
    require,
)
from api.errors import invalid_parameter
from api.responses import GeoJSONResponse, feature, feature_collection
from api.text import Code, ShortText
from gis.access.auth import Principal
from gis.access.scope import check_points, check_stored_points
from gis.catalogue import POINT_LAYERS
from gis.catalogue.schema import Layer
from gis.errors import InvalidInput, NotFound
from gis.geo.crs import parse_crs, to_wgs84, to_wgs84_points
from gis.query import cursor as cursors
from gis.query import layers
from gis.query.cursor import EXACT_COUNT_UP_TO
from gis.query.regions import BBox
from gis.settings import Settings

Editor = Annotated[Principal, Depends(require("editor"))]
Key = Annotated[ShortText, Path(description="The id, or a camera's device ID")]
FeatureBody = Annotated[
    dict[str, Any],
    Body(
        description="A GeoJSON Feature: a Point geometry (in `crs`) and the properties.",
        examples=[
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [118.3186, 40.1502]},
                "properties": {"name": "山庄里社区党群服务站", "level": "station"},
            }
        ],
    ),
]


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    """A Feature body whose ``properties`` is an object or absent (422 ``invalid_geojson``)."""
    if not isinstance(body.get("properties"), dict | None):
        raise InvalidInput(
            "要素的 properties 应为 JSON 对象 (the feature's properties must be a JSON object)",
            code="invalid_geojson",
            details={"member": "properties"},
        )
    return body


def _shape(value: str, crs: str) -> Any:
    """A GeoJSON geometry or WKT, in ``crs``, as a WGS84 shapely geometry."""
    try:
        geometry = shape(json.loads(value)) if value.lstrip().startswith("{") else None
        geometry = geometry if geometry is not None else shapely.from_wkt(value)
    except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.GEOSException) as error:
        raise InvalidInput(
            f"intersects 应为 GeoJSON 几何或 WKT (intersects must be a GeoJSON geometry or "
            f"WKT: {error})",
            code="invalid_geometry",
        ) from error
    if geometry.is_empty or not geometry.is_valid:
        raise InvalidInput(
            "intersects 几何为空或无效 (the intersects geometry is empty or invalid)",
            code="invalid_geometry",
        )
    return to_wgs84(geometry, parse_crs(crs))


def layer_router(spec: Layer) -> APIRouter:
    """The routes of one point layer."""
    router = APIRouter(prefix=f"/api/v1/{spec.name}", tags=["layers"])

    def key_of(key: str) -> Any:
        if spec.key != "id":
            return key
        if not (key.isascii() and key.isdigit() and len(key) <= 18):  # an int8, in ASCII
            raise NotFound(
                f"{spec.title} {key} 不存在 (no such {spec.singular})",
                code=f"{spec.singular}_not_found",
                details={"id": key},
            )
        return int(key)

    def in_scope(
        conn: Connection,
        scope: str | None,
        key: Any = None,
        geometry: Any = None,
        crs: str = "wgs84",
    ) -> None:
        """403 ``out_of_scope`` unless the stored feature ``key`` (if given) and the new
        point (if given) lie in the caller's scope region; checked in the write's
        transaction, before it writes."""
        if scope is None:
            return
        if key is not None:
            check_stored_points(conn, scope, spec.table, spec.key, [key])
        if geometry is not None:
            check_points(conn, scope, [shapely.Point(layers.point_of(geometry, crs))])

    @router.get(
        "", response_class=GeoJSONResponse, summary=f"List or search {spec.name}", name=spec.name
    )
    def search(
        request: Request,
        settings: SettingsDep,
        conn: ConnectionDep,
        page: KeysetPageDep,
        lon: Annotated[float | None, Query(description="Point for within_m / nearest")] = None,
        lat: Annotated[float | None, Query(description="Point for within_m / nearest")] = None,
        within_m: Annotated[
            float | None,
            Query(gt=0, allow_inf_nan=False, description="Within this many metres of lon/lat"),
        ] = None,
        nearest: Annotated[
            int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="The k nearest to lon/lat")
        ] = None,
        bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
        intersects: Annotated[
            str | None, Query(description="A GeoJSON geometry or WKT the points must intersect")
        ] = None,
        region: Annotated[Code | None, Query(description="Code of a region covering them")] = None,
        level: Annotated[str | None, Query(description="Centres: centre, station or home")] = None,
        status: Annotated[str | None, Query(description="Cameras: online or offline")] = None,
        crs: Crs = "wgs84",
    ) -> GeoJSONResponse:
        """Features as GeoJSON (EPSG:4326), paged; with lon/lat each has ``distance_m``
        (geodesic) and the nearest come first."""
        if (within_m is not None or nearest is not None) and (lon is None or lat is None):
            raise invalid_parameter("lon", "within_m 与 nearest 需要 lon 和 lat (need lon and lat)")
        point = None
        if lon is not None and lat is not None:
            x, y = to_wgs84_points(np.array([lon]), np.array([lat]), crs)
            point = (float(x[0]), float(y[0]))
        equals = {}
        for name, value in (("level", level), ("status", status)):
            if value is not None:
                if spec.attribute(name) is None:
                    raise invalid_parameter(
                        name, f"{spec.title}没有属性 {name} (no such attribute)"
                    )
                equals[name] = value
        cursors.check_key(request.query_params.get("cursor"), page.after, layers.key_type(spec))
        if point is not None:  # nearest first: distance is no key, pages go by offset
            if page.after is not None:
                raise invalid_parameter(
                    "cursor", "按距离排序时请用 offset (with lon/lat use offset)"
                )
            page = Page(limit=page.limit, offset=page.offset)
        query = layers.SpatialFilter(
            point=point,
            within_m=within_m,
            nearest=nearest,
            bbox=BBox.parse(bbox) if bbox is not None else None,
            intersects=_shape(intersects, crs) if intersects is not None else None,
            region=region,
            equals=equals,
        )
        features, total = layers.list_features(
            conn,
            spec,
            query,
            limit=page.limit + page.keyset,  # one more: whether a next page follows
            offset=page.offset,
            settings=settings,
            after=page.after,
            exact_up_to=EXACT_COUNT_UP_TO if page.keyset else None,
        )
        return feature_collection(request, features, total=total, page=page, version=None)

    @router.get("/{key}", response_class=GeoJSONResponse, summary=f"One of the {spec.name}")
    def get(settings: SettingsDep, conn: ConnectionDep, key: Key) -> GeoJSONResponse:
        """One feature by its key."""
        found = layers.get_feature(conn, spec, key_of(key), settings)
        return feature(found, None)

    if not spec.writable:
        return router

    conflict = {409: {"description": "A key (a camera's device ID) already in use."}}

    @router.post(
        "",
        response_class=GeoJSONResponse,
        status_code=201,
        summary="Create",
        responses=conflict,
    )
    def create(
        engine: EngineDep,
        settings: SettingsDep,
        principal: Editor,
        body: FeatureBody,
        crs: Crs = "wgs84",
    ) -> GeoJSONResponse:
        """Add a feature (editor; its point inside the editor's region scope); a missing
        region code is the grid covering the point."""
        with engine.begin() as conn:
            in_scope(conn, principal.scope, geometry=body.get("geometry"), crs=crs)
            found = layers.create_feature(conn, spec, _checked(body), crs, settings)
        response = feature(found, None)
        response.status_code = 201
        return response

    def write(
        engine: Engine,
        settings: Settings,
        principal: Principal,
        key: str,
        body: dict[str, Any],
        crs: str,
        partial: bool,
    ) -> Any:
        with engine.begin() as conn:
            in_scope(conn, principal.scope, key_of(key), body.get("geometry"), crs)
            found = layers.update_feature(
                conn, spec, key_of(key), _checked(body), crs, settings, partial=partial
            )
        return feature(found, None)

    @router.put("/{key}", response_class=GeoJSONResponse, summary="Replace", responses=conflict)
    def replace(
        engine: EngineDep,
        settings: SettingsDep,
        principal: Editor,
        key: Key,
        body: FeatureBody,
        crs: Crs = "wgs84",
    ) -> GeoJSONResponse:
        """Replace a feature's geometry and attributes (editor)."""
        return write(engine, settings, principal, key, body, crs, partial=False)

    @router.patch(
        "/{key}",
        response_class=GeoJSONResponse,
        summary="Change some attributes",
        responses=conflict,
    )
    def patch(
        engine: EngineDep,
        settings: SettingsDep,
        principal: Editor,
        key: Key,
        body: FeatureBody,
        crs: Crs = "wgs84",
    ) -> GeoJSONResponse:
        """Change the attributes given (and the point, if a geometry is given) (editor)."""
        return write(engine, settings, principal, key, body, crs, partial=True)

    @router.delete("/{key}", status_code=204, summary="Delete")
    def delete(engine: EngineDep, principal: Editor, key: Key) -> Response:
        """Delete a feature (editor; inside their region scope)."""
        with engine.begin() as conn:
            in_scope(conn, principal.scope, key_of(key))
            layers.delete_feature(conn, spec, key_of(key))
        return Response(status_code=204)

    return router


routers = [layer_router(spec) for spec in POINT_LAYERS.values()]
