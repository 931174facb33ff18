"""The inputs of a coverage analysis — grids, demand points, centres and cameras — and who
reaches which grid: each facility's checked parameters and shape (a geodesic circle or
sector, vertices exactly on the arc, :data:`SHAPE_STEP_DEG` apart), the grids in reach
(:func:`grids_reached`, all the grid standards need) and the only grids whose geometry any
of it reads (:func:`near_grids`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import shapely

from gis.analysis.overlay import blind_spots
from gis.analysis.reach import distances_to_grid, finite_floats, local_frame
from gis.catalogue.schema import service_radius_m
from gis.errors import InvalidInput
from gis.geo.geodesy import circle_polygons, sector_polygons

SHAPE_STEP_DEG = 2.0
"""Arc vertices of the shapes used for roads and blind spots: 0.15 m inside at r = 1 000 m."""
OFFLINE = frozenset({"offline", "离线"})
"""Camera statuses excluded from coverage."""


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid (网格): its codes and names, registered households and population, and its
    polygon or multipolygon in EPSG:4326 lon/lat."""

    code: str
    name: str
    community_code: str | None
    community_name: str | None
    households: int
    population: int
    polygon: Any
    area_m2: float | None = None
    """Its geodesic area when known (stored with the region); None: measured here."""


@dataclass(frozen=True, slots=True)
class DemandPoint:
    """A building (a registry address with households) at lon/lat, and the index in the
    report's ``grids`` of the grid it lies in (-1: none)."""

    code: str
    lon: float
    lat: float
    households: int
    grid: int = -1


@dataclass(frozen=True, slots=True)
class Facility:
    """A centre (``radius_m``; None takes its ``level``'s default) or a camera
    (``azimuth_deg`` clockwise from north, ``fov_deg`` in (0, 360], ``range_m``) at lon/lat.
    Cameras whose ``status`` is offline are left out of the coverage."""

    id: str | int
    name: str | None
    lon: float
    lat: float
    radius_m: float | None = None
    azimuth_deg: float | None = None
    fov_deg: float | None = None
    range_m: float | None = None
    level: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Grids:
    """Grids as columns, in the report's order: codes, polygons (lon/lat; a grid whose
    geometry no test reads may stand in as its bounding box, :func:`near_grids`), registered
    households and population, and geodesic areas (NaN: measured from the polygon);
    ``exact``: which polygons are the grids' own (None: all of them), the others boxes."""

    code: np.ndarray
    polygons: np.ndarray
    households: np.ndarray
    population: np.ndarray
    area_m2: np.ndarray
    exact: np.ndarray | None = None

    @classmethod
    def of(cls, grids: Sequence[Grid]) -> Grids:
        polygons = np.empty(len(grids), dtype=object)
        polygons[:] = [g.polygon for g in grids]
        return cls(
            np.array([g.code for g in grids], dtype=str),
            polygons,
            np.array([g.households or 0 for g in grids], float),
            np.array([g.population or 0 for g in grids], float),
            np.array([np.nan if g.area_m2 is None else g.area_m2 for g in grids], float),
        )

    def bounds(self) -> np.ndarray:
        """(n, 4) minx, miny, maxx, maxy per grid (a box's are its grid's)."""
        return shapely.bounds(self.polygons).reshape(-1, 4)


@dataclass(frozen=True)
class Demand:
    """Demand points as columns: code, lon/lat, households and the index of the grid each
    lies in (-1: none; on a shared edge the first grid in the report's order)."""

    code: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    households: np.ndarray
    grid: np.ndarray

    @classmethod
    def of(cls, points: Sequence[DemandPoint]) -> Demand:
        return cls(
            np.array([d.code for d in points], dtype=str),
            np.array([d.lon for d in points], float),
            np.array([d.lat for d in points], float),
            np.array([d.households or 0 for d in points], float),
            np.array([d.grid for d in points], np.int64),
        )

    def __len__(self) -> int:
        return len(self.code)


Kind = Literal["centres", "cameras"]


def _status(f: Facility) -> str:
    return (f.status or "").strip().lower()


def _given(f: Facility, name: str) -> float:
    value = getattr(f, name)
    if value is None:
        raise InvalidInput(
            f"摄像机 {f.id} 缺少 {name} (camera {f.id} has no {name})",
            code="invalid_facility",
            details={"id": f.id, "field": name},
        )
    return float(value)


