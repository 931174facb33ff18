"""Grid standards of a region (网格达标): each grid's households against the band, its grid
worker and party branch, whether a centre reaches it and a camera sees any of it; counts per
community.  Computed for the whole region once per data state (:mod:`gis.analysis.stored`:
the boundary version, the centres' and cameras' stamps, the settings); a page reads the
stored flags and its own grids' rows.  Buildings are not read: no standard counts them; nor
are the polygons of grids no centre or camera comes near (``near_grids``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import Connection

from gis.analysis import paging, stored
from gis.analysis.facilities import grids_reached, near_grids
from gis.analysis.inputs import grid_columns, grid_rows, grids_of, page_grids, read_exact
from gis.analysis.report import data_state, region_facilities, stored_key
from gis.settings import Settings

LAYERS = ("centres", "cameras")
_PROBLEMS = (
    "households_unknown",
    "households_below_band",
    "households_above_band",
    "no_grid_worker",
    "no_party_branch",
    "no_centre_in_reach",
    "no_camera",
)


def _problems(row: dict[str, Any], no_centre: bool, no_camera: bool, band: list[int]) -> list[str]:
    """The standards a grid's attribute row misses (in the order of ``_PROBLEMS``)."""
    households, (low, high) = row["households"], band
    failed = (
        households is None,
        households is not None and households < low,
        households is not None and households > high,
        not row["grid_worker"],
        not row["party_branch"],
        no_centre,
        no_camera,
    )
    return [name for name, bad in zip(_PROBLEMS, failed, strict=True) if bad]


def _standards_row(row: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    names = ("code", "name", "community_code", "community_name", "households")
    return {
        **{n: row[n] for n in names},
        "grid_worker": row["grid_worker"],
        "party_branch": row["party_branch"],
        "problems": problems,
    }


def _standards_whole(
    conn: Connection, region: str, settings: Settings
) -> tuple[dict[str, Any], dict[str, np.ndarray], list[dict[str, Any]]]:
    """The standards of the whole region: the summary (band, communities, totals), per grid
    its code and whether no centre / no camera reaches it, and the grids' attribute rows."""
    columns = grid_columns(conn, region, settings)
    rows, grids = grid_rows(columns), grids_of(columns)
    radius = settings.centre_radius_m
    facilities = {layer: region_facilities(conn, layer, grids, settings) for layer in LAYERS}
    near = [near_grids(grids.polygons, facilities[layer], layer, radius) for layer in LAYERS]
    read_exact(conn, grids, np.union1d(*near))
    unreached = {
        layer: ~grids_reached(grids.polygons, facilities[layer], layer, default_radius_m=radius)
        for layer in LAYERS
    }
    band = [settings.grid_households_min, settings.grid_households_max]
    per_community: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    names, with_problems = {}, 0
    for i, row in enumerate(rows):
        problems = _problems(row, unreached["centres"][i], unreached["cameras"][i], band)
        names[row["community_code"]] = row["community_name"]
        counts = per_community[row["community_code"]]
        counts["grids"] += 1
        counts["grids_with_problems"] += bool(problems)
        with_problems += bool(problems)
        for problem in problems:
            counts[problem] += 1
    summary = {
        "household_band": band,
        "communities": [
            {"code": code, "name": names[code], **dict(counts)}
            for code, counts in sorted(per_community.items(), key=lambda kv: str(kv[0]))
        ],
        "totals": {"grids": len(rows), "grids_with_problems": with_problems},
    }
    arrays = {
        "grid_code": np.array([r["code"] for r in rows], dtype=str),
        "no_centre": unreached["centres"],
        "no_camera": unreached["cameras"],
    }
    return summary, arrays, rows


def grid_standards(
    conn: Connection, region: str, settings: Settings, page: paging.GridPage | None = None
) -> dict[str, Any]:
    """Grids that miss the standards: households outside the band, no grid worker or party
    branch, no centre in reach, no camera seeing any of it — each grid (of ``page``) and
    counts per community (of all).  Computed once per data state, as the coverage."""
    version, stamps = data_state(conn, region, LAYERS)
    name = stored_key("standards", region, version, stamps, settings)
    found = stored.load(conn, name)
    if found is not None:
        summary, arrays = found
        codes = arrays["grid_code"].tolist()
        shown = paging.rows(codes, page) if page is not None else slice(0, len(codes))
        rows = page_grids(conn, codes[shown], version)[1]
    else:
        summary, arrays, rows = _standards_whole(conn, region, settings)
        stored.save(conn, name, "standards", region, summary, arrays)
        codes = [r["code"] for r in rows]
        shown = paging.rows(codes, page) if page is not None else slice(0, len(codes))
        rows = rows[shown]
    band = summary["household_band"]
    grids = [
        _standards_row(row, _problems(row, arrays["no_centre"][i], arrays["no_camera"][i], band))
        for i, row in zip(range(shown.start, shown.stop), rows, strict=True)
    ]
    listed = {"page": paging.about(codes, shown, page)} if page is not None else {}
    return {
        "region": region,
        "household_band": band,
        "grids": grids,
        **listed,
        "communities": summary["communities"],
        "totals": summary["totals"],
    }
