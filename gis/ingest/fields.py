"""Field mapping: which attribute of an uploaded layer is the code, the name, the parent …

Detected from common English and Chinese field names; an explicit mapping overrides.
Fields that map to nothing are kept as free attributes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gis.catalogue import CAMERAS, CENTRES, ROADS
from gis.errors import InvalidInput

SYNONYMS: dict[str, tuple[str, ...]] = {
    "code": ("code", "编码", "代码", "区划代码", "区划编码", "网格编码", "网格代码", "gb_code"),
    "name": ("name", "名称", "名字", "网格名称", "区划名称", "mc"),
    "parent_code": (
        "parent_code",
        "parent_cod",
        "parent",
        "parentcode",
        "上级编码",
        "上级代码",
        "父级编码",
        "所属编码",
        "社区编码",
        "所属社区编码",
        "所属社区",
        "所属街道",
        "所属乡镇",
        "所属区县",
    ),
    "households": ("households", "household", "hh", "户数", "住户数", "总户数"),
    "population": ("population", "pop", "人口", "人口数", "人数", "总人口"),
    "grid_worker": ("grid_worker", "worker", "网格员", "专职网格员", "网格员姓名"),
    "grid_worker_phone": (
        "grid_worker_phone",
        "phone",
        "worker_phone",
        "电话",
        "联系电话",
        "网格员电话",
        "手机",
        "手机号",
    ),
    "party_branch": ("party_branch", "branch", "党支部", "网格党支部", "党组织"),
}
"""Field names recognised for each role (compared case-insensitively, ignoring _ - and spaces)."""

INTEGER_ROLES = ("households", "population")

MAX_INTEGER = 2**31 - 1
"""Largest households or population stored (the columns are 4-byte integers)."""
MOBILE = re.compile(r"1[3-9]\d{9}")
"""A mainland mobile number: 11 digits starting 13–19."""
LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}(-\d{1,6})?")
"""A landline with its area code (0315-5612345, 01012345678), optionally an extension."""
PHONE_RULE = (
    "手机号为 11 位数字、以 13–19 开头；固定电话须带区号，如 0315-5612345 "
    "(a mobile has 11 digits starting 13–19; a landline needs its area code, e.g. 0315-5612345)"
)
"""The phone rule of a grid worker's phone, as a roster import and an edit check it."""

POINT_COLUMNS: dict[str, tuple[str, ...]] = {
    "lon": (
        "lon",
        "lng",
        "long",
        "longitude",
        "经度",
        "东经",
        "经度坐标",
        "x",
        "x坐标",
        "横坐标",
        "point_x",
    ),
    "lat": ("lat", "latitude", "纬度", "北纬", "纬度坐标", "y", "y坐标", "纵坐标", "point_y"),
}
"""The one table of names for the longitude (or easting) and latitude (or northing) columns
of a table of points: address, centre and camera uploads, the batch lookup's CSV and
``gridmap lookup``.  Compared like every field name here: NFKC (full-width ｌｏｎ, Ｘ坐标 are
lon, X坐标), case-insensitive, ignoring _ - and spaces; earlier names win when a file has
several (lon before x)."""

ADDRESS_SYNONYMS: dict[str, tuple[str, ...]] = {
    "code": ("code", "地址编码", "标准地址编码", "地址代码", "编码", "dzbm"),
    "address": ("address", "addr", "full_address", "地址", "标准地址", "详细地址", "地址名称"),
    "road": ("road", "road_name", "道路", "街路巷", "道路名称", "路名", "街道名"),
    "road_number": ("road_number", "road_numbe", "road_no", "门牌号", "门牌", "门牌号码", "mph"),
    "compound": ("compound", "小区", "小区名称", "院落", "小区名"),
    "building": ("building", "bldg", "楼栋", "楼号", "楼栋号", "栋号", "幢号"),
    "units": ("units", "unit_count", "单元数"),
    "floors": ("floors", "floor_count", "层数", "楼层数", "总层数"),
    "households": SYNONYMS["households"],
    "region_code": ("region_code", "region_cod", "grid_code", "网格编码", "所属网格编码"),
    **POINT_COLUMNS,
}
"""Field names recognised for each role of an address registry file."""
ADDRESS_INTEGER_ROLES = ("units", "floors", "households")

_POINT_ROLES = {r: ADDRESS_SYNONYMS[r] for r in ("region_code", "lon", "lat")}
LAYER_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    layer.name: {
        **{f.name: f.synonyms for f in layer.attributes if f.name != "region_code"},
        **(_POINT_ROLES if layer.regional else {}),
    }
    for layer in (CENTRES, CAMERAS, ROADS)
}
"""Field names recognised for each attribute of a centres, cameras or roads file (the
catalogue's synonyms of each field), and a point's region code and coordinates."""


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", name)).casefold()