def parameters(
    facilities: list[Facility], kind: Kind, default_radius_m: Mapping[str, float] | None
) -> np.ndarray:
    """Per facility its radius (centres) or azimuth, fov and range (cameras), checked."""
    if kind == "cameras":
        names = ("azimuth_deg", "fov_deg", "range_m")
        params = np.array([[_given(f, n) for n in names] for f in facilities]).reshape(-1, 3)
        bad = ~np.isfinite(params).all(axis=1) | (params[:, 1] <= 0) | (params[:, 1] > 360)
        bad |= params[:, 2] < 0
        rule = "finite azimuth_deg, 0 < fov_deg ≤ 360, range_m ≥ 0"
    else:
        radius = []
        for f in facilities:
            r = service_radius_m(f.radius_m, f.level, default_radius_m)
            if r is None:
                raise InvalidInput(
                    f"中心 {f.id} 没有服务半径，其级别 {f.level!r} 也没有默认半径 "
                    f"(centre {f.id} has no radius and level {f.level!r} has no default)",
                    code="invalid_facility",
                    details={"id": f.id, "level": f.level},
                )
            radius.append(float(r))
        params = np.array(radius, float).reshape(-1, 1)
        bad = ~np.isfinite(params[:, 0]) | (params[:, 0] < 0)
        rule = "radius_m ≥ 0"
    if bad.any():
        f = facilities[int(np.flatnonzero(bad)[0])]
        raise InvalidInput(
            f"设施 {f.id} 的参数不符合 {rule} (facility {f.id} breaks {rule})",
            code="invalid_facility",
            details={"id": f.id, "rule": rule},
        )
    return params


def frame_of(bounds: np.ndarray, flon: np.ndarray, flat: np.ndarray) -> Any:
    """The local frame of the facilities and the grids' bounding boxes (``bounds``: n × 4;
    an empty grid's NaN box left out)."""
    bounds = bounds[~np.isnan(bounds).any(axis=1)]
    return local_frame(
        np.r_[flon, bounds[:, 0], bounds[:, 2]], np.r_[flat, bounds[:, 1], bounds[:, 3]]
    )


def _queries(
    frame: Any,
    flon: np.ndarray,
    flat: np.ndarray,
    params: np.ndarray,
    shapes: np.ndarray,
    cameras: bool,
) -> np.ndarray:
    """Per facility what the grids in its reach must meet: a camera's sector; a centre's
    lon/lat box of its widened radius — the frame is linear in lon and lat, so the box holds
    every grid within the frame distance."""
    if cameras:
        return shapes
    w = frame.widen(params[:, 0])
    dlon, dlat = w / frame.mx, w / frame.my
    return shapely.box(flon - dlon, flat - dlat, flon + dlon, flat + dlat)


def reach(
    polygons: np.ndarray,
    flon: np.ndarray,
    flat: np.ndarray,
    params: np.ndarray,
    shapes: np.ndarray,
    cameras: bool,
    frame: Any = None,
) -> tuple[np.ndarray, Any, np.ndarray]:
    """Per grid the facilities in reach (a centre within its radius of the grid, geodesic; a
    camera whose sector meets it), the local frame the distances were measured in (``frame``
    when given, else the grids' and facilities'), and the grids' outlines in it where
    measured (else None: ``outline``).

    A centre's candidates are the grids meeting its box (``_queries``), and only they are
    projected: a city's grids are mostly far from every centre."""
    n_grids = len(polygons)
    if frame is None:
        frame = frame_of(shapely.bounds(polygons).reshape(-1, 4), flon, flat)
    outlines = np.full(n_grids, None, dtype=object)
    queries = _queries(frame, flon, flat, params, shapes, cameras)
    reach_fac, reach_grid = shapely.STRtree(polygons).query(queries, predicate="intersects")
    if not cameras:
        outline(frame, polygons, outlines, np.unique(reach_grid))
        metres = distances_to_grid(
            frame, polygons, outlines, reach_grid, flon[reach_fac], flat[reach_fac]
        )
        ok = metres <= params[reach_fac, 0]
        reach_fac, reach_grid = reach_fac[ok], reach_grid[ok]
    return np.bincount(reach_grid, minlength=n_grids), frame, outlines


