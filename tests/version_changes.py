"""A committed upload that adds, removes and changes regions: version 2 of a fresh database,
for the tests of version diffs (database and browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

from support import upload, write_layer

COMMUNITY = "130227001001"
FILE_NAME = "调整.geojson"


def grid(n: int) -> str:
    """The code of the community's grid number ``n``."""
    return f"{COMMUNITY}{n:03d}"


def upload_changes(client: Any, key: str, demo_grids: dict, tmp_path: Path) -> dict[str, set[str]]:
    """Commit one upload of the community's grids that removes, adds and changes regions:
    grids 1 and 2 merged into 2 (1 removed), grid 3 split into 3 and a new 99 (added),
    grid 4 renamed, grid 5's worker replaced.  Returns the expected codes by change."""
    features = [f for f in demo_grids["features"] if f["properties"]["parent_code"] == COMMUNITY]
    by_code = {f["properties"]["code"]: f for f in features}
    geoms = {code: shape(f["geometry"]) for code, f in by_code.items()}
    geoms[grid(2)] = shapely.union_all([geoms.pop(grid(1)), geoms[grid(2)]], grid_size=1e-7)
    three = geoms[grid(3)]
    x = three.centroid.x
    cut = shapely.LineString([(x, three.bounds[1] - 1), (x, three.bounds[3] + 1)])
    west, east = sorted(shapely.ops.split(three, cut).geoms, key=lambda g: g.centroid.x)
    geoms[grid(3)], geoms[grid(99)] = west, east
    rows = []
    for code in sorted(geoms):
        p = by_code.get(code, by_code[grid(3)])["properties"]
        rows.append(
            {
                "编码": code,
                "名称": "山庄里社区第99网格" if code == grid(99) else p["name"],
                "上级编码": COMMUNITY,
                "户数": p["households"],
                "网格员": p["grid_worker"],
                "网格员电话": p["grid_worker_phone"],
            }
        )
    rows[[r["编码"] for r in rows].index(grid(4))]["名称"] = "山庄里社区新四网格"
    rows[[r["编码"] for r in rows].index(grid(5))]["网格员"] = "欧阳晓明"
    path = write_layer(tmp_path / FILE_NAME, rows, [geoms[r["编码"]] for r in rows])
    response = upload(client, path, key, level="grid", dry_run=False)
    assert response.status_code == 201, response.json()["details"]["report"]["problems"]
    assert response.json()["version"] == 2
    return {
        "added": {grid(99)},
        "removed": {grid(1)},
        "changed": {grid(2), grid(3), grid(4), grid(5)},
    }
