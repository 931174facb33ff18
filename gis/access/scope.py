"""Region scope: what a scoped principal may change.

A principal's scope is a region code (or None: everywhere).  A region is *inside* scope S
when S is one of its ancestors — strictly: an editor scoped to a street changes that
street's communities and grids, not the street's own outline, which it shares with its
neighbours.  A new region is inside S when its parent is S or inside S.  A point feature
(centre, camera, address) is inside S when it lies on S's polygon; changing or deleting a
stored one needs both where it is and where it goes inside.

Ancestry is followed through the current regions' ``parent_code`` (a recursive query),
not guessed from code prefixes: uploaded codes need not extend their parent's code.
Every check runs before anything is written, in the writer's transaction, so a refusal
(403 ``out_of_scope``) leaves nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import shapely
from sqlalchemy import Connection, text

from gis.errors import Forbidden
from gis.store.models import STORAGE_SRID
from gis.store.versions import current

SHOWN = 20
"""How many refused codes a message names (details name them all)."""
_DEPTH = 16
"""Bound on the ancestry walk, so a corrupt cycle of parent codes cannot loop."""

_OUTSIDE = f"""
WITH RECURSIVE up(start, code, depth) AS (
    SELECT r.code, r.parent_code, 1 FROM regions r
    WHERE {current("r")} AND r.code = ANY(:codes)
  UNION ALL
    SELECT up.start, r.parent_code, up.depth + 1 FROM up
    JOIN regions r ON r.code = up.code AND {current("r")}
    WHERE up.code <> :scope AND up.depth < {_DEPTH}
)
SELECT c.code FROM unnest(CAST(:codes AS text[])) AS c(code)
WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.start = c.code AND up.code = :scope)
ORDER BY c.code
"""


def out_of_scope(
    scope: str, codes: Sequence[str], what: str = "区划", total: int | None = None
) -> Forbidden:
    """403 ``out_of_scope`` naming ``scope`` and up to :data:`SHOWN` of ``codes`` (the first
    of ``total`` refused, when more were than are named)."""
    total = len(codes) if total is None else total
    shown = ", ".join(codes[:SHOWN]) + (" …" if total > SHOWN else "")
    return Forbidden(
        f"超出权限范围 {scope}：不能修改{what} {shown} "
        f"(outside your scope {scope}: {total} change(s) not allowed: {shown})",
        code="out_of_scope",
        details={"scope": scope, "codes": list(codes)},
    )


def require_unscoped(scope: str | None, what: str, action: str) -> None:
    """403 ``out_of_scope`` for a scoped principal: ``action`` (zh, en) changes ``what``
    everywhere at once — a version restore, the roads — which no scope contains."""
    if scope is not None:
        raise Forbidden(
            f"权限范围限于 {scope}，不能{action}（涉及全部区域） "
            f"(scoped to {scope}: {what} changes everywhere; only an unscoped user may)",
            code="out_of_scope",
            details={"scope": scope, "codes": [what]},
        )


def check_codes(
    conn: Connection, scope: str | None, codes: Iterable[str], *, parents: Iterable[str] = ()
) -> None:
    """403 ``out_of_scope`` unless every code in ``codes`` (current regions a change
    touches) is inside ``scope`` and every code in ``parents`` (parents of new or moved
    regions) is ``scope`` itself or inside it; nothing to check when ``scope`` is None.
    A code that is no current region is outside: nobody can show it is inside."""
    if scope is None:
        return
    wanted = set(codes) | {p for p in parents if p != scope}
    if not wanted:
        return
    outside = conn.scalars(text(_OUTSIDE), {"codes": sorted(wanted), "scope": scope}).all()
    if outside:
        raise out_of_scope(scope, list(outside))


def check_points(
    conn: Connection, scope: str | None, geometries: Sequence[shapely.Geometry | None]
) -> None:
    """403 ``out_of_scope`` unless every geometry (lon/lat, EPSG:4326) lies on the current
    polygon of region ``scope``; details ``codes`` are the 1-based positions of those
    that do not.  Nothing to check when ``scope`` is None; empty geometries are skipped."""
    if scope is None:
        return
    wkb = [None if g is None or g.is_empty else shapely.to_wkb(g) for g in geometries]
    if not any(w is not None for w in wkb):
        return
    outside = conn.scalars(
        text(
            "SELECT p.n FROM unnest(CAST(:wkb AS bytea[])) WITH ORDINALITY AS p(wkb, n) "
            "LEFT JOIN regions r ON r.code = :scope AND " + current("r") + " "
            "WHERE p.wkb IS NOT NULL AND (r.geom IS NULL OR NOT ST_Covers("
            f"r.geom, ST_GeomFromWKB(p.wkb, {STORAGE_SRID}))) ORDER BY p.n"
        ),
        {"wkb": wkb, "scope": scope},
    ).all()
    if outside:
        raise out_of_scope(scope, [str(n) for n in outside], what="范围外的要素（行号）")


def check_stored_points(
    conn: Connection, scope: str | None, table: str, key: str, keys: Sequence[object]
) -> None:
    """403 ``out_of_scope`` unless every stored point of ``table`` (a point layer's table,
    never user input) whose ``key`` column is in ``keys`` lies on the polygon of region
    ``scope``: changing or deleting a point elsewhere is outside too.  Keys not stored are
    new points, for :func:`check_points`."""
    if scope is None or not keys:
        return
    outside = conn.scalars(
        text(
            f"SELECT CAST(t.{key} AS text) FROM {table} t "
            "LEFT JOIN regions r ON r.code = :scope AND " + current("r") + " "
            f"WHERE t.{key} = ANY(:keys) AND (r.geom IS NULL OR NOT ST_Covers(r.geom, t.geom)) "
            f"ORDER BY t.{key}"
        ),
        {"keys": list(keys), "scope": scope},
    ).all()
    if outside:
        raise out_of_scope(scope, list(outside), what="范围外的要素")


LISTED = 1000
"""How many refused features :func:`check_staged_points` names in its details."""


def check_staged_points(
    conn: Connection, scope: str | None, staged: str, table: str, key: str
) -> None:
    """:func:`check_points` and :func:`check_stored_points` for points staged in a writer's
    temporary table ``staged`` (its ``feature`` numbers, ``key`` and ``geom``; never user
    input), in SQL: however many there are, none is held in memory.  Details name the first
    :data:`LISTED` refused features (or stored keys)."""
    if scope is None:
        return
    region = "LEFT JOIN regions r ON r.code = :scope AND " + current("r")
    outside = "(r.geom IS NULL OR NOT ST_Covers(r.geom, t.geom))"
    for what, sql in (
        (
            "范围外的要素（行号）",
            f"SELECT CAST(t.feature AS text), count(*) OVER () FROM {staged} t {region} "
            f"WHERE {outside} ORDER BY t.feature",
        ),
        (
            "范围外的要素",
            f"SELECT CAST(t.{key} AS text), count(*) OVER () FROM {table} t {region} "
            f"WHERE t.{key} IN (SELECT s.{key} FROM {staged} s) AND {outside} ORDER BY t.{key}",
        ),
    ):
        refused = conn.execute(text(f"{sql} LIMIT {LISTED}"), {"scope": scope}).all()
        if refused:
            raise out_of_scope(scope, [r[0] for r in refused], what=what, total=refused[0][1])
