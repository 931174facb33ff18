"""Boundary uploads, a kind of the upload pipeline: one level's regions as one new version.

The file's features are validated among themselves and with their parents
(``gis.ingest.validation``), then against what is stored (``gis.ingest.stored_checks``);
when they do not fit, the CRS doctor says which CRS would.  The uploaded set replaces the
previous children of its parent(s); a region still holding children cannot be dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from gis.access.scope import check_codes
from gis.errors import InvalidInput, NotFound
from gis.geo.crs import CrsSpec, from_wgs84
from gis.ingest.candidates import Candidate, ParentInfo, Report, Tolerances
from gis.ingest.crs_doctor import References, diagnose
from gis.ingest.fields import INTEGER_ROLES, SYNONYMS, FieldMapping, as_code
from gis.ingest.history import ReviewFeatures
from gis.ingest.pipeline import (
    Batch,
    Progress,
    Reprojected,
    Staged,
    UploadKind,
    UploadRequest,
    json_safe,
    whole_number,
)
from gis.ingest.problems import Problem
from gis.ingest.readers import Layer
from gis.ingest.stored_checks import FIT_KINDS, StoredFindings, check_stored, stored_regions
from gis.ingest.stored_geometry import stored_chunks, upload_features
from gis.ingest.validation import validate
from gis.settings import Settings
from gis.store.models import LEVELS
from gis.store.stored_form import CopyGeometries
from gis.store.versions import (
    ATTRIBUTE_COLUMNS,
    RegionRecord,
    commit_regions,
    current,
    current_codes,
    lock_boundaries,
)


def tolerances(settings: Settings) -> Tolerances:
    """Validation tolerances from the settings."""
    return Tolerances(
        overlap_m2=settings.overlap_tolerance_m2,
        gap_m2=settings.gap_tolerance_m2,
        outside_m2=settings.outside_tolerance_m2,
        sliver_width_m=settings.sliver_width_m,
    )


def free_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """A feature's unmapped fields as free attributes; a field ``attributes`` holding a JSON
    object (as gridmap's GeoJSON has it) gives its members instead, so that a file written
    with nested attributes reads back as it was stored."""
    nested = values.get("attributes")
    if isinstance(nested, str) and nested.lstrip().startswith("{"):
        try:
            nested = json.loads(nested)
        except ValueError:
            return values
    if not isinstance(nested, dict):
        return values
    return {**{k: v for k, v in values.items() if k != "attributes"}, **nested}


def _candidates(
    layer: Layer, geometries: np.ndarray, mapping: FieldMapping, request: UploadRequest
) -> tuple[list[Candidate], list[str | None]]:
    """The features as candidates, and each one's parent field as written (a code or a
    name: :func:`_place_parents` reads it once the database is at hand)."""
    roles = mapping.roles
    candidates, parent_fields = [], []
    for i, geom in enumerate(geometries):

        def value(role: str, i: int = i) -> Any:
            return layer.columns[roles[role]][i] if role in roles else None

        parent_field = as_code(value("parent_code"))
        parent_fields.append(parent_field)
        parent = request.parent or parent_field
        code = as_code(value("code"))
        name = value("name")
        candidates.append(
            Candidate(
                feature=i + 1,
                code=code,
                name=str(name).strip() if name is not None and str(name).strip() else None,
                parent_code=parent,
                geometry=geom,
                values={role: whole_number(value(role)) for role in INTEGER_ROLES if role in roles},
                attributes=free_attributes(
                    {
                        f: json_safe(layer.columns[f][i])
                        for f in mapping.unmapped
                        if layer.columns[f][i] is not None
                    }
                ),
            )
        )
        for role in ("grid_worker", "grid_worker_phone", "party_branch"):
            v = value(role)
            candidates[-1].values[role] = None if v is None else str(json_safe(v)).strip()
    return candidates, parent_fields


def _place_parents(
    conn: Connection, request: UploadRequest, candidates: list[Candidate], fields: list[str | None]
) -> list[Problem]:
    """Each candidate's parent from its parent field: a code as it is, or the name of exactly
    one current region of the level above (所属社区 often holds 清泉里社区, not its code); a
    ``parent_mismatch`` error where the field names another parent than the upload's."""
    level = request.level or ""
    written = {f for f in fields if f}
    named: dict[str, str] = {}
    if written and level in LEVELS[1:]:
        rows = conn.execute(
            text(
                f"SELECT name, min(code) FROM regions WHERE {current('')} AND level = :above "
                "AND name = ANY(:names) GROUP BY name HAVING count(*) = 1"
            ),
            {
                "above": LEVELS[LEVELS.index(level) - 1],
                "names": sorted(written - current_codes(conn, written)),
            },
        ).all()
        named = dict(rows)
    problems = []
    for candidate, field in zip(candidates, fields, strict=True):
        parent = named.get(field, field) if field else None
        if request.parent and parent and parent != request.parent:
            problems.append(
                Problem(
                    "parent_mismatch",
                    "error",
                    f"上级编码字段为 {field}，但上传指定上级为 {request.parent} "
                    "(the feature's parent code differs from the upload's parent)",
                    feature=candidate.feature,
                    code=candidate.code,
                )
            )
        elif not request.parent:
            candidate.parent_code = parent
    return problems