def grid_reach(
    polygons: np.ndarray,
    area_m2: np.ndarray,
    used: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cameras: bool,
    min_blind_m2: float,
    before: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Per grid its blind area (``blind_spots``) and the facilities in reach (``reach``),
    and the frame; ``used``: the facilities' parameters, lon, lat and shapes.

    ``before`` (blind areas, facilities in reach, grids to redo): the figures of the same
    grids for facilities that differ from these only in ``changed_facilities``, and the
    grids those meet (``near_grids``); only they are measured again — no other grid's
    figures can differ, each depending only on the facilities whose envelope meets it."""
    params, flon, flat, shapes = used
    frame = frame_of(shapely.bounds(polygons).reshape(-1, 4), flon, flat)
    if before is None:
        blind, in_reach = np.zeros(len(polygons)), np.zeros(len(polygons), np.int64)
        redo = np.arange(len(polygons))
    else:
        blind, in_reach, redo = before[0].astype(float), before[1].astype(np.int64), before[2]
    if len(redo):
        blind[redo] = blind_spots(polygons[redo], shapes, min_blind_m2, area_m2=area_m2[redo])[1]
        in_reach[redo] = reach(polygons[redo], flon, flat, params, shapes, cameras, frame)[0]
    return blind, in_reach, frame


def _signatures(
    facilities: Sequence[Facility], kind: Kind, default_radius_m: Mapping[str, float] | None
) -> dict[tuple[Any, ...], Facility]:
    """The facilities counted, by what their figures depend on: id, place, parameters."""
    used = [f for f in facilities if not (kind == "cameras" and _status(f) in OFFLINE)]
    params = parameters(used, kind, default_radius_m).tolist()
    return {(f.id, f.lon, f.lat, *p): f for f, p in zip(used, params, strict=True)}


def changed_facilities(
    before: Sequence[Facility],
    now: Sequence[Facility],
    kind: Kind,
    default_radius_m: Mapping[str, float] | None,
) -> list[Facility]:
    """The facilities counted in one list and not in the other (moved, added, removed,
    re-aimed, switched off or on), as counted (radius resolved)."""
    old, new = (_signatures(f, kind, default_radius_m) for f in (before, now))
    return [old[k] for k in old.keys() - new.keys()] + [new[k] for k in new.keys() - old.keys()]


def near_grids(
    polygons: np.ndarray,
    facilities: Sequence[Facility],
    kind: Kind,
    default_radius_m: Mapping[str, float] | None,
) -> np.ndarray:
    """The indices of the grids (``polygons``, or their bounding boxes: only envelopes are
    compared) whose geometry the coverage by ``facilities`` reads: those whose envelope
    meets a facility's shape, its reach query or its place.  Every spatial test of the
    coverage (reach, blind spots, the grid a facility lies in) goes through an STR tree,
    which tests a grid only where the envelopes meet; so any other grid may stand in as its
    box (its envelope) with the same answers."""
    _, _, params, flon, flat, shapes = used_facilities(facilities, kind, default_radius_m)
    if not len(polygons) or not len(flon):
        return np.zeros(0, dtype=np.int64)
    frame = frame_of(shapely.bounds(polygons).reshape(-1, 4), flon, flat)
    queries = _queries(frame, flon, flat, params, shapes, kind == "cameras")
    probes = np.concatenate([queries, shapes, shapely.points(flon, flat)])
    return np.unique(shapely.STRtree(polygons).query(probes)[1])


def outline(frame: Any, polygons: np.ndarray, outlines: np.ndarray, which: np.ndarray) -> None:
    """``outlines[which]``: those grids' outlines in ``frame``, projected once."""
    todo = which[outlines[which] == None]  # noqa: E711 (elementwise)
    if len(todo):
        outlines[todo] = shapely.boundary(frame.geometries(polygons[todo]))


def used_facilities(
    facilities: Sequence[Facility], kind: Kind, default_radius_m: Mapping[str, float] | None
) -> tuple[list[Facility], list[Facility], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The facilities counted (online cameras; every centre), those left out, their checked
    parameters, lon, lat and shapes (circles or sectors, ``SHAPE_STEP_DEG``)."""
    if kind not in ("centres", "cameras"):
        raise InvalidInput(
            f"kind 应为 centres 或 cameras: {kind!r} (kind must be centres or cameras)",
            code="invalid_parameter",
            details={"kind": kind},
        )
    cameras = kind == "cameras"
    used = [f for f in facilities if not (cameras and _status(f) in OFFLINE)]
    excluded = [f for f in facilities if cameras and _status(f) in OFFLINE]
    params = parameters(used, kind, default_radius_m)
    flon, flat = finite_floats("facility", [f.lon for f in used], [f.lat for f in used])
    places = np.column_stack([flon, flat, params]).astype(float)
    shapes = _shapes(cameras, places.shape, places.tobytes())
    return used, excluded, params, flon, flat, shapes


@lru_cache(maxsize=4)
def _shapes(cameras: bool, shape: tuple[int, ...], places: bytes) -> np.ndarray:
    """The facilities' shapes (sectors or circles, ``SHAPE_STEP_DEG``) from their lon, lat
    and parameters (``places``: rows of ``shape`` as bytes), read-only: built once for the
    computation, the grids it tests and its page (each asked for them: 0.2 s for 10 000
    cameras, each time)."""
    flon, flat, *params = np.frombuffer(places).reshape(shape).T
    if cameras:
        shapes = sector_polygons(flon, flat, *params, step_deg=SHAPE_STEP_DEG)
    else:
        shapes = circle_polygons(flon, flat, params[0], vertices=round(360 / SHAPE_STEP_DEG))
    shapes.flags.writeable = False
    return shapes


def grids_reached(
    polygons: np.ndarray,
    facilities: Sequence[Facility],
    kind: Kind,
    *,
    default_radius_m: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Per grid (``polygons``, lon/lat; boxes where :func:`near_grids` allows) whether any
    facility reaches it (as ``facilities_in_reach`` of the coverage report), without the rest
    of the report."""
    _, _, params, flon, flat, shapes = used_facilities(facilities, kind, default_radius_m)
    if not len(polygons):
        return np.zeros(0, dtype=bool)
    return reach(polygons, flon, flat, params, shapes, kind == "cameras")[0] > 0
