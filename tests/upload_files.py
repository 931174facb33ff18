"""Files a clerk receives: the demo grids of one community as a zipped GBK shapefile whose
.prj names the wrong CRS (tests/db/test_upload_inspect.py, tests/browser/test_workbench_upload.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from support import write_layer, zip_dir

COMMUNITY = "130227001001"
"""The demo community whose six grids the file holds."""
TRUE_CRS = "EPSG:2436"
"""The CRS the coordinates are really in: Beijing 1954 / 3-degree Gauss-Krüger CM 117E."""
STATED_CRS = "EPSG:4548"
"""The CRS the .prj names: CGCS2000 / 3-degree Gauss-Krüger CM 117E (the datums differ by
~80 m here: every grid lands beside its place)."""


def community_grids(demo_grids: dict, community: str = COMMUNITY) -> list[dict[str, Any]]:
    """The demo grids of ``community`` (GeoJSON features)."""
    return [f for f in demo_grids["features"] if f["properties"]["parent_code"] == community]


def gbk_shapefile_wrong_prj(demo_grids: dict, folder: Path, stem: str = "网格") -> Path:
    """A zip of the community's grids as a GBK shapefile with Chinese field names (网格编码,
    网格名称, 社区编码, 户数), coordinates in :data:`TRUE_CRS` and a .prj saying
    :data:`STATED_CRS`."""
    grids = community_grids(demo_grids)
    to_true = Transformer.from_crs("EPSG:4326", TRUE_CRS, always_xy=True)
    geometries = [
        shapely.transform(
            shape(f["geometry"]), lambda xy: np.column_stack(to_true.transform(*xy.T))
        )
        for f in grids
    ]
    rows = [
        {
            "网格编码": f["properties"]["code"],
            "网格名称": f["properties"]["name"],
            "社区编码": f["properties"]["parent_code"],
            "户数": 300 + i,
        }
        for i, f in enumerate(grids)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    write_layer(
        folder / f"{stem}.shp",
        rows,
        geometries,
        driver="ESRI Shapefile",
        crs=STATED_CRS,
        encoding="GBK",
    )
    return zip_dir(sorted(folder.glob(f"{stem}.*")), folder / f"{stem}.zip")