def _parents(conn: Connection, codes: set[str]) -> dict[str, ParentInfo]:
    rows = conn.execute(
        text(
            "SELECT code, level, ST_AsBinary(geom) FROM regions "
            f"WHERE {current('')} AND code = ANY(:codes)"
        ),
        {"codes": sorted(codes)},
    ).all()
    return {
        code: ParentInfo(code, level, shapely.from_wkb(bytes(wkb))) for code, level, wkb in rows
    }


def _removals(
    conn: Connection, level: str, parents: set[str], keep: set[str]
) -> tuple[list[str], dict[str, int]]:
    """Current regions of ``level`` under ``parents`` that the upload drops; and their children."""
    if not parents:
        return [], {}
    removed = [
        c
        for c in conn.scalars(
            text(
                f"SELECT code FROM regions WHERE {current('')} AND level = :level "
                "AND parent_code = ANY(:parents) ORDER BY code"
            ),
            {"level": level, "parents": sorted(parents)},
        )
        if c not in keep
    ]
    orphans = dict(
        conn.execute(
            text(
                f"SELECT parent_code, count(*) FROM regions WHERE {current('')} "
                "AND parent_code = ANY(:codes) GROUP BY parent_code"
            ),
            {"codes": removed},
        ).all()
    )
    return removed, orphans


def _references(
    candidates: list[Candidate], same: dict[int, Any], parents: dict[str, ParentInfo]
) -> References:
    """What the CRS doctor compares the file with: each feature's stored region of the same
    code, else its stored parent."""
    return References(
        same=same,
        parents={
            i: parents[c.parent_code].geometry
            for i, c in enumerate(candidates)
            if i not in same and c.parent_code in parents
        },
    )


def _suggestion(doctor: dict[str, Any] | None) -> list[Problem]:
    """The doctor's suggestion as a report problem (a warning: the errors it explains block)."""
    if not doctor or not doctor["suggestion"]:
        return []
    suggestion = doctor["suggestion"]
    return [
        Problem(
            "crs_suggestion",
            "warning",
            suggestion["message"],
            details={"crs": suggestion["crs"], "fit": suggestion["fit"]},
        )
    ]


def _record_moves(conn: Connection, number: int, moved: list[str]) -> None:
    """Record in the version the regions it moved (allowed with ``allow_moves``)."""
    conn.execute(
        text(
            "UPDATE boundary_versions SET changes = changes || jsonb_build_object('moved', "
            "CAST(:moved AS jsonb)) WHERE number = :n"
        ),
        {"n": number, "moved": json.dumps(sorted(moved))},
    )


