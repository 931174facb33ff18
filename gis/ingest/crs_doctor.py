"""The CRS doctor: when a file does not fit what is stored, which CRS would make it fit.

Boundary files reach a county office with a wrong or missing ``.prj`` (the neighbouring
Gauss-Krüger zone, 3° for 6° zones, the zone prefix in the false easting or not, Beijing 1954 /
Xi'an 1980 labelled as CGCS2000) or with AMap/Baidu coordinates (GCJ-02/BD-09) saved as
"WGS84".  The stored hierarchy is the best witness: the doctor reads the file's *raw*
coordinates again in each likely CRS and measures how well the result fits what is stored —
the intersection over union (IoU) with the stored regions of the same codes, or, for new
regions, the share of their area inside their stored parent.  The best fit is reported with
the exact ``crs=`` value for a retry.

Work stays proportional: at most :data:`SAMPLE` features are measured, each candidate CRS is
a vectorised transform of those, and measuring is in degrees scaled by cos(latitude), which is
enough for a ratio of areas within one region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInput
from gis.geo.crs import CHINA_BBOX, CrsSpec, parse_crs, to_wgs84

SAMPLE = 200
"""At most this many features are measured per candidate CRS."""
SUGGEST_FIT = 0.9
"""A candidate is suggested when it fits at least this well, and its misfit (1 − fit) is at
most half the misfit of the CRS the file was read in."""


@dataclass(frozen=True)
class Candidate:
    """A CRS the coordinates might be in: the ``crs=`` value that selects it, and what it is."""

    value: str
    zh: str
    en: str


@dataclass(frozen=True)
class References:
    """What the file's features should fit, by feature index (0-based): the stored geometry of
    the same code (``same``), or else the stored parent (``parents``)."""

    same: dict[int, BaseGeometry]
    parents: dict[int, BaseGeometry]

    def __bool__(self) -> bool:
        return bool(self.same or self.parents)


_GEOGRAPHIC = (
    Candidate("wgs84", "WGS84 经纬度", "WGS84 lon/lat"),
    Candidate("gcj02", "高德/腾讯 GCJ-02", "AMap/Tencent GCJ-02"),
    Candidate("bd09", "百度 BD-09", "Baidu BD-09"),
)
_SWAPPED = Candidate("latlon", "纬度在前的 WGS84 坐标（经纬度颠倒）", "WGS84 with latitude first")
# Gauss-Krüger families: (datum zh, datum en, and for each zone width — 3° from zone 25 at CM
# 75°E, 6° from zone 13 at CM 75°E — the first EPSG of its zone-prefixed and its CM series).
_GK_FAMILIES = (
    ("CGCS2000", "CGCS2000", {3: (4513, 4534), 6: (4491, 4502)}),
    ("北京54", "Beijing 1954", {3: (2401, 2422), 6: (21413, 21453)}),
    ("西安80", "Xian 1980", {3: (2349, 2370), 6: (2327, 2338)}),
)
_FIRST_ZONE = {3: 25, 6: 13}
_ZONES = {3: 21, 6: 11}


def _central_meridian(width: int, zone: int) -> int:
    return zone * 3 if width == 3 else zone * 6 - 3


def _gauss_kruger(x0: float, lon: float) -> list[Candidate]:
    """Gauss-Krüger CRSs near longitude ``lon`` whose easting form fits eastings from x0:
    8 digits with the zone in front (that zone and its neighbours), or 6 digits (central
    meridians near ``lon``)."""
    found = []
    prefixed = x0 >= 10_000_000
    near = {3: round(lon / 3), 6: math.floor(lon / 6) + 1}
    for zh, en, series in _GK_FAMILIES:
        for width, (first_prefixed, first_cm) in series.items():
            zones = {near[width] + d for d in (-1, 0, 1)}
            if prefixed:
                zones = {int(x0 // 1_000_000) + d for d in (-1, 0, 1)} | {near[width]}
            first = _FIRST_ZONE[width]
            for zone in sorted(z for z in zones if first <= z < first + _ZONES[width]):
                code = (first_prefixed if prefixed else first_cm) + zone - first
                cm = _central_meridian(width, zone)
                what = f"第 {zone} 带" if prefixed else f"中央经线 {cm}°E"
                en_what = f"zone {zone}" if prefixed else f"CM {cm}E"
                found.append(
                    Candidate(
                        f"EPSG:{code}",
                        f"{zh} {width} 度带高斯-克吕格{what} (EPSG:{code})",
                        f"{en} {width}-degree Gauss-Kruger {en_what} (EPSG:{code})",
                    )
                )
    return found


def candidates(raw_bounds: np.ndarray, lon: float) -> list[Candidate]:
    """The CRSs worth trying for raw coordinates with these bounds near longitude ``lon``."""
    x0, y0, x1, y1 = (float(v) for v in raw_bounds)
    if max(abs(x0), abs(x1)) <= 90 and max(abs(y0), abs(y1)) <= 180:
        return [*_GEOGRAPHIC, _SWAPPED]
    if max(abs(x0), abs(x1)) <= 180 and max(abs(y0), abs(y1)) <= 90:
        return list(_GEOGRAPHIC)
    if x0 >= 100_000 and x1 < 100_000_000 and y0 >= 0 and y1 <= 6_500_000:
        return _gauss_kruger(x0, lon)
    return []


def _scaled(geoms: np.ndarray, lat: float) -> np.ndarray:
    """Lon scaled by cos(lat): areas in (roughly) equal units for ratios within a region."""
    k = math.cos(math.radians(lat))
    return shapely.transform(geoms, lambda xy: xy * np.array([k, 1.0]))


def _fit(geoms: np.ndarray, reference: np.ndarray, iou: bool, lat: float) -> float:
    """With ``iou``: Σ∩ / Σ∪ of each feature and its stored same-code region; else the share
    of the features' area inside their stored parents."""
    usable = ~shapely.is_missing(geoms) & shapely.is_valid(geoms)
    a = _scaled(np.where(usable, geoms, shapely.Polygon()), lat)
    b = _scaled(reference, lat)
    inter = shapely.area(shapely.intersection(a, b)).sum()
    total = shapely.area(a).sum() + (shapely.area(b).sum() - inter if iou else 0.0)
    return float(inter / total) if total > 0 else 0.0