@dataclass(frozen=True)
class FieldMapping:
    """Role → field name of the layer; the rest of the fields are free attributes."""

    roles: dict[str, str]
    unmapped: list[str]
    detected: dict[str, str]

    def to_report(self) -> dict[str, Any]:
        """The mapping as the validation report shows it."""
        return {
            "mapped": self.roles,
            "detected": sorted(self.detected),
            "unmapped": self.unmapped,
        }


def map_fields(
    fields: list[str],
    explicit: dict[str, str] | None = None,
    synonyms: dict[str, tuple[str, ...]] = SYNONYMS,
) -> FieldMapping:
    """Map the layer's ``fields`` to roles: ``explicit`` first, then by known names."""
    explicit = explicit or {}
    unknown_roles = sorted(set(explicit) - set(synonyms))
    if unknown_roles:
        raise InvalidInput(
            f"未知的字段角色 {unknown_roles} (unknown field roles; expected {list(synonyms)})",
            code="invalid_field_mapping",
            details={"roles": unknown_roles},
        )
    missing = sorted(f for f in explicit.values() if f not in fields)
    if missing:
        raise InvalidInput(
            f"文件中没有字段 {missing} (the mapping names fields the file does not have)",
            code="field_not_found",
            details={"fields": missing, "available": fields},
        )
    roles = dict(explicit)
    detected = {}
    by_norm = {_norm(f): f for f in reversed(fields)}
    for role, names in synonyms.items():
        if role in roles:
            continue
        for name in names:
            field = by_norm.get(_norm(name))
            if field is not None and field not in roles.values():
                roles[role] = detected[role] = field
                break
    unmapped = [f for f in fields if f not in roles.values()]
    return FieldMapping(roles=roles, unmapped=unmapped, detected=detected)


def require_roles(
    mapping: FieldMapping,
    required: list[str],
    fields: list[str],
    synonyms: dict[str, tuple[str, ...]] = SYNONYMS,
) -> None:
    """Raise ``required_field_missing`` unless every role in ``required`` is mapped."""
    absent = [r for r in required if r not in mapping.roles]
    if absent:
        raise InvalidInput(
            f"缺少必需字段: {', '.join(absent)}；可用字段: {', '.join(fields)} "
            "(required fields are missing; map them with the field mapping)",
            code="required_field_missing",
            details={
                "missing": absent,
                "available": fields,
                "synonyms": {r: list(synonyms[r]) for r in absent},
            },
        )


def point_columns(
    fields: list[str], lon: str | None = None, lat: str | None = None
) -> tuple[str, str]:
    """The longitude and latitude columns of a table of points: the names given, else found
    by :data:`POINT_COLUMNS`; ``invalid_csv`` naming what is missing otherwise."""
    explicit = {role: name for role, name in (("lon", lon), ("lat", lat)) if name}
    missing = [role for role, name in explicit.items() if name not in fields]
    if not missing:
        roles = map_fields(fields, explicit, POINT_COLUMNS).roles
        missing = [role for role in POINT_COLUMNS if role not in roles]
    if missing:
        wanted = {role: explicit.get(role) or list(POINT_COLUMNS[role]) for role in missing}
        label = "、".join("经度" if role == "lon" else "纬度" for role in missing)
        names = ", ".join(
            str(w) if isinstance(w, str) else "/".join(w[:5]) for w in wanted.values()
        )
        raise InvalidInput(
            f"CSV 中找不到{label}列（{names}）；现有列: {', '.join(fields)} "
            f"(no {' or '.join(missing)} column)",
            code="invalid_csv",
            details={"missing": missing, "wanted": wanted, "columns": fields},
        )
    return roles["lon"], roles["lat"]


def coordinate(value: Any) -> float | None:
    """The number in a lon/lat cell of a table of points (text or a number), None when it
    holds none; ``nan`` and ``inf`` written out are numbers (ranges are checked after
    reprojection)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def coordinates(
    rows: Sequence[Mapping[str, Any]], lon_col: str, lat_col: str, first_line: int
) -> tuple[np.ndarray, np.ndarray]:
    """The numbers in the two columns of CSV ``rows`` (the first on line ``first_line``);
    ``invalid_csv`` naming the first line where they are not numbers."""
    try:
        return (
            np.array([float(r[lon_col]) for r in rows]),
            np.array([float(r[lat_col]) for r in rows]),
        )
    except (TypeError, ValueError) as error:
        bad = first_line + next(
            i
            for i, r in enumerate(rows)
            if coordinate(r[lon_col]) is None or coordinate(r[lat_col]) is None
        )
        raise InvalidInput(
            f"第 {bad} 行的坐标不是数字 (line {bad}: coordinates are not numbers: {error})",
            code="invalid_csv",
            details={"line": bad},
        ) from error


def as_code(value: Any) -> str | None:
    """A code as text: DBF numeric codes come back as floats (1.30227e14 → '130227…')."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None
