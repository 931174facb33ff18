"""Coordinate reference systems: what input coordinates are in, and the way to WGS84.

Storage is WGS84 lon/lat (EPSG:4326).  Input may be any horizontal EPSG/pyproj CRS
(typically CGCS2000 3-degree Gauss-Krüger, EPSG:4513–4554) or one of the two Chinese
web-map datums that have no EPSG code: GCJ-02 (AMap/Tencent) and BD-09 (Baidu), whose
shift arithmetic is :mod:`gis.geo.shift` (the conversions it uses stay importable from here).
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Literal

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.database import query_crs_info
from pyproj.exceptions import CRSError, ProjError

from gis.errors import InvalidInput
from gis.geo.halves import in_halves
from gis.geo.shift import (
    CHINA_BBOX,
    Arrays,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

Kind = Literal["crs", "gcj02", "bd09", "latlon"]


@dataclass(frozen=True)
class CrsSpec:
    """How input coordinates are referenced: a pyproj CRS, or the GCJ-02/BD-09 datum.

    ``label`` is short and stable ("EPSG:4527", "GCJ-02", "BD-09", or the CRS's name when
    it has no EPSG code).  For kind "crs" either ``epsg`` or ``wkt`` rebuilds the CRS.
    """

    label: str
    epsg: int | None
    kind: Kind = "crs"
    wkt: str | None = None

    @property
    def is_wgs84(self) -> bool:
        """True if coordinates are already WGS84 lon/lat (EPSG:4326)."""
        return self.kind == "crs" and self.epsg == 4326

    def to_pyproj(self) -> CRS | None:
        """The pyproj CRS (``None`` for GCJ-02/BD-09, which are WGS84 plus an offset, and for
        lat/lon, which is WGS84 with its axes swapped)."""
        if self.kind != "crs":
            return None
        return _pyproj_crs(self.epsg, self.wkt)

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-ready mapping (without the WKT)."""
        return {"label": self.label, "epsg": self.epsg, "kind": self.kind}

    def __str__(self) -> str:
        return self.label


WGS84 = CrsSpec("EPSG:4326", 4326)
CGCS2000 = CrsSpec("EPSG:4490", 4490)
GCJ02 = CrsSpec("GCJ-02", None, "gcj02")
BD09 = CrsSpec("BD-09", None, "bd09")
LATLON = CrsSpec("WGS84 lat/lon", 4326, "latlon")
"""WGS84 with latitude first (x is latitude): files whose axes were swapped."""

_ALIASES = {
    "wgs84": WGS84,
    "cgcs2000": CGCS2000,
    "gcj02": GCJ02,
    "gcj": GCJ02,
    "amap": GCJ02,
    "gaode": GCJ02,
    "高德": GCJ02,
    "火星坐标": GCJ02,
    "bd09": BD09,
    "bd09ll": BD09,
    "baidu": BD09,
    "百度": BD09,
    "latlon": LATLON,
    "wgs84latlon": LATLON,
}


# --------------------------------------------------------------------------- CRS parsing


@lru_cache(maxsize=64)
def _pyproj_crs(epsg: int | None, wkt: str | None) -> CRS:
    return CRS.from_epsg(epsg) if epsg is not None else CRS.from_wkt(wkt or "")


@lru_cache(maxsize=64)
def _transformer(epsg: int | None, wkt: str | None, to_wgs84: bool) -> Transformer:
    crs = _pyproj_crs(epsg, wkt)
    if to_wgs84:
        return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _shorten(value: str, limit: int = 60) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


