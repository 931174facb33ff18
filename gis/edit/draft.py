"""An edit session: load the draft, apply the operations in order, validate and commit it as
a boundary upload.

The draft is every current region of the edited level under the parents the operations touch
(an operation naming a region loads its parent's children).  That is exactly what a boundary
upload of those parents holds — an upload replaces the children of its parents — so the draft
goes through the upload pipeline (``gis.ingest.pipeline.run_layer`` with the boundaries kind):
the same validation, report, review features, upload history (filename ``编辑: …``) and one
new version for the whole session.  A commit is refused (``stale_draft``) when another version
was committed after the draft was loaded, instead of overwriting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import Connection, Engine, text

from gis.access.scope import check_codes
from gis.edit.operations import Draft, Region, merge, reshape, set_attributes, split
from gis.errors import InvalidInput, NotFound
from gis.geo.crs import flat, lon_lat_out_of_range, parse_crs, to_wgs84
from gis.ingest.boundary_uploads import Boundaries, BoundaryBatch
from gis.ingest.pipeline import (
    Progress,
    Reprojected,
    UploadRequest,
    UploadResult,
    run_layer,
)
from gis.ingest.problems import Problem
from gis.ingest.readers import Layer
from gis.settings import Settings
from gis.store.versions import ATTRIBUTE_COLUMNS, current, current_version

MAX_OPERATIONS = 100
"""Most operations in one edit request."""
MAX_VERTICES = 10_000
"""Most vertices of one geometry of an operation (a grid has tens to hundreds)."""
FIELDS = ["code", "name", "parent_code", *ATTRIBUTE_COLUMNS]
"""The draft layer's fields, each mapped to the role of its name."""


def _geometry(value: dict[str, Any], crs: str | None, types: tuple[str, ...], what: str) -> Any:
    """A GeoJSON geometry of an operation in EPSG:4326 (given in ``crs``); ``invalid_geometry``
    when it is no valid geometry of ``types``, too large or off the globe."""

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(
            f"{what} 的几何无效：{why}", code="invalid_geometry", details={"operation": what}
        )

    try:
        geometry = shape(value)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        raise refuse(f"不是 GeoJSON {'/'.join(types)} (not a GeoJSON {'/'.join(types)})") from None
    if geometry.geom_type not in types or geometry.is_empty:
        raise refuse(f"应为 {'/'.join(types)} (expected {'/'.join(types)})")
    if shapely.get_num_coordinates(geometry) > MAX_VERTICES:
        raise refuse(f"顶点超过 {MAX_VERTICES} 个 (more than {MAX_VERTICES} vertices)")
    geometry = to_wgs84(geometry, parse_crs(crs)) if crs else flat(geometry)
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all() or lon_lat_out_of_range(coords[:, 0], coords[:, 1]).any():
        raise refuse("坐标超出经纬度范围 (coordinates out of the lon/lat range)")
    if not geometry.is_valid:
        raise refuse(f"多边形自相交或不闭合 (invalid: {shapely.is_valid_reason(geometry)})")
    return geometry


def _locate(conn: Connection, codes: list[str]) -> dict[str, tuple[str, str | None]]:
    """Each current region's level and parent; ``region_not_found`` for a code that is none."""
    rows = conn.execute(
        text(
            f"SELECT code, level, parent_code FROM regions WHERE {current('')} AND code = ANY(:c)"
        ),
        {"c": codes},
    ).all()
    found = {code: (level, parent) for code, level, parent in rows}
    missing = sorted(set(codes) - set(found))
    if missing:
        raise NotFound(
            f"区域 {', '.join(missing)} 不存在 (no such region)",
            code="region_not_found",
            details={"codes": missing},
        )
    return found


