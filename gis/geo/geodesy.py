"""Geodesy on the WGS84 ellipsoid for lon/lat geometries: circles, sectors, areas, lengths.

Metres here are true metres on the ellipsoid (``pyproj.Geod``, Karney's algorithms), never
degrees.  Polygons are shapely geometries in EPSG:4326 lon/lat, their exterior rings
counter-clockwise (GeoJSON's right-hand rule); their vertices lie exactly on the geodesic
circle, so the straight edges between them cut a little inside it (the sagitta,
r·(1 − cos(step/2)): 1.2 m for r = 1 000 m at 64 vertices, 0.15 m at 2°).
:class:`LocalFrame` is a metric frame for finding candidates fast; exact answers come from
``GEOD`` itself, as with :class:`AzimuthalFrame` (true distances from its centre), which
finds the nearest grid of a lookup.  :class:`EqualAreaFrame` measures the areas and widths
of upload validation.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer

from gis.geo.edges import pairs, ring_points

GEOD = Geod(ellps="WGS84")


def proj_geodesic() -> tuple[int, int, float, float]:
    """The addresses of ``geod_init`` and ``geod_inverse`` in the PROJ library pyproj has
    loaded (its wheel's own copy, else the system's), and ``GEOD``'s ellipsoid (a, f): compiled
    code (``gis.query._near``) then measures with the very function ``Geod.inv`` calls.
    Linux only (the mapped library is found in ``/proc/self/maps``)."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    found = sorted({line.split()[-1] for line in maps if "/libproj" in line})
    if not found:
        raise RuntimeError("pyproj's PROJ library is not mapped in this process")
    # another package's own PROJ (a wheel's bundled GDAL) may be mapped too: pyproj's first
    proj = ctypes.CDLL(next((path for path in found if "/pyproj" in path), found[0]))
    address = ctypes.cast(proj.geod_init, ctypes.c_void_p).value or 0
    inverse = ctypes.cast(proj.geod_inverse, ctypes.c_void_p).value or 0
    return address, inverse, GEOD.a, GEOD.f


MIN_CURVATURE_RADIUS_M = 6_300_000.0
"""Below the smallest radius of curvature of WGS84 (b²/a ≈ 6 335 km)."""
MAX_LAT = 85.0
"""Local frames are refused closer to a pole (the plate carrée's scale grows without bound)."""


def _arrays(*values: Any) -> list[np.ndarray]:
    """Float arrays broadcast to one 1-D shape."""
    return [np.ravel(v) for v in np.broadcast_arrays(*(np.asarray(v, float) for v in values))]


def circle_polygons(lon: Any, lat: Any, radius_m: Any, vertices: int = 64) -> np.ndarray:
    """Geodesic circles: polygons whose ``vertices`` points lie at ``radius_m`` along the
    geodesics from the centre, at azimuths k·360°/vertices (``Geod.fwd``, vectorised)."""
    lon, lat, radius = _arrays(lon, lat, radius_m)
    azimuths = -np.arange(vertices) * (360.0 / vertices)  # decreasing: counter-clockwise
    n = len(lon)
    x, y, _ = GEOD.fwd(
        np.repeat(lon, vertices),
        np.repeat(lat, vertices),
        np.tile(azimuths, n),
        np.repeat(radius, vertices),
    )
    ring = np.stack([x, y], axis=1).reshape(n, vertices, 2)
    return shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))


def sector_polygons(
    lon: Any,
    lat: Any,
    azimuth_deg: Any,
    fov_deg: Any,
    range_m: Any,
    step_deg: float = 2.0,
) -> np.ndarray:
    """Camera sectors: the camera point and the arc at ``range_m`` from azimuth − fov/2 to
    azimuth + fov/2 (degrees clockwise from north), arc points at most ``step_deg`` apart.
    A field of view of 360° gives the full circle (no apex)."""
    lon, lat, azimuth, fov, reach = _arrays(lon, lat, azimuth_deg, fov_deg, range_m)
    full = fov >= 360.0
    segments = np.maximum(1, np.ceil(fov / step_deg)).astype(np.int64)
    arc = np.where(full, segments, segments + 1)  # a full circle does not repeat its first point
    owner = np.repeat(np.arange(len(lon)), arc)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(arc) - arc, arc)
    # from the clockwise edge back to the other: counter-clockwise around the apex
    az = azimuth[owner] + fov[owner] / 2.0 - k * (fov / segments)[owner]
    x, y, _ = GEOD.fwd(lon[owner], lat[owner], az, reach[owner])
    # each ring: its arc, then the apex unless it is a full circle, then its first point again
    size = arc + np.where(full, 1, 2)
    start = np.cumsum(size) - size
    coords = np.empty((int(size.sum()), 2))
    at = start[owner] + k
    coords[at, 0], coords[at, 1] = x, y
    apex = start + arc
    coords[apex[~full]] = np.column_stack([lon, lat])[~full]
    close = start + size - 1
    coords[close] = coords[start]
    rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(lon)), size))
    return shapely.polygons(rings)