class _Unusable(Exception):
    """Why a CRS cannot be used (Chinese, English); turned into ``InvalidInput`` by callers."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def _unknown(value: str, why: _Unusable, *, from_file: bool) -> InvalidInput:
    shown = _shorten(value)
    if from_file:
        message = (
            f"文件中的坐标系“{shown}”无法使用：{why.zh}。请用 crs 参数指定坐标系（如 EPSG:4527）"
            f" (the file's CRS '{shown}' is unusable: {why.en}; give crs, e.g. EPSG:4527)"
        )
    else:
        message = (
            f"无法使用坐标系“{shown}”：{why.zh}。请使用 EPSG 代码（如 EPSG:4527）、wgs84、"
            f"cgcs2000、gcj02、bd09 或 WKT (unusable CRS '{shown}': {why.en}; use an EPSG "
            "code, wgs84, cgcs2000, gcj02, bd09 or WKT)"
        )
    return InvalidInput(message, code="unknown_crs", details={"crs": value})


_TYPE_NAMES_ZH = {
    "Vertical": "高程（垂直）坐标系",
    "Geocentric": "地心坐标系",
    "Engineering": "工程（局部）坐标系",
    "Temporal": "时间参考系",
}


def _horizontal(crs: CRS) -> CRS:
    """The horizontal part of ``crs``; rejects CRSs that cannot hold map coordinates."""
    if crs.is_compound:
        parts = [c for c in crs.sub_crs_list if c.is_geographic or c.is_projected]
        if not parts:
            raise _Unusable("复合坐标系中没有平面部分", "a compound CRS without a horizontal part")
        crs = parts[0]
    if crs.is_geocentric or crs.is_vertical or not (crs.is_geographic or crs.is_projected):
        kind = _TYPE_NAMES_ZH.get(crs.type_name.split()[0], crs.type_name)
        raise _Unusable(
            f"它是{kind}，不是经纬度或平面投影坐标系",
            f"{crs.type_name}: not a geographic or projected CRS",
        )
    try:
        transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    except (ProjError, CRSError) as exc:
        raise _Unusable("无法转换到 WGS84", "no transformation to WGS84") from exc
    del transformer
    return crs


def _same_as_epsg(crs: CRS, code: int) -> bool:
    """True if ``crs`` puts sample points where EPSG:code does (within ~1 cm)."""
    try:
        candidate = CRS.from_epsg(code)
        if candidate.is_geographic != crs.is_geographic:
            return False
        area = candidate.area_of_use
        west, south, east, north = area.bounds if area else CHINA_BBOX
        if east < west:
            east += 360.0
        lon, lat = np.meshgrid(np.linspace(west, east, 5)[1:-1], np.linspace(south, north, 5)[1:-1])
        lon = (lon.ravel() + 180.0) % 360.0 - 180.0
        lat = lat.ravel()
        x, y = Transformer.from_crs("EPSG:4326", candidate, always_xy=True).transform(lon, lat)
        back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    except (ProjError, CRSError):
        return False
    error = np.maximum(np.abs(np.asarray(back[0]) - lon), np.abs(np.asarray(back[1]) - lat))
    return bool(np.isfinite(error).all() and error.max() < 1e-7)


def _label(crs: CRS, value: str) -> str:
    if crs.name and crs.name.lower() != "unknown":
        return crs.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return crs.to_proj4()
    except CRSError:
        return _shorten(value)


def _resolve_epsg(crs: CRS) -> int | None:
    """The EPSG code of ``crs`` if it has one that transforms identically, else ``None``.

    Candidates: the code the definition itself carries (WKT1 ``AUTHORITY``, which pyproj's
    matcher scores low when only the axis order differs), then pyproj's identification.
    """
    candidates = []
    claimed = crs.to_json_dict().get("id") or {}
    if str(claimed.get("authority", "")).upper() == "EPSG":
        candidates.append(int(claimed["code"]))
    identified = crs.to_epsg(min_confidence=70)
    if identified is not None:
        candidates.append(identified)
    for code in dict.fromkeys(candidates):
        if _same_as_epsg(crs, code):
            return code
    return None


def _spec(crs: CRS, value: str, epsg: int | None = None) -> CrsSpec:
    if crs.is_compound:
        epsg = None
    crs = _horizontal(crs)
    if epsg is None:
        epsg = _resolve_epsg(crs)
    if epsg is not None:
        return CrsSpec(f"EPSG:{epsg}", epsg)
    return CrsSpec(_label(crs, value), None, "crs", crs.to_wkt())


_EPSG = re.compile(r"^\s*(?:epsg\s*:\s*)?(\d{1,6})\s*$", re.IGNORECASE)


MAX_CRS_TEXT = 20_000
"""Longest CRS text parsed (a WKT or PROJJSON of a projected CRS is a few KB)."""
_MEMO_SIZE = 1024
_memo: OrderedDict[str, CrsSpec | tuple[str, str]] = OrderedDict()
_memo_lock = threading.Lock()


_SYNTAX = re.compile(
    r"^\s*(?:\+?proj=|[A-Z][A-Z0-9_]*\s*\[|\{|urn:|https?://|[A-Za-z][\w.-]*:[\w.+-]+\s*$)",
    re.IGNORECASE,
)
"""CRS texts pyproj parses by their syntax: PROJ strings, WKT, PROJJSON, URNs and URLs,
AUTHORITY:CODE.  Anything else is taken as a CRS name."""


@lru_cache(maxsize=1)
def crs_names() -> dict[str, tuple[str, str]]:
    """Every CRS of PROJ's database by its name (lower case) → (authority, code); read once
    (~0.3 s holding the GIL: a server reads it at start-up, not on a request)."""
    found: dict[str, tuple[str, str]] = {}
    for info in query_crs_info():
        found.setdefault(info.name.lower(), (info.auth_name, info.code))
    return found


def _parse_text(value: str) -> CrsSpec | tuple[str, str]:
    """The spec of a CRS text, or why it is unusable (Chinese, English).

    A name is looked up exactly (case aside) in PROJ's database rather than handed to pyproj,
    whose approximate name search takes ~0.15 s, holding the GIL, to give up on garbage."""
    if len(value) > MAX_CRS_TEXT:
        return ("过长", f"longer than {MAX_CRS_TEXT} characters")
    match = _EPSG.match(value)
    try:
        if match:
            code = int(match.group(1))
            return _spec(CRS.from_epsg(code), value, code)
        if not _SYNTAX.match(value):
            named = crs_names().get(" ".join(value.split()).lower())
            if named is None:
                return ("无法识别", "not recognised")
            return _spec(CRS.from_authority(*named), value)
        return _spec(CRS.from_user_input(value.strip()), value)
    except CRSError:
        return ("无法识别", "not recognised")
    except _Unusable as why:
        return (why.zh, why.en)


def _from_text(value: str) -> CrsSpec:
    """The spec of a CRS text, remembered — unusable texts too: pyproj takes up to ~0.2 s to
    give up on garbage, and a client repeating it must not cost that every time."""
    with _memo_lock:
        found = _memo.get(value)
        if found is not None:
            _memo.move_to_end(value)
    if found is None:
        found = _parse_text(value)
        with _memo_lock:
            _memo[value] = found
            if len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)
    if isinstance(found, tuple):
        raise _Unusable(*found)
    return found


def _alias(value: str) -> CrsSpec | None:
    return _ALIASES.get(re.sub(r"[\s_\-]", "", value).lower())


def known_crs(value: str) -> bool:
    """Whether :func:`parse_crs` answers ``value`` from memory (an alias, or a text parsed
    before, usable or not) — else it may take pyproj a noticeable time: parse it off the event
    loop."""
    value = str(value)
    if _alias(value) is not None or not value.strip():
        return True
    with _memo_lock:
        return value in _memo


def parse_crs(value: str) -> CrsSpec:
    """A CRS as a user types it: wgs84, cgcs2000, gcj02, bd09, latlon (WGS84 with latitude
    first), EPSG:NNNN, NNNN, WKT or PROJ.

    Raises ``InvalidInput`` (code ``unknown_crs``) for anything unknown or unusable.
    """
    value = str(value)
    alias = _alias(value)
    if alias is not None:
        return alias
    try:
        if not value.strip():
            raise _Unusable("未填写", "empty")
        return _from_text(value)
    except _Unusable as why:
        raise _unknown(value, why, from_file=False) from why


def crs_from_file(crs_text: str) -> CrsSpec:
    """The CRS a file declares (as pyogrio reports it: "EPSG:NNNN" or WKT, e.g. from a .prj).

    Resolves to an EPSG code when pyproj identifies one that is equivalent in practice
    (e.g. ESRI ``CGCS2000_3_Degree_GK_Zone_39`` → EPSG:4527); otherwise keeps the WKT.
    Raises ``InvalidInput`` (code ``unknown_crs``) if it is unknown or unusable.
    """
    crs_text = crs_text or ""
    try:
        if not crs_text.strip():
            raise _Unusable("为空", "empty")
        return _from_text(crs_text)
    except _Unusable as why:
        raise _unknown(crs_text, why, from_file=True) from why


def gk_zone_epsg(lon: float, *, prefixed: bool = True) -> int:
    """The CGCS2000 3-degree Gauss-Krüger EPSG code for a longitude.

    ``prefixed`` gives the zone-prefixed code (4488 + zone, 8-digit eastings), otherwise the
    central-meridian code (4534 + (CM − 75) / 3, 6-digit eastings).
    """
    lon = float(lon)
    zone = math.floor(lon / 3.0 + 0.5) if math.isfinite(lon) else 0
    if not 25 <= zone <= 45:
        raise InvalidInput(
            f"经度 {lon} 不在 CGCS2000 3 度带范围内（中央经线 75°E–135°E） "
            f"(longitude {lon} is outside the CGCS2000 3-degree zones, CM 75°E–135°E)",
            code="unknown_crs",
            details={"lon": lon if math.isfinite(lon) else str(lon)},
        )
    return 4488 + zone if prefixed else 4534 + zone - 25


def infer_crs(xmin: float, ymin: float, xmax: float, ymax: float) -> tuple[CrsSpec, str] | None:
    """Guess the CRS of a file without one from its bounds — only when unambiguous.

    Lon/lat inside China → EPSG:4326; 8-digit eastings of one 3-degree Gauss-Krüger zone
    (25–45) with northings plausible for China → EPSG:(4488 + zone).  Otherwise ``None``.
    """
    bounds = np.array([xmin, ymin, xmax, ymax], dtype=np.float64)
    if not np.isfinite(bounds).all() or xmin > xmax or ymin > ymax:
        return None
    west, south, east, north = CHINA_BBOX
    if west <= xmin and xmax <= east and south <= ymin and ymax <= north:
        return WGS84, (
            "经纬度坐标位于中国范围内，按 WGS84 (EPSG:4326) 处理；若为高德/百度坐标请指定 "
            "gcj02/bd09 (lon/lat coordinates within China: treated as WGS84, EPSG:4326; "
            "give crs=gcj02/bd09 for AMap/Baidu coordinates)"
        )
    if xmin >= 10_000_000 and xmax < 100_000_000 and ymin >= 80_000 and ymax <= 6_200_000:
        zone = int(xmin // 1_000_000)
        if zone == int(xmax // 1_000_000) and 25 <= zone <= 45:
            base = zone * 1_000_000
            # A 3° zone is at most ±167 km wide; allow some overflow into the next zone.
            if base + 250_000 <= xmin and xmax <= base + 750_000:
                code = 4488 + zone
                return CrsSpec(f"EPSG:{code}", code), (
                    f"东坐标为 8 位且前两位为带号 {zone}，按 CGCS2000 3 度带高斯-克吕格第 {zone} "
                    f"带 (EPSG:{code}) 处理；若为北京54/西安80坐标请指定 crs "
                    f"(8-digit eastings prefixed with zone {zone}: treated as CGCS2000 "
                    f"3-degree Gauss-Kruger zone {zone}, EPSG:{code})"
                )
    return None


# --------------------------------------------------------------------------- geometries


def flat(geometries: Any) -> Any:
    """``geometries`` (an array, or one) in 2-D: Z and M dropped when any has them, else as
    they are (``force_2d`` copies every geometry: ten times the cost of asking)."""
    if np.any(shapely.has_z(geometries) | shapely.has_m(geometries)):
        return shapely.force_2d(geometries)
    return geometries


def _apply(geometries: Any, func: Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]) -> Any:
    def transform(xy: np.ndarray) -> np.ndarray:
        x, y = func(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])

    return shapely.transform(geometries, transform, include_z=False)


def coords_to_wgs84(x: np.ndarray, y: np.ndarray, spec: CrsSpec) -> Arrays:
    """Coordinate arrays in ``spec`` → WGS84 lon/lat arrays (``inf`` where not invertible)."""
    if spec.kind == "latlon":
        return y, x
    if spec.kind == "gcj02":
        return gcj02_to_wgs84(x, y)
    if spec.kind == "bd09":
        return bd09_to_wgs84(x, y)
    if spec.is_wgs84:
        return x, y
    return in_halves(_transformer(spec.epsg, spec.wkt, True).transform, x, y)


def to_wgs84(geometries: Any, spec: CrsSpec) -> Any:
    """Shapely geometries (an array, or one) in ``spec`` → 2-D geometries in WGS84 lon/lat.

    Coordinates a projection cannot invert come back as ``inf``; the caller checks ranges.
    """
    if spec.is_wgs84:
        return flat(geometries)
    return _apply(geometries, lambda x, y: coords_to_wgs84(x, y, spec))


def from_wgs84(geometries: Any, spec: CrsSpec) -> Any:
    """Shapely geometries (an array, or one) in WGS84 lon/lat → 2-D geometries in ``spec``."""
    if spec.kind == "latlon":
        return _apply(geometries, lambda x, y: (y, x))
    if spec.kind == "gcj02":
        return _apply(geometries, wgs84_to_gcj02)
    if spec.kind == "bd09":
        return _apply(geometries, wgs84_to_bd09)
    if spec.is_wgs84:
        return flat(geometries)
    return _apply(
        geometries, partial(in_halves, _transformer(spec.epsg, spec.wkt, False).transform)
    )


def lon_lat_out_of_range(lon: Any, lat: Any) -> np.ndarray:
    """Which WGS84 coordinates are no lon/lat: not finite, or beyond ±180° / ±90°."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 180) | (np.abs(lat) > 90)


def to_wgs84_points(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate coordinates and convert them from ``crs`` to WGS84 lon/lat."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise InvalidInput(
            "坐标必须是有限数字 (coordinates must be finite numbers)",
            code="invalid_coordinates",
        )
    spec = parse_crs(crs)
    lon_wgs, lat_wgs = (np.asarray(c, dtype=float) for c in coords_to_wgs84(lon, lat, spec))
    bad = lon_lat_out_of_range(lon_wgs, lat_wgs)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            f"坐标超出范围（经纬度是否颠倒？）: {lon[first]}, {lat[first]} in {spec.label} "
            "(coordinates out of range: swapped lon/lat or a wrong crs?)",
            code="coordinates_out_of_range",
            details={"index": first, "lon": float(lon[first]), "lat": float(lat[first])},
        )
    return lon_wgs, lat_wgs