def _children(conn: Connection, level: str, parent: str) -> Draft:
    """The current regions of ``level`` under ``parent``."""
    rows = conn.execute(
        text(
            f"SELECT code, name, parent_code, {', '.join(ATTRIBUTE_COLUMNS)}, ST_AsBinary(geom) "
            f"FROM regions WHERE {current('')} AND level = :level AND parent_code = :parent "
            "ORDER BY code"
        ),
        {"level": level, "parent": parent},
    ).all()
    return {
        r[0]: Region(
            r[0],
            r[1],
            r[2],
            shapely.from_wkb(bytes(r[-1])),
            dict(zip(ATTRIBUTE_COLUMNS, r[3:-1], strict=True)),
        )
        for r in rows
    }


def next_code(conn: Connection, draft: Draft, parent: str) -> str:
    """The next free child code of ``parent``: its code and a 3-digit sequence (GB/T 2260
    streets and communities, grids by DB11/T 2157), after every child code it ever had."""
    used = conn.scalar(
        text(
            "SELECT max(substr(code, length(:p) + 1)::int) FROM regions "
            "WHERE parent_code = :p AND code ~ ('^' || :p || '[0-9]{3}$')"
        ),
        {"p": parent},
    )
    drafted = [
        int(c[len(parent) :])
        for c in draft
        if c.startswith(parent) and len(c) == len(parent) + 3 and c[len(parent) :].isdigit()
    ]
    number = max([used or 0, *drafted]) + 1
    if number > 999:
        raise InvalidInput(
            f"上级 {parent} 下已无可用编码 (no free child code under {parent})",
            code="invalid_split",
            details={"parent": parent},
        )
    return f"{parent}{number:03d}"


class Session:
    """An edit session's draft: the level, the parents loaded, the regions as loaded and now,
    the regions removed."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.level: str | None = None
        self.parents: set[str] = set()
        self.draft: Draft = {}
        self.original: dict[str, Region] = {}
        self.removed: list[str] = []

    def load(self, codes: list[str]) -> None:
        """Bring the regions named (and their siblings) into the draft; one level only, none
        an earlier operation removed."""
        gone = sorted(set(codes) & set(self.removed))
        if gone:
            raise InvalidInput(
                f"区域 {', '.join(gone)} 已在本次编辑中被合并删除 (removed by an earlier merge)",
                code="invalid_edit",
                details={"codes": gone},
            )
        unknown = [c for c in codes if c not in self.draft]
        for code, (level, parent) in _locate(self.conn, unknown).items():
            if level == "county" or (self.level and level != self.level):
                raise InvalidInput(
                    f"一次编辑只能修改同一层级（县以下）的区域：{code} 是 {level} "
                    "(one edit changes regions of one level below county)",
                    code="invalid_edit",
                    details={"code": code, "level": level},
                )
            self.level = level
            if parent not in self.parents:
                self.parents.add(parent)
                loaded = _children(self.conn, level, parent)
                self.original.update(
                    {
                        c: Region(r.code, r.name, r.parent_code, r.geometry, dict(r.values))
                        for c, r in loaded.items()
                    }
                )
                self.draft.update(loaded)

    def apply(self, op: dict[str, Any], crs: str | None) -> str:
        """Apply one operation; its label for the upload's filename."""
        name = op["op"]
        codes = op["codes"] if name == "merge" else [op["code"]]
        self.load(codes)
        if name == "reshape":
            geometry = _geometry(
                op["geometry"], crs, ("Polygon", "MultiPolygon"), f"reshape {op['code']}"
            )
            reshape(self.draft, op["code"], geometry)
        elif name == "split":
            line = _geometry(op["line"], crs, ("LineString",), f"split {op['code']}")
            parent = self.draft[op["code"]].parent_code or ""
            split(self.draft, op["code"], line, next_code(self.conn, self.draft, parent))
        elif name == "merge":
            self.load([op["into"]])
            self.removed += merge(self.draft, op["codes"], op["into"])
        else:
            set_attributes(self.draft[op["code"]], op["set"])
        return f"{name} {','.join(codes)}"

    def layer(self, filename: str) -> Layer:
        """The draft as an upload's layer (in EPSG:4326)."""
        regions = list(self.draft.values())
        columns: dict[str, list[Any]] = {
            "code": [r.code for r in regions],
            "name": [r.name for r in regions],
            "parent_code": [r.parent_code for r in regions],
            **{c: [r.values.get(c) for r in regions] for c in ATTRIBUTE_COLUMNS},
        }
        geometries = np.array([r.geometry for r in regions], dtype=object)
        return Layer(
            filename, "edit", self.level or "", FIELDS, columns, geometries, "EPSG:4326", None
        )


