"""Validating uploaded boundaries before anything changes: the file's own checks.

Each feature's geometry (empty, not a polygon, invalid — make_valid when repairing), its
attributes (code, name, counts, code format) and codes used twice; each parent must exist at
the level above; then the siblings' topology (``gis.ingest.topology``).  Findings are
:class:`gis.ingest.problems.Problem`; ``repair`` reports every change it made.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import shapely

from gis.geo.halves import SPLIT_GEOMETRIES_AT, in_halves
from gis.ingest.candidates import Candidate, ParentInfo, Report, Tolerances, geometries, problem
from gis.ingest.fields import INTEGER_ROLES
from gis.ingest.problems import location_of
from gis.ingest.topology import POLYGONAL_TYPES, check_topology, polygonal
from gis.store.models import LEVELS

CODE_DIGITS = {"county": 6, "street": 9, "community": 12, "grid": 15}


_REASON_POINT = re.compile(r"\[([-\d.eE+]+)\s+([-\d.eE+]+)\]")


def _check_geometry(c: Candidate, valid: bool, repair: bool, report: Report) -> None:
    """Empty, non-polygonal and invalid geometries (make_valid when repairing)."""
    geom = c.geometry
    if geom is None or geom.is_empty:
        report.problems.append(
            problem("empty_geometry", "error", c, "要素没有几何图形 (the feature has no geometry)")
        )
        c.geometry = None
        return
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        report.problems.append(
            problem(
                "wrong_geometry_type",
                "error",
                c,
                f"要素应为面，实际为 {geom.geom_type} (the feature must be a polygon)",
                location=location_of(geom),
            )
        )
        c.geometry = None
        return
    if valid:
        return
    reason = shapely.is_valid_reason(geom)
    match = _REASON_POINT.search(reason)
    location = [float(match[1]), float(match[2])] if match else location_of(geom)
    if repair:
        fixed = polygonal(shapely.make_valid(geom))
        report.repairs.append(
            {
                "kind": "make_valid",
                "code": c.code,
                "feature": c.feature,
                "message": f"已修复无效几何 ({reason}) (made valid)",
                "location": location,
            }
        )
        c.geometry = fixed
        return
    report.problems.append(
        problem(
            "invalid_geometry",
            "error",
            c,
            f"几何图形无效: {reason} (invalid geometry)",
            location=location,
            reason=reason,
        )
    )
    c.geometry = None


MAX_NAME = 200
"""Longest region name (the longest real ones are ~30 characters)."""


def _check_attributes(c: Candidate, level: str, report: Report) -> None:
    if not c.code:
        report.problems.append(problem("missing_code", "error", c, "要素缺少编码 (no code)"))
    if not c.name:
        report.problems.append(problem("missing_name", "error", c, "要素缺少名称 (no name)"))
    elif len(c.name) > MAX_NAME:
        report.problems.append(
            problem(
                "name_too_long",
                "error",
                c,
                f"名称有 {len(c.name)} 个字符，最多 {MAX_NAME} 个 "
                f"(the name has {len(c.name)} characters, at most {MAX_NAME})",
            )
        )
    texts = {"code": c.code, "name": c.name, **c.values, **c.attributes}
    for key, value in texts.items():
        if isinstance(value, str) and "\x00" in value:
            report.problems.append(
                problem(
                    "invalid_text",
                    "error",
                    c,
                    f"字段 {key} 含 NUL 字符 (the field {key} holds a NUL character)",
                    field=key,
                )
            )
    for key in INTEGER_ROLES:
        value = c.values.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            report.problems.append(
                problem(
                    "invalid_value",
                    "error",
                    c,
                    f"{key} 应为非负整数，实际为 {value!r} ({key} must be a whole number ≥ 0)",
                    field=key,
                )
            )
    if c.code:
        digits = CODE_DIGITS[level]
        fits = c.code.isdigit() and len(c.code) == digits
        if fits and c.parent_code and level != "county":
            fits = c.code.startswith(c.parent_code)
        if not fits:
            report.problems.append(
                problem(
                    "code_format",
                    "warning",
                    c,
                    f"{level} 编码应为 {digits} 位数字并以上级编码开头: {c.code} "
                    f"(a {level} code has {digits} digits and starts with its parent's code)",
                )
            )


def _check_duplicates(candidates: list[Candidate], report: Report) -> None:
    by_code: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.code:
            by_code[c.code].append(c)
    for code, group in sorted((k, g) for k, g in by_code.items() if len(g) > 1):
        features = [c.feature for c in group]
        report.problems.append(
            problem(
                "duplicate_code",
                "error",
                group[0],
                f"编码 {code} 重复出现在要素 {features} (duplicate code)",
                features=features,
            )
        )


def _check_parents(
    candidates: list[Candidate],
    level: str,
    parents: dict[str, ParentInfo],
    report: Report,
) -> None:
    if level == "county":
        return
    expected = LEVELS[LEVELS.index(level) - 1]
    for c in candidates:
        parent = parents.get(c.parent_code or "")
        if parent is None:
            report.problems.append(
                problem(
                    "missing_parent",
                    "error",
                    c,
                    f"上级区域 {c.parent_code or '(空)'} 不存在 "
                    f"(the parent region {c.parent_code!r} does not exist)",
                    parent_code=c.parent_code,
                )
            )
        elif parent.level != expected:
            report.problems.append(
                problem(
                    "parent_level_mismatch",
                    "error",
                    c,
                    f"{level} 的上级应为 {expected}，{parent.code} 是 {parent.level} "
                    f"(a {level}'s parent must be a {expected})",
                    parent_code=parent.code,
                )
            )


def validate(
    candidates: list[Candidate],
    *,
    level: str,
    parents: dict[str, ParentInfo],
    tolerances: Tolerances,
    repair: bool = False,
) -> Report:
    """Check ``candidates`` (features of one level) against each other and their parents.

    With ``repair``, candidates' geometries are replaced by the repaired ones.
    """
    report = Report()
    shapes = geometries(candidates)
    valid = in_halves(shapely.is_valid, shapes, at=SPLIT_GEOMETRIES_AT)
    # a valid polygon, not empty, has nothing to check: the rest, one at a time
    fine = valid & np.isin(shapely.get_type_id(shapes), POLYGONAL_TYPES) & ~shapely.is_empty(shapes)
    for c, ok, good in zip(candidates, valid.tolist(), fine.tolist(), strict=True):
        if not good:
            _check_geometry(c, ok, repair, report)
        _check_attributes(c, level, report)
    _check_duplicates(candidates, report)
    _check_parents(candidates, level, parents, report)
    usable = [c for c in candidates if c.geometry is not None]
    if usable:
        check_topology(usable, parents, tolerances, repair, report)
    return report
