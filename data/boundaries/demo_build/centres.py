"""The demo party-service centres (``centres.csv``): 党群服务中心 (street) — 党群服务站
(community) — 党群之家 (compound) of 栗乡街道.

Names, addresses, sizes, opening hours and places are invented; the stations are
deliberately *not* at the best spots, so the siting analysis has something to gain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from gis.catalogue import CENTRE_LEVEL_NAMES
from gis.store.models import CENTRE_LEVELS

from demo_build.addresses import ADDRESS_PREFIX
from demo_build.frame import offset, rng, rounded, sample, to_deg, to_km
from demo_build.places import (
    GridIndex,
    compounds,
    demo_roads,
    doorplates,
    point_of,
    toward,
    urban_street,
)

STREET_CENTRE_OFFSET_M = 300.0  # the street centre lies within this distance of the centroid
CENTRE_FLOOR_AREA = {"centre": (1000, 1600), "station": (300, 800), "home": (60, 200)}
STATION_OFFSET_M = (150.0, 400.0)  # a station lies this far from one of its compounds
HOMES_RANGE = (8, 15)  # 党群之家 in this many compounds of the address registry
HOME_OFFSET_M = (5.0, 25.0)  # a home lies this far from its compound's point
EXPLICIT_RADIUS_M = {"station": 600, "home": 200}  # one centre of each gets its own radius
_OPENING_HOURS = {
    "centre": ("周一至周日 8:30-17:30",),
    "station": (
        "周一至周五 8:30-17:30",
        "周一至周六 8:30-17:30",
        "周一至周五 8:00-12:00 14:30-17:30",
    ),
    "home": ("周一至周日 9:00-20:00", "周一至周五 9:00-17:00", "周二至周日 14:00-20:00"),
}


def generate_centres(
    features: dict[str, list[dict[str, Any]]], addresses: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Party-service centres of 栗乡街道 (``regions.generate``'s features, the registry).

    One street centre near the street's centroid, one station per community at a random
    (not an optimal) point of it, and 党群之家 beside some registry compounds.  Rows have
    ``CENTRE_COLUMNS``, sorted by level (centre, station, home), grid code and name.
    """
    stream = rng("centres")
    index = GridIndex(features["grid"])
    street = urban_street(features)
    roads = demo_roads(street["geometry"])
    used = doorplates(addresses)
    rows: list[dict[str, Any]] = []

    def doorplate(point: np.ndarray) -> str:
        """An unused doorplate on the invented road nearest to ``point``."""
        here = to_km(shapely.Point(*point))
        road = min(roads, key=lambda r: (to_km(r.clipped).distance(here), r.name)).name
        while True:
            number = int(stream.integers(1, 300))
            if (road, number) not in used:
                used.add((road, number))
                return f"{ADDRESS_PREFIX}{road}{number}号"

    def add(place: str, level: str, address: str, point: np.ndarray) -> None:
        name = f"{place}{CENTRE_LEVEL_NAMES[level]}"
        low, high = CENTRE_FLOOR_AREA[level]
        step = 5 if level == "home" else 10
        area = int(stream.integers(low // step, high // step + 1)) * step
        hours = _OPENING_HOURS[level][int(stream.integers(len(_OPENING_HOURS[level])))]
        lon, lat = rounded(point)
        code = index.code_at(lon, lat)
        if code is None:
            raise RuntimeError(f"{name} lies outside every grid")
        rows.append(
            {
                "name": name,
                "level": level,
                "address": address,
                "floor_area_m2": area,
                "opening_hours": hours,
                "radius_m": None,
                "region_code": code,
                "lon": f"{lon:.7f}",
                "lat": f"{lat:.7f}",
            }
        )

    everywhere = index.area(range(len(index.codes)))
    centroid = street["geometry"].centroid
    near = to_deg(to_km(centroid).buffer(STREET_CENTRE_OFFSET_M / 1000.0)).intersection(everywhere)
    point = sample(near, 1, stream)[0]
    add(street["properties"]["name"], "centre", doorplate(point), point)

    placed = compounds(addresses, index)
    for community in features["community"]:
        props = community["properties"]
        members = [i for i, p in enumerate(index.parents) if p == props["code"]]
        inside = index.area(members)
        nearby = [point_of(r) for r, grid in placed if index.parents[grid] == props["code"]]
        if nearby:  # beside one of its compounds, but not on it
            base = nearby[int(stream.integers(len(nearby)))]
            angle = float(stream.uniform(0.0, 2.0 * math.pi))
            distance = float(stream.uniform(*STATION_OFFSET_M))
            target = offset(base, distance * math.sin(angle), distance * math.cos(angle))
            point = toward(base, target, inside)
        else:
            point = sample(inside, 1, stream)[0]
        add(props["name"], "station", doorplate(point), point)

    n = int(stream.integers(HOMES_RANGE[0], HOMES_RANGE[1] + 1))
    for i in sorted(stream.choice(len(placed), size=n, replace=False).tolist()):
        row, grid = placed[i]
        centre = point_of(row)
        angle = float(stream.uniform(0.0, 2.0 * math.pi))
        distance = float(stream.uniform(*HOME_OFFSET_M))
        target = offset(centre, distance * math.sin(angle), distance * math.cos(angle))
        point = toward(centre, target, index.shrunk[grid])
        add(row["compound"], "home", row["address"], point)

    for level, radius in EXPLICIT_RADIUS_M.items():
        candidates = [r for r in rows if r["level"] == level]
        candidates[int(stream.integers(len(candidates)))]["radius_m"] = radius
    rows.sort(key=lambda r: (CENTRE_LEVELS.index(r["level"]), r["region_code"], r["name"]))
    return rows