def _in_china(geoms: np.ndarray) -> bool:
    present = geoms[~shapely.is_missing(geoms)]
    if not len(present):
        return False
    coords = shapely.get_coordinates(present)
    if not np.isfinite(coords).all():
        return False
    west, south, east, north = CHINA_BBOX
    x0, y0, x1, y1 = shapely.total_bounds(present)
    return west <= x0 and x1 <= east and south <= y0 and y1 <= north


def _sample(indices: list[int]) -> list[int]:
    if len(indices) <= SAMPLE:
        return indices
    return [indices[i] for i in np.linspace(0, len(indices) - 1, SAMPLE).astype(int)]


def _describe(spec: CrsSpec) -> tuple[str, str]:
    for c in (*_GEOGRAPHIC, _SWAPPED):
        if parse_crs(c.value) == spec:
            return c.zh, c.en
    return spec.label, spec.label


def diagnose(raw: np.ndarray, used: CrsSpec, references: References) -> dict[str, Any] | None:
    """How well the file's raw geometries fit the stored ``references`` read in ``used`` and
    in every likely CRS; ``None`` when there is nothing stored to compare with.

    The answer: ``used`` and ``fit`` (0–1) as read, ``tried`` (the best five candidates with
    their fit), and ``suggestion`` — the best candidate, with ``crs`` (the value to pass),
    ``fit`` and a message in Chinese and English — when it fits at least
    :data:`SUGGEST_FIT` and halves the misfit of the file as read; else ``None``.
    """
    if not references:
        return None
    iou = bool(references.same)
    by_index = references.same if iou else references.parents
    order = _sample(sorted(by_index))
    reference = np.array([by_index[i] for i in order], dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(reference)
    lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
    subset = raw[order]
    present = subset[~shapely.is_missing(subset)]
    if not len(present):
        return None

    def fit_in(spec: CrsSpec) -> float | None:
        try:
            geoms = to_wgs84(subset, spec)
        except InvalidInput:
            return None
        return _fit(geoms, reference, iou, lat) if _in_china(geoms) else 0.0

    as_read = fit_in(used) or 0.0
    tried = []
    for c in candidates(shapely.total_bounds(present), lon):
        spec = parse_crs(c.value)
        if spec == used:
            continue
        fit = fit_in(spec)
        if fit is not None:
            tried.append((fit, c))
    tried.sort(key=lambda t: -t[0])
    suggestion = None
    if tried and tried[0][0] >= SUGGEST_FIT and 1 - tried[0][0] <= (1 - as_read) / 2:
        fit, best = tried[0]
        measure_zh = "与现有边界重合" if iou else "落在上级区域内"
        measure_en = "match the stored boundaries" if iou else "lie inside their parent"
        suggestion = {
            "crs": best.value,
            "fit": round(fit, 4),
            "message": f"坐标看起来是{best.zh}：按 {best.value} 转换后{measure_zh} {fit:.1%}"
            f"（按 {used.label} 仅 {as_read:.1%}），请以 crs={best.value} 重新上传 "
            f"(the coordinates look like {best.en}: read as crs={best.value} they "
            f"{measure_en} {fit:.1%}, read as {used.label} {as_read:.1%}; upload again "
            f"with crs={best.value})",
        }
    used_zh, used_en = _describe(used)
    return {
        "used": used.label,
        "used_description": f"{used_zh} ({used_en})" if used_zh != used_en else used.label,
        "fit": round(as_read, 4),
        "measure": "iou" if iou else "inside_parent",
        "tried": [{"crs": c.value, "fit": round(f, 4)} for f, c in tried[:5]],
        "suggestion": suggestion,
    }