_E = float(np.sqrt(GEOD.es))


def _authalic_q(sin_lat: np.ndarray) -> np.ndarray:
    """Snyder's q(φ) of WGS84 (Map Projections, eq. 3-12): sin β = q(φ) / q(90°)."""
    es, e = GEOD.es, _E
    return (1.0 - es) * (
        sin_lat / (1.0 - es * sin_lat * sin_lat)
        - np.log((1.0 - e * sin_lat) / (1.0 + e * sin_lat)) / (2.0 * e)
    )


_Q_POLE = float(_authalic_q(np.array(1.0)))
AUTHALIC_RADIUS_M = float(np.sqrt(GEOD.a * GEOD.a * _Q_POLE / 2.0))
"""The radius of the sphere of WGS84's area (≈ 6 371 007.2 m)."""


SHORT_EDGE_M = 100.0
"""Rings whose edges are all shorter are measured on the authalic sphere (:func:`_ring_areas`);
a ring with a longer edge by Karney's algorithm."""


def _ring_areas(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ring: its polygon's index and its area (m², exterior +, holes −), vectorised.

    Each vertex goes to the authalic sphere (authalic latitude β, same longitude: an
    equal-area map of the ellipsoid) and each ring's area is its spherical excess there,
    summed edge by edge — tan(E/2) = tan(Δλ/2)·(t₁ + t₂)/(1 + t₁t₂), t = tan(β/2) — with
    edges as great circles of that sphere: one numpy pass over all the vertices.  Those
    circles are not quite the ellipsoid's geodesics: an edge of length L is off by up to
    ~3e-11·L³ m² (L in metres), so a ring with an edge of :data:`SHORT_EDGE_M` or more is
    measured again, alone, by Karney's algorithm (``Geod.polygon_area_perimeter``, what
    PostGIS's ``ST_Area(geography)`` computes); the others are within 1e-6 m² per metre of
    their perimeter of it (tests/unit/test_geodesy_area.py) — 4e-4 m² for a 100 m grid."""
    points, starts, exterior, owner = ring_points(polygons)
    coords, rings = pairs(points), len(exterior)
    ring_of = np.repeat(np.arange(rings), np.diff(starts))
    sin_beta = np.clip(_authalic_q(np.sin(np.radians(coords[:, 1]))) / _Q_POLE, -1.0, 1.0)
    cos_beta = np.sqrt(1.0 - sin_beta * sin_beta)
    t = sin_beta / (1.0 + cos_beta)  # tan(β/2)
    lon = np.radians(coords[:, 0])
    step = lon[1:] - lon[:-1]  # exact for near longitudes; wrapped only across ±180°
    step[step > np.pi] -= 2.0 * np.pi
    step[step < -np.pi] += 2.0 * np.pi
    t1, t2 = t[:-1], t[1:]
    excess = 2.0 * np.arctan(np.tan(step / 2.0) * (t1 + t2) / (1.0 + t1 * t2))
    between = ring_of[1:] != ring_of[:-1]  # from one ring's last vertex to the next's first
    excess[between] = 0.0
    area = np.abs(np.bincount(ring_of[:-1], excess, minlength=rings)) * AUTHALIC_RADIUS_M**2
    # edge lengths on the sphere, to ~0.1 % (Δβ ≈ Δsin β / cos β): which rings to redo
    cos_mid = np.maximum((cos_beta[1:] + cos_beta[:-1]) / 2.0, 1e-9)
    squared = ((sin_beta[1:] - sin_beta[:-1]) / cos_mid) ** 2 + (cos_mid * step) ** 2
    long = (squared >= (SHORT_EDGE_M / AUTHALIC_RADIUS_M) ** 2) & ~between
    for i in np.unique(ring_of[:-1][long]).tolist():
        x, y = coords[starts[i] : starts[i + 1]].T
        area[i] = abs(GEOD.polygon_area_perimeter(x, y)[0])
    return owner, np.where(exterior, area, -area)


def geodesic_area_m2(polygons: Any) -> np.ndarray:
    """Area on the ellipsoid (m², edges as geodesics; :func:`_ring_areas`) of each polygon or
    multipolygon, holes subtracted, whatever the rings' orientation; 0 for empty or
    non-areal geometries."""
    polygons = np.atleast_1d(np.asarray(polygons, dtype=object))
    areal = shapely.get_dimensions(polygons) == 2
    out = np.zeros(len(polygons))
    if areal.any():
        owner, area = _ring_areas(polygons[areal])
        out[areal] = np.bincount(owner, area, minlength=int(areal.sum()))
    return out


def geodesic_length_m(lines: Any) -> np.ndarray:
    """Length on the ellipsoid (m, geodesics between consecutive vertices) of each geometry:
    lines and multilines; polygons count their rings; points and empties 0.  Vectorised."""
    lines = np.atleast_1d(np.asarray(lines, dtype=object))
    parts, part_of = shapely.get_parts(lines, return_index=True)
    areal = shapely.get_dimensions(parts) == 2
    if areal.any():
        rings, ring_part = shapely.get_rings(parts[areal], return_index=True)
        parts = np.concatenate([parts[~areal], rings])
        part_of = np.concatenate([part_of[~areal], part_of[areal][ring_part]])
    coords, coord_of = shapely.get_coordinates(parts, return_index=True)
    same = coord_of[1:] == coord_of[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    _, _, metres = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    owner = part_of[coord_of[:-1][same]]
    return np.bincount(owner, np.asarray(metres, float), minlength=len(lines))


def _radii(lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Meridional and prime-vertical radii of curvature (m) of WGS84 at latitudes."""
    sin = np.sin(np.radians(lat_deg))
    w = np.sqrt(1.0 - GEOD.es * sin * sin)
    return GEOD.a * (1.0 - GEOD.es) / w**3, GEOD.a / w


@dataclass(frozen=True)
class LocalFrame:
    """A plate carrée in metres for some lon/lat data: x = (lon − lon0)·mx, y = (lat − lat0)·my
    with the true metres per degree at the middle latitude.  Cheap (two multiply-adds per
    point) and with known distortion: over the data's latitudes (padded by how far a geodesic
    between two of the points can stray poleward) the frame scales lengths by between ``low``
    and ``high`` in every direction, so the frame distance of two points lies between ``low``
    and ``high`` times their geodesic distance.  ``widen(d)`` is thus a frame distance that
    every pair within geodesic distance ``d`` satisfies — candidates for the exact test with
    ``GEOD``.  Not across the antimeridian; refused beyond ±85° latitude.
    """

    lon0: float
    lat0: float
    mx: float
    my: float
    low: float
    high: float

    @classmethod
    def around(cls, lon: Any, lat: Any) -> LocalFrame:
        """The frame of the bounding box of the points."""
        lon, lat = _arrays(lon, lat)
        if not len(lon):
            lon, lat = np.zeros(1), np.zeros(1)
        west, east = float(lon.min()), float(lon.max())
        south, north = float(lat.min()), float(lat.max())
        lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
        # A geodesic between two points of |latitude| ≤ φ and longitudes Δλ apart stays within
        # tan φ' = tan φ / cos(Δλ/2) (the great circle of the auxiliary sphere); with margins.
        polar = np.radians(max(abs(south), abs(north)))
        half = np.radians(east - west) * 1.01 / 2.0
        if half >= np.pi / 2.0 or polar >= np.radians(MAX_LAT):
            raise ValueError("data too wide or too close to a pole for a local frame")
        top = np.arctan(np.tan(polar) / np.cos(half))
        pad = float(np.degrees(top - polar)) * 1.1 + 1e-9
        low_lat, high_lat = south - pad, north + pad
        if max(abs(low_lat), abs(high_lat)) > MAX_LAT:
            raise ValueError("data too wide or too close to a pole for a local frame")
        lats = np.array([low_lat, high_lat, lat0] + ([0.0] if low_lat < 0.0 < high_lat else []))
        m, n = _radii(lats)
        m0, n0 = m[2], n[2]
        cos = np.cos(np.radians(lats))
        scales = np.r_[n0 * cos[2] / (n * cos), m0 / m]
        per_degree = np.pi / 180.0
        return cls(
            lon0,
            lat0,
            float(n0 * cos[2] * per_degree),
            float(m0 * per_degree),
            float(scales.min()) * (1.0 - 1e-12),
            float(scales.max()) * (1.0 + 1e-12),
        )

    def widen(self, metres: Any) -> np.ndarray:
        """A frame distance that every pair within geodesic ``metres`` satisfies (+1 mm)."""
        return np.asarray(metres, float) * self.high + 1e-3

    @property
    def spread(self) -> float:
        """``high / low``: the frame nearest is within this factor of the geodesic nearest."""
        return self.high / self.low

    def forward(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Lon/lat → frame x, y (metres)."""
        x = (np.asarray(lon, float) - self.lon0) * self.mx
        return x, (np.asarray(lat, float) - self.lat0) * self.my

    def inverse(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Frame x, y (metres) → lon/lat."""
        lon = np.asarray(x, float) / self.mx + self.lon0
        return lon, np.asarray(y, float) / self.my + self.lat0

    def points(self, lon: Any, lat: Any) -> np.ndarray:
        """Shapely points in the frame."""
        return shapely.points(*self.forward(lon, lat))

    def geometries(self, geometries: Any) -> np.ndarray:
        """Lon/lat geometries → the same in the frame."""
        return shapely.transform(
            geometries, lambda xy: np.column_stack(self.forward(xy[:, 0], xy[:, 1]))
        )


class AzimuthalFrame:
    """An azimuthal equidistant frame (metres, on the WGS84 ellipsoid) centred on the middle
    of some lon/lat geometries' bounding box: distances from the centre are true, others
    close to it nearby — good for finding candidates, which ``GEOD`` then decides."""

    def __init__(self, geometries: Any) -> None:
        geometries = np.asarray(geometries, dtype=object)
        xmin, ymin, xmax, ymax = (
            shapely.total_bounds(geometries) if geometries.size else (0.0, 0.0, 0.0, 0.0)
        )
        aeqd = f"+proj=aeqd +lat_0={(ymin + ymax) / 2} +lon_0={(xmin + xmax) / 2} +datum=WGS84"
        self._transformer = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)

    def forward(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Lon/lat → frame x, y (metres)."""
        return self._transformer.transform(lon, lat)

    def inverse(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Frame x, y (metres) → lon/lat."""
        return self._transformer.transform(x, y, direction="INVERSE")

    def points(self, lon: Any, lat: Any) -> np.ndarray:
        """Shapely points in the frame."""
        return shapely.points(*self.forward(lon, lat))

    def geometries(self, geometries: Any) -> np.ndarray:
        """Lon/lat geometries → the same in the frame."""
        return shapely.transform(geometries, lambda xy: np.column_stack(self.forward(*xy.T)))


DENSIFY_DEG = 1e-4
"""Edges are densified to this (~10 m) before they are measured in an :class:`EqualAreaFrame`."""


class EqualAreaFrame:
    """Areas and widths of lon/lat geometries in metres: a Lambert azimuthal equal-area frame
    (on the WGS84 ellipsoid) centred on the data — the measure of upload validation.

    Overlays run on the lon/lat geometries themselves (edges straight in degrees, as PostGIS
    sees them); only their results are measured here, densified first so that a long edge
    does not bend away from where PostGIS has it.
    """

    def __init__(self, geometries: list[Any]) -> None:
        xmin, ymin, xmax, ymax = shapely.total_bounds(np.array(geometries, dtype=object))
        lon, lat = (xmin + xmax) / 2, (ymin + ymax) / 2
        laea = f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m +no_defs"
        self._fwd = Transformer.from_crs("EPSG:4326", laea, always_xy=True)
        north = max(abs(ymin), abs(ymax))
        south = 0.0 if ymin <= 0 <= ymax else min(abs(ymin), abs(ymax))
        # metres per degree: at least (longitude at the pole-most latitude), at most
        self.metres_per_degree = (
            110_574.0 * max(np.cos(np.radians(north)), 1e-6),
            111_700.0 * max(1.0, np.cos(np.radians(south))),
        )

    def metric(self, geom: Any) -> Any:
        """Geometry (or array of them) in metres, edges densified to :data:`DENSIFY_DEG`."""
        dense = shapely.segmentize(geom, DENSIFY_DEG)
        return shapely.transform(dense, lambda xy: np.column_stack(self._fwd.transform(*xy.T)))

    def area(self, geom: Any) -> float:
        """Area in m²."""
        return float(self.metric(geom).area)

    def thin(self, geom: Any, width_m: float) -> bool:
        """Whether the piece is narrower than ``width_m`` everywhere (a sliver)."""
        m = self.metric(geom)
        return bool(_maybe_thin(m, width_m)) and m.buffer(-width_m / 2).is_empty


def _maybe_thin(metric: Any, width_m: float) -> Any:
    """Every point of a piece narrower than ``width_m`` lies within width/2 of its boundary,
    so its area is at most perimeter × width/2: this rules out almost every ordinary polygon
    (vectorised; geometries in metres)."""
    return 2 * shapely.area(metric) <= shapely.length(metric) * width_m
