"""The demo cameras (``cameras.csv``, 雪亮工程) of 栗乡街道: GB/T 28181 device IDs,
invented places along the invented road lines and at the registry's compounds.

Device IDs, names, places and parameters are invented.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from gis.catalogue.schema import CAMERA_TYPE_CODES
from gis.store.models import CAMERA_STATUSES

from demo_build.frame import bearing, metres, offset, rng, rounded, to_deg, to_km
from demo_build.places import (
    GridIndex,
    compounds,
    crossings,
    demo_roads,
    point_of,
    toward,
    urban_street,
)

N_CAMERAS = 300
CAMERA_OFFLINE_SHARE = 0.05
CAMERA_CENTRE_CODE = "13022700"  # GB/T 28181 digits 1-8: the centre code (迁西县 130227 + 00)
CAMERA_INDUSTRY = {"road": "00", "compound": "01"}  # 社会治安路面接入 / 社会治安社区接入
CAMERA_NETWORK = "0"  # digit 14: 监控报警专网
IP_CAMERA_SHARE = 0.85  # the share of IP cameras (132); the rest are cameras (131)
# per mounting type: field of view (None = 360° dome), range m, height m
CAMERA_KINDS: dict[str, tuple[tuple[float, float] | None, tuple[int, int], tuple[float, float]]] = {
    "枪机": ((40.0, 90.0), (50, 120), (4.0, 8.0)),
    "球机": (None, (60, 120), (6.0, 8.0)),
    "半球": ((80.0, 110.0), (30, 50), (3.0, 4.5)),
}
_CORNERS = {"东北": (1, 1), "东南": (1, -1), "西南": (-1, -1), "西北": (-1, 1)}
_GATES = {"东门": (1, 0), "南门": (0, -1), "西门": (-1, 0), "北门": (0, 1)}
CORNER_OFFSET_M = 15.0  # corner cameras stand this far east/west and north/south of a crossing
ROAD_SIDE_M = (8.0, 12.0)  # road cameras stand this far beside the road line
ROAD_CAMERA_DISTANCE_M = (50, 600)  # ... and this far from the named crossing
_ONLINE, _OFFLINE = CAMERA_STATUSES
_CAMERA, _IP_CAMERA = CAMERA_TYPE_CODES  # 131, 132


def _camera_specs(kind: str, stream: np.random.Generator) -> dict[str, Any]:
    fov, (range_low, range_high), height = CAMERA_KINDS[kind]
    return {
        "fov_deg": 360 if fov is None else round(float(stream.uniform(*fov))),
        "range_m": int(stream.integers(range_low // 5, range_high // 5 + 1)) * 5,
        "height_m": f"{float(stream.uniform(*height)):.1f}",
        "type": kind,
    }


def generate_cameras(
    features: dict[str, list[dict[str, Any]]], addresses: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``N_CAMERAS`` cameras of 栗乡街道 (``regions.generate``'s features, the registry).

    Corner cameras at crossings of the invented road lines, cameras at the registry's
    compounds (gates, squares, car parks, building entrances) and, to make up the number,
    cameras beside the roads named from the nearest crossing.  Every point keeps about 2 m
    from grid edges.  Rows have ``CAMERA_COLUMNS``, sorted by device ID.
    """
    stream = rng("cameras")
    index = GridIndex(features["grid"])
    street = urban_street(features)
    roads = demo_roads(street["geometry"])
    inner = to_deg(to_km(street["geometry"]).buffer(-0.05))  # crossings keep 50 m inside
    crossed = crossings(roads, inner)
    rows: list[dict[str, Any]] = []
    names: set[str] = set()

    def add(name: str, point: np.ndarray, azimuth: float, kind: str, industry: str) -> bool:
        if name in names or index.safe_grid(point) is None:
            return False
        names.add(name)
        lon, lat = rounded(point)
        type_code = _IP_CAMERA if stream.uniform() < IP_CAMERA_SHARE else _CAMERA
        serial = len(rows) + 1
        device_id = f"{CAMERA_CENTRE_CODE}{industry}{type_code}{CAMERA_NETWORK}{serial:06d}"
        rows.append(
            {
                "device_id": device_id,
                "name": name,
                "azimuth_deg": f"{round(azimuth % 360.0, 1) % 360.0:.1f}",
                **_camera_specs(kind, stream),
                "status": _ONLINE,
                "region_code": index.code_at(lon, lat),
                "lon": f"{lon:.7f}",
                "lat": f"{lat:.7f}",
            }
        )
        return True

    for ew, ns, at in crossed:
        k = int(stream.integers(2, 5))
        corners = sorted(stream.choice(len(_CORNERS), size=k, replace=False).tolist())
        dome = int(stream.integers(k)) if stream.uniform() < 0.4 else -1
        for j, c in enumerate(corners):
            corner, (sx, sy) = list(_CORNERS.items())[c]
            point = offset(at, sx * CORNER_OFFSET_M, sy * CORNER_OFFSET_M)
            azimuth = bearing(-sx, -sy) + float(stream.uniform(-25.0, 25.0))
            kind = "球机" if j == dome else "枪机"
            add(
                f"{ew.name}与{ns.name}交叉口{corner}角",
                point,
                azimuth,
                kind,
                CAMERA_INDUSTRY["road"],
            )

    for row, grid in compounds(addresses, index):
        centre, inside = point_of(row), index.shrunk[grid]
        buildings = {
            r["building"]: point_of(r)
            for r in addresses
            if r["compound"] == row["compound"] and r.get("building")
        }
        spots = [*_GATES, "停车场", "中心广场", *(f"{b}号楼单元门口" for b in buildings)]
        k = int(stream.integers(3, 7))
        for s in sorted(stream.choice(len(spots), size=k, replace=False).tolist()):
            spot = spots[s]
            if spot in _GATES:
                sx, sy = _GATES[spot]
                distance = float(stream.uniform(60.0, 110.0))
                target = offset(centre, sx * distance, sy * distance)
                azimuth = bearing(sx, sy) + float(stream.uniform(-20.0, 20.0))
                point, kind = toward(centre, target, inside), "枪机"
            elif spot.endswith("单元门口"):
                base = buildings[spot.removesuffix("号楼单元门口")]
                angle = float(stream.uniform(0.0, 2.0 * math.pi))
                east, north = 5.0 * math.sin(angle), 5.0 * math.cos(angle)
                point = toward(base, offset(base, east, north), inside)
                azimuth, kind = float(stream.uniform(0.0, 360.0)), "半球"
            else:
                east, north = stream.uniform(-40.0, 40.0, size=2).tolist()
                point = toward(centre, offset(centre, east, north), inside)
                azimuth, kind = float(stream.uniform(0.0, 360.0)), "球机"
            add(f"{row['compound']}{spot}", point, azimuth, kind, CAMERA_INDUSTRY["compound"])

    if len(rows) > N_CAMERAS:
        raise RuntimeError(f"{len(rows)} crossing and compound cameras exceed {N_CAMERAS}")
    lengths = np.array([r.clipped.length for r in roads])
    for _ in range(100 * N_CAMERAS):
        if len(rows) == N_CAMERAS:
            break
        road = roads[int(stream.choice(len(roads), p=lengths / lengths.sum()))]
        at = shapely.line_interpolate_point(
            road.clipped, float(stream.uniform(0, road.clipped.length))
        )
        here = np.array([at.x, at.y])
        own = [c for c in crossed if road is c[0] or road is c[1]]
        if not own:
            continue
        ew, ns, cross = min(own, key=lambda c: math.hypot(*metres(c[2], here)))
        east, north = metres(cross, here)
        along = east if road.axis == "ew" else north
        distance = round(abs(along), -1)
        if not ROAD_CAMERA_DISTANCE_M[0] <= distance <= ROAD_CAMERA_DISTANCE_M[1]:
            continue
        direction = (
            ("东" if along > 0 else "西") if road.axis == "ew" else ("北" if along > 0 else "南")
        )
        other = ns if road is ew else ew
        side = float(stream.choice([-1.0, 1.0])) * float(stream.uniform(*ROAD_SIDE_M))
        heading = bearing(east, north)
        point = offset(
            here,
            side * math.cos(math.radians(heading)),
            -side * math.sin(math.radians(heading)),
        )
        azimuth = heading + float(stream.choice([0.0, 180.0])) + float(stream.uniform(-10.0, 10.0))
        kind = "球机" if stream.uniform() < 0.2 else "枪机"
        add(
            f"{road.name}与{other.name}交叉口{direction}{distance:.0f}米",
            point,
            azimuth,
            kind,
            CAMERA_INDUSTRY["road"],
        )
    if len(rows) != N_CAMERAS:
        raise RuntimeError(f"placed {len(rows)} of {N_CAMERAS} cameras")
    offline = stream.choice(N_CAMERAS, size=round(CAMERA_OFFLINE_SHARE * N_CAMERAS), replace=False)
    for i in offline.tolist():
        rows[i]["status"] = _OFFLINE
    rows.sort(key=lambda r: r["device_id"])
    return rows
