"""The difference between two boundary versions: which regions were added, removed or changed.

A region is *added* when it is valid at version b and not at a, *removed* the other way
round, *changed* when it is valid at both and its content differs — geometry at storage
precision, name, parent, a typed attribute or a free one (``gis.store.versions.differs``,
the same judgement a commit makes).  The order of a and b is the reader's: a diff from 5
to 3 answers what going back to 3 would do.  Areas are geodesic
(``ST_Area(geom::geography)``, square metres on the WGS 84 ellipsoid).

What changed in the attributes is stated with the values before and after; personal ones
(a grid worker's name and phone, personal free attributes) as ``gis.access.privacy`` lets
the caller's role see them — an anonymous caller is not even told that they changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from gis.access import privacy
from gis.store.versions import (
    ATTRIBUTE_COLUMNS,
    differs,
    geometry_differs,
    resolve_version,
    valid_at,
)

CHANGES = ("added", "changed", "removed")
"""The kinds of change of a region between two versions, in the order a summary lists them."""
DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000

_COMPARED = ("name", "parent_code", *ATTRIBUTE_COLUMNS)
"""Columns whose change a diff names (code and level identify the region, geometry and free
attributes are compared on their own)."""
_COLUMNS = ("code", "level", *_COMPARED, "attributes")

_SQL = f"""
WITH a AS (SELECT * FROM regions r WHERE {valid_at("r", ":a")} {{level}}),
     b AS (SELECT * FROM regions r WHERE {valid_at("r", ":b")} {{level}}),
     d AS (
       SELECT CASE WHEN a.id IS NULL THEN 'added' WHEN b.id IS NULL THEN 'removed'
                   ELSE 'changed' END AS change,
              {", ".join(f"a.{c} AS a_{c}, b.{c} AS b_{c}" for c in _COLUMNS)},
              CASE WHEN a.id IS NOT NULL AND b.id IS NOT NULL
                   THEN {geometry_differs("a", "b")} END AS geometry_changed,
              a.geom AS a_geom, b.geom AS b_geom
       FROM a FULL JOIN b ON a.code = b.code
       WHERE a.id IS NULL OR b.id IS NULL OR (a.id <> b.id AND ({differs("a", "b")}))
     )
SELECT *, {", ".join(f"count(*) FILTER (WHERE change = '{c}') OVER () AS n_{c}" for c in CHANGES)},
       ST_Area(a_geom::geography) AS area_before, ST_Area(b_geom::geography) AS area_after,
       ST_AsGeoJSON(coalesce(b_geom, a_geom), 7)::json AS geometry,
       CASE WHEN geometry_changed THEN ST_AsGeoJSON(a_geom, 7)::json END AS geometry_before
FROM d ORDER BY coalesce(b_code, a_code) LIMIT :limit
"""


def version_diff(
    conn: Connection,
    a: int,
    b: int,
    *,
    role: str | None,
    level: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The regions (of ``level``) that differ between versions ``a`` and ``b`` as GeoJSON
    features ordered by code (at most ``limit``), with ``numberMatched`` and the counts by
    kind of change (``summary``); 404 ``version_not_found`` for a version that does not exist.

    A feature's geometry is the outline at b (at a for a removed region); a changed region
    whose outline moved carries its outline at a in ``geometry_before`` (null otherwise)."""
    for number in (a, b):
        resolve_version(conn, number)
    summary = dict.fromkeys(CHANGES, 0)
    if a == b:
        return {"features": [], "numberMatched": 0, "summary": summary}
    sql = _SQL.format(level="AND r.level = :level" if level else "")
    rows = conn.execute(text(sql), {"a": a, "b": b, "level": level, "limit": limit}).mappings()
    features = []
    for row in rows:  # window counts: over the whole diff, before the limit
        summary = {c: row[f"n_{c}"] for c in CHANGES}
        features.append(_feature(row, role))
    return {"features": features, "numberMatched": sum(summary.values()), "summary": summary}


def _feature(row: Any, role: str | None) -> dict[str, Any]:
    side = "a" if row["change"] == "removed" else "b"
    before = _area(row["area_before"])
    after = _area(row["area_after"])
    changed: list[str] = []
    values: dict[str, dict[str, Any]] = {"before": {}, "after": {}}
    if row["change"] == "changed":
        changed, values = _changed_attributes(row, role)
    return {
        "type": "Feature",
        "id": row[f"{side}_code"],
        "geometry": row["geometry"],
        "properties": {
            "code": row[f"{side}_code"],
            "name": row[f"{side}_name"],
            "level": row[f"{side}_level"],
            "parent_code": row[f"{side}_parent_code"],
            "change": row["change"],
            "geometry_changed": row["geometry_changed"] is not False,
            "area_m2_before": before,
            "area_m2_after": after,
            "area_delta_m2": round((after or 0.0) - (before or 0.0), 2),
            "changed_attributes": changed,
            "before": values["before"],
            "after": values["after"],
            "geometry_before": row["geometry_before"],
        },
    }


def _area(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _changed_attributes(row: Any, role: str | None) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Names of the attributes (typed columns, then free ones) that differ, and their values
    before and after, as ``role`` may see them; personal ones are left out for anonymous."""
    old_free, new_free = row["a_attributes"] or {}, row["b_attributes"] or {}
    pairs = [
        *((c, row[f"a_{c}"], row[f"b_{c}"], privacy.PERSONAL_FIELDS.get(c)) for c in _COMPARED),
        *(
            (k, old_free.get(k), new_free.get(k), privacy.attribute_kind(k))
            for k in sorted(old_free.keys() | new_free.keys())
        ),
    ]
    names: list[str] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, old, new, kind in pairs:
        if old == new or (kind is not None and privacy.view(role) == "none"):
            continue
        names.append(name)
        before[name] = old if kind is None else privacy.shown(old, kind, role)
        after[name] = new if kind is None else privacy.shown(new, kind, role)
    return names, {"before": before, "after": after}