class BoundaryBatch(Batch):
    """One boundary file's features on their way to a version (see :class:`Boundaries`)."""

    table = "regions"

    def __init__(self, read: Reprojected, request: UploadRequest, settings: Settings) -> None:
        self.read, self.request = read, request
        self.candidates, self._parent_fields = _candidates(
            read.layer, read.geometries, read.mapping, request
        )
        self.problems: list[Problem] = []
        self.tolerances = tolerances(settings)
        self.repairs: list[dict[str, Any]] | None = None
        self._removed: list[str] = []
        self._stored = StoredFindings()
        self._stored_geometries: CopyGeometries | None = None

    def check(self, conn: Connection, step: Progress) -> list[Problem]:
        """Lock the boundaries (until the transaction ends), then validate the features with
        their parents and against the stored hierarchy; the CRS doctor when they do not fit."""
        request, level, tol = self.request, self.request.level or "", self.tolerances
        lock_boundaries(conn)
        placed = _place_parents(conn, request, self.candidates, self._parent_fields)
        parents = _parents(conn, {c.parent_code for c in self.candidates if c.parent_code})
        if request.parent and request.parent not in parents:
            raise NotFound(
                f"上级区域 {request.parent} 不存在 (the parent region does not exist)",
                code="parent_not_found",
                details={"parent": request.parent},
            )
        found: Report = validate(
            self.candidates, level=level, parents=parents, tolerances=tol, repair=request.repair
        )
        self.repairs = found.repairs
        codes = {c.code for c in self.candidates if c.code}
        self._removed, orphans = (
            _removals(conn, level, set(parents), codes) if level != "county" else ([], {})
        )
        self._stored = check_stored(
            conn,
            self.candidates,
            level=level,
            removed=self._removed,
            tolerances=tol,
            allow_moves=request.allow_moves,
        )
        problems = placed + found.problems + self._stored.problems
        self.read.crs["doctor"] = None
        if any(p.kind in FIT_KINDS and p.is_error for p in [*self.problems, *problems]):
            step("diagnosing")
            references = _references(self.candidates, self._stored.same, parents)
            raw = from_wgs84(self.read.geometries, self.read.spec)  # as the file has them
            doctor = diagnose(raw, self.read.spec, references)
            self.read.crs["doctor"] = doctor
            problems += _suggestion(doctor)
        problems += [
            Problem(
                "would_orphan_children",
                "error",
                f"上传将删除 {code}，但它仍有 {n} 个下级区域 "
                f"(the upload drops {code}, which still has {n} child regions)",
                code=code,
            )
            for code, n in sorted(orphans.items())
        ]
        return problems

    def authorize(self, conn: Connection, scope: str | None) -> None:
        """Every region the upload touches inside ``scope``: the stored regions of its codes
        (modified, or moved from elsewhere) and those it removes, and its parents (scope or
        inside).  A feature without a parent (a county) is its own region to prove inside."""
        if scope is None:
            return
        stored = current_codes(conn, {c.code for c in self.candidates if c.code})
        top = self.request.level == "county"
        orphan = {c.code or "?" for c in self.candidates if top or not c.parent_code}
        parents = {c.parent_code for c in self.candidates if c.parent_code and not top}
        check_codes(conn, scope, stored | orphan | set(self._removed), parents=parents)

    def stage(self, conn: Connection) -> Staged:
        """Write the features as a new version (the moved regions recorded in it)."""
        request, level = self.request, self.request.level
        # the review map of a version takes its rows' geometries; one that adds or removes a
        # region is a version for sure, so only a dry run or a commit that may change nothing
        # keeps the stored form as it passes (~430 MB for a province's 1 000 000 new grids)
        adds = len(self._stored.same) < len(self.candidates)  # candidates not stored are new
        kept = None if (adds or self._removed) and not request.dry_run else CopyGeometries([], [])

        def chunks() -> Iterator[CopyGeometries]:
            for chunk in stored_chunks(self.candidates, commit=True):
                if kept is not None:
                    kept.extend(chunk)
                yield chunk

        summary = commit_regions(
            conn,
            [
                RegionRecord(
                    code=c.code,
                    level=level,
                    name=c.name,
                    parent_code=c.parent_code if level != "county" else None,
                    wkb=None,
                    attributes=c.attributes,
                    **c.values,
                )
                for c in self.candidates
            ],
            geometries=chunks(),
            author=request.author,
            action=request.action,
            message=f"{request.action} of {request.filename} ({level})",
            remove=self._removed,
            keep=[c for c in ATTRIBUTE_COLUMNS if c not in self.read.mapping.roles],
            merge_attributes=True,
        )
        self._stored_geometries = kept
        if summary.number is not None and self._stored.moved:
            _record_moves(conn, summary.number, self._stored.moved)
        changes = {"added": summary.added, "modified": summary.modified, "removed": summary.removed}
        return Staged(changes, summary.number)

    def review(self, staged: Staged | None, stored: bool = False) -> ReviewFeatures:
        """The review map's features (:func:`upload_features`)."""
        return upload_features(self.candidates, staged, self._stored_geometries, stored)


class Boundaries(UploadKind):
    """The boundaries kind: polygons of one ``level`` under their parents."""

    geometry = "polygons"
    synonyms = SYNONYMS

    def required(self, request: UploadRequest) -> list[str]:
        """Code and name, and the parent's code unless the request names the parent (or the
        level is county); ``invalid_level`` for a level gridmap does not have."""
        if request.level not in LEVELS:
            raise InvalidInput(
                f"未知层级 {request.level} (unknown level; expected one of {list(LEVELS)})",
                code="invalid_level",
                details={"level": request.level},
            )
        needs_parent = request.level != "county" and not request.parent
        return ["code", "name", *(["parent_code"] if needs_parent else [])]

    def explain(
        self,
        engine: Engine,
        error: InvalidInput,
        layer: Layer,
        mapping: FieldMapping,
        request: UploadRequest,
        used: CrsSpec,
    ) -> None:
        """Add the CRS doctor's finding to a ``coordinates_out_of_range`` error, comparing the
        raw file with the stored regions of its codes or its stored parents."""
        raw, _ = _candidates(layer, layer.geometries, mapping, request)
        with engine.connect() as conn:
            stored = stored_regions(conn, sorted({c.code for c in raw if c.code}))
            parents = _parents(conn, {c.parent_code for c in raw if c.parent_code})
        same = {
            i: stored[c.code].geometry
            for i, c in enumerate(raw)
            if c.code in stored and stored[c.code].level == request.level
        }
        doctor = diagnose(layer.geometries, used, _references(raw, same, parents))
        error.details["crs_doctor"] = doctor
        if doctor and doctor["suggestion"]:
            error.message = f"{error.message}。{doctor['suggestion']['message']}"

    def batch(self, read: Reprojected, request: UploadRequest, settings: Settings) -> BoundaryBatch:
        """The file's features as region candidates."""
        return BoundaryBatch(read, request, settings)