class _EditBatch(BoundaryBatch):
    """A draft's boundary batch: also refused when the boundaries changed since it was loaded."""

    base: int | None = None

    def check(self, conn: Connection, step: Progress) -> list[Problem]:
        problems = super().check(conn, step)  # holds the boundaries' lock from here
        if current_version(conn) != self.base:
            problems.append(
                Problem(
                    "stale_draft",
                    "error",
                    f"编辑期间边界已更新为版本 {current_version(conn)}，请重新载入后再编辑 "
                    "(the boundaries changed since the draft was loaded: reload and edit again)",
                )
            )
        return problems


class _Edits(Boundaries):
    """The boundaries kind whose batch knows the version its draft was loaded at."""

    def __init__(self, base: int | None) -> None:
        self.base = base

    def batch(self, read: Reprojected, request: UploadRequest, settings: Settings) -> BoundaryBatch:
        batch = _EditBatch(read, request, settings)
        batch.base = self.base
        return batch


@dataclass(frozen=True)
class EditResult:
    """The recorded upload of the edit, and the draft's regions as GeoJSON."""

    upload: UploadResult
    regions: dict[str, Any]


def _features(session: Session, changes: dict[str, list[str]] | None) -> dict[str, Any]:
    """The draft's regions, and the removed ones as loaded, with their ``change`` (null when
    errors kept the change from being worked out, like the upload's review features)."""

    def change(code: str) -> str | None:
        if changes is None:
            return "removed" if code in session.removed else None
        return next(
            (k for k in ("added", "modified", "removed") if code in changes.get(k, [])), "unchanged"
        )

    regions = [
        *session.draft.values(),
        *(session.original[c] for c in session.removed if c in session.original),
    ]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "properties": {
                    "feature": i + 1 if r.code in session.draft else None,
                    "code": r.code,
                    "name": r.name,
                    "parent_code": r.parent_code,
                    "change": change(r.code),
                },
                "geometry": mapping(r.geometry),
            }
            for i, r in enumerate(regions)
        ],
    }


def run_edit(
    engine: Engine,
    operations: list[dict[str, Any]],
    *,
    author: str,
    scope: str | None,
    settings: Settings,
    dry_run: bool = True,
    crs: str | None = None,
) -> EditResult:
    """Apply ``operations`` (dicts as ``POST /api/v1/edits`` takes them) to a draft, within
    the caller's ``scope`` (a region code, None: everywhere), and validate it as a boundary
    upload; unless ``dry_run``, commit it as one version.  Bad operations raise before
    anything is recorded."""
    if not operations or len(operations) > MAX_OPERATIONS:
        raise InvalidInput(
            f"须有 1 至 {MAX_OPERATIONS} 个操作 (1 to {MAX_OPERATIONS} operations)",
            code="invalid_edit",
            details={"max_operations": MAX_OPERATIONS},
        )
    with engine.connect() as conn:
        base = current_version(conn)
        session = Session(conn)
        labels = [session.apply(op, crs) for op in operations]
        check_codes(conn, scope, sorted(session.original), parents=sorted(session.parents))
        conn.rollback()
    label = "; ".join(labels)
    request = UploadRequest(
        filename=f"编辑: {label if len(label) <= 120 else label[:119] + '…'}",
        level=session.level,
        author=author,
        crs="EPSG:4326",
        fields={f: f for f in FIELDS},
        dry_run=dry_run,
        action="edit",
        scope=scope,  # checked again in the commit's own transaction
    )
    result = run_layer(_Edits(base), engine, session.layer(request.filename), request, settings)
    return EditResult(result, _features(session, result.report["summary"]["changes"]))
