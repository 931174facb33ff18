"""The demo address registry (``addresses.csv``): invented roads, compounds and buildings
of 栗乡街道, inside the demo grids.

Road and compound names are invented (any likeness to real places is chance); 阳光小区 and
阳光花园 share a prefix on purpose, so that "阳光5号楼" is ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from gis.store.demo_files import ADDRESS_COLUMNS

from demo_build.frame import INSET_DEG, rng, sample
from demo_build.sources import URBAN_STREET_CODE

ADDRESS_PREFIX = "河北省唐山市迁西县栗乡街道"
ADDRESS_CODE_PREFIX = f"DZ{URBAN_STREET_CODE}"
ROADS = (
    "滦河路",
    "兴安街",
    "喜峰路",
    "栗乡路",
    "京华街",
    "新华路",
    "文化街",
    "燕山路",
    "青龙路",
    "长城大街",
    "迎宾路",
    "景忠街",
)
"""The invented road names (路 run west→east, 街 south→north: ``demo_build.roads``)."""
_COMPOUNDS = (
    "阳光小区",
    "阳光花园",
    "滨河家园",
    "栗香小区",
    "翠屏花园",
    "锦绣家园",
    "龙湾小区",
    "金岸花园",
    "幸福家园",
    "和平小区",
    "康乐花园",
    "富康家园",
    "丽水小区",
    "华府花园",
    "安居家园",
    "银河小区",
    "春晖花园",
    "祥和家园",
    "明珠小区",
    "御景花园",
    "东城家园",
    "书香小区",
    "紫薇花园",
    "泰和家园",
)
BUILDINGS_RANGE = (5, 12)
UNITS_RANGE = (1, 4)
FLOORS_RANGE = (5, 18)
N_DOORPLATES = 48
_COMPOUND_SPAN_DEG = 0.0012  # buildings lie within about ±100 m of their compound


def generate_addresses(grids: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """An address registry inside the demo grids (``regions.generate``'s grid features).

    Each compound lies in its own randomly chosen grid, with a row for the compound
    (its centre) and one per building (within about ±100 m, in the same grid); doorplates
    (road + number, no compound) lie in random grids.  Rows have ``ADDRESS_COLUMNS``,
    codes in generation order.
    """
    stream = rng("addresses")
    shapes = [
        shapely.buffer(g["geometry"], -INSET_DEG, join_style="mitre")
        for g in sorted(grids, key=lambda g: g["properties"]["code"])
    ]
    used: set[tuple[str, int]] = set()

    def doorplate() -> tuple[str, int]:
        while True:
            key = (str(stream.choice(ROADS)), int(stream.integers(1, 300)))
            if key not in used:
                used.add(key)
                return key

    rows: list[dict[str, Any]] = []

    def add(address: str, point: np.ndarray, **parts: Any) -> None:
        code = f"{ADDRESS_CODE_PREFIX}{len(rows) + 1:05d}"
        lon, lat = (f"{v:.7f}" for v in point)
        rows.append({"code": code, "address": address, **parts, "lon": lon, "lat": lat})

    homes = stream.choice(len(shapes), size=len(_COMPOUNDS), replace=False)
    for compound, home in zip(_COMPOUNDS, homes.tolist(), strict=True):
        road, number = doorplate()
        base = f"{ADDRESS_PREFIX}{road}{number}号{compound}"
        centre = sample(shapes[home], 1, stream)[0]
        area = shapes[home].intersection(
            shapely.box(*(centre - _COMPOUND_SPAN_DEG), *(centre + _COMPOUND_SPAN_DEG))
        )
        parts = {"road": road, "road_number": str(number), "compound": compound}
        add(base, centre, **parts)
        n = int(stream.integers(BUILDINGS_RANGE[0], BUILDINGS_RANGE[1] + 1))
        for building, point in enumerate(sample(area, n, stream), start=1):
            units = int(stream.integers(UNITS_RANGE[0], UNITS_RANGE[1] + 1))
            floors = int(stream.integers(FLOORS_RANGE[0], FLOORS_RANGE[1] + 1))
            households = units * floors * 2
            add(
                f"{base}{building}号楼",
                point,
                **parts,
                building=str(building),
                units=units,
                floors=floors,
                households=households,
            )
    for _ in range(N_DOORPLATES):
        road, number = doorplate()
        point = sample(shapes[int(stream.integers(len(shapes)))], 1, stream)[0]
        add(f"{ADDRESS_PREFIX}{road}{number}号", point, road=road, road_number=str(number))
    return [{c: row.get(c) for c in ADDRESS_COLUMNS} for row in rows]
