"""The catalogue's vocabulary: a layer, its fields, and the rules a field's value keeps.

A :class:`Field` says everything every surface needs of one property — its zh-CN title, its
type (hence its JSON Schema and TileJSON types), whether it is personal data
(``gis.access.privacy``), its allowed values and their other spellings, the checks a written
value passes, and, for a derived property, how it is computed (SQL for tiles, Python for
answers).  A :class:`Layer` is a table (or a view of one) and its fields.  The layers
themselves are declared in ``gis.catalogue``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gis.settings import Settings

Personal = Literal["name", "phone"]
"""What a personal field holds: a person's name or phone number."""
Geometry = Literal["polygon", "point", "line"]
Problem = tuple[str, str]
"""(code, message) of a value that breaks a rule."""

JSON_TYPES = {str: "string", int: "integer", float: "number"}
"""JSON Schema type of each field kind (OGC queryables)."""
TILE_TYPES = {str: "String", int: "Number", float: "Number"}
"""TileJSON type of each field kind."""


@dataclass(frozen=True)
class Field:
    """One property of a layer's features.

    ``about`` is the bilingual description maps show (TileJSON ``fields``).  A written value
    must be one of ``enum`` (when given; ``invalid_<name>`` otherwise) and pass ``check``;
    ``aliases`` map other spellings of a text value to the stored one (党群服务站 →
    station); ``default`` fills it when a new or replaced feature leaves it out.  A
    ``queryable`` field may be filtered on by equality (not a measured float).  ``synonyms``
    are the column names an uploaded file may give it (its own name among them).  A derived
    field (not a column) has ``sql`` — an expression over the row ``t`` with psycopg
    placeholders — and ``value``, the same rule in Python over a feature's properties.
    """

    name: str
    title: str
    kind: type = str
    about: str = ""
    personal: Personal | None = None
    enum: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    synonyms: tuple[str, ...] = ()
    required: bool = False
    check: Callable[[Any], Problem | None] | None = None
    default: Any = None
    queryable: bool = True
    sql: str | None = None
    value: Callable[[Mapping[str, Any], Settings], Any] | None = None

    def __post_init__(self) -> None:
        if (self.sql is None) != (self.value is None):
            raise ValueError(f"derived field {self.name} needs both sql and value")

    @property
    def stored(self) -> bool:
        """A column of the layer's table (not derived)."""
        return self.sql is None

    @property
    def expression(self) -> str:
        """The field's SQL over the row ``t``."""
        return self.sql or f"t.{self.name}"

    def compute(self, properties: Mapping[str, Any], settings: Settings) -> Any:
        """A derived field's value for a feature with ``properties``."""
        assert self.value is not None, f"{self.name} is stored, not derived"
        return self.value(properties, settings)

    @property
    def json_type(self) -> str:
        return JSON_TYPES[self.kind]

    @property
    def tile_type(self) -> str:
        return TILE_TYPES[self.kind]

    def problem(self, value: Any) -> Problem | None:
        """What is wrong with a written (typed, non-empty) ``value``, if anything."""
        if self.enum and value not in self.enum:
            return (
                f"invalid_{self.name}",
                f"{value!r} 不是 {' / '.join(self.enum)} 之一 (must be one of {self.enum})",
            )
        return self.check(value) if self.check else None


@dataclass(frozen=True)
class Layer:
    """A layer: features of one table (rows matching ``where``) with their ``fields``.

    ``name`` is its URL, collection, tile and file name; ``title`` its zh-CN name and
    ``label`` the short one maps write (the title when empty); ``about`` says in English what
    its features are.  ``level`` is set for the region layers (one level each), ``key`` is
    the feature id (``key_title`` its zh-CN name); a ``writable`` layer is written feature
    by feature, the others through uploads; ``unique`` columns refuse a value another feature has.
    """

    name: str
    singular: str
    title: str
    table: str
    geometry: Geometry
    fields: tuple[Field, ...]
    about: str
    key: str = "id"
    key_title: str = "编号"
    label: str = ""
    level: str | None = None
    where: str = "TRUE"
    writable: bool = True
    unique: tuple[str, ...] = ()

    @property
    def attributes(self) -> tuple[Field, ...]:
        """The stored fields: the columns a feature is read from and written to."""
        return tuple(f for f in self.fields if f.stored)

    @property
    def derived(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.stored)

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.attributes]

    @property
    def regional(self) -> bool:
        """Its features lie in a region (``region_code``: given, or the grid covering them)."""
        return "region_code" in self.columns

    @property
    def short_title(self) -> str:
        return self.label or self.title

    def attribute(self, name: str) -> Field | None:
        """The stored field called ``name``, if any."""
        return next((f for f in self.attributes if f.name == name), None)

    def field(self, name: str) -> Field:
        """The field called ``name`` (stored or derived)."""
        return next(f for f in self.fields if f.name == name)


# --------------------------------------------------------------------------- rules


def in_range(code: str, low: float, high: float | None, *, open_low: bool = False) -> Any:
    """A check that a number lies in [low, high] (``open_low``: (low, high]; no ``high``:
    unbounded above)."""

    def check(value: float) -> Problem | None:
        below = value <= low if open_low else value < low
        if below or (high is not None and value > high):
            bounds = f"{'(' if open_low else '['}{low}, {high if high is not None else '∞'}"
            bounds += "]" if high is not None else ")"
            return code, f"{value} 超出范围 {bounds} (out of range {bounds})"
        return None

    return check


CAMERA_TYPE_CODES = ("131", "132")
"""GB/T 28181 device type codes (digits 11–13) of cameras: 131 camera, 132 IP camera."""


def check_device_id(value: str) -> Problem | None:
    """A GB/T 28181 camera ID: 20 digits, of which digits 11–13 are 131 or 132."""
    if len(value) != 20 or not value.isascii() or not value.isdigit():
        return (
            "invalid_device_id",
            f"设备编码应为 20 位数字: {value!r} (a GB/T 28181 device ID has 20 digits)",
        )
    if value[10:13] not in CAMERA_TYPE_CODES:
        return (
            "invalid_device_id",
            f"设备编码第 11–13 位为类型码，摄像机应为 131 或 132，而不是 {value[10:13]} "
            "(digits 11–13 are the device type: 131 camera or 132 IP camera)",
        )
    return None


# --------------------------------------------------------------------------- service radius


def service_radius_m(
    radius_m: float | None, level: str | None, defaults: Mapping[str, float] | None
) -> float | None:
    """A centre's service radius: its own ``radius_m``, else its level's default
    (``settings.centre_radius_m``: GB 50180 life circles); None when neither is known."""
    return radius_m if radius_m is not None else (defaults or {}).get(level or "")


SERVICE_RADIUS_SQL = (
    "coalesce(t.radius_m, (CAST(%(radius_defaults)s AS jsonb) ->> t.level)::float8)"
)
""":func:`service_radius_m` of the centre row ``t`` in SQL; its parameter is
:func:`radius_params`."""


def radius_params(settings: Settings) -> dict[str, str]:
    """The bind parameters of :data:`SERVICE_RADIUS_SQL`."""
    return {"radius_defaults": json.dumps(settings.centre_radius_m)}


def largest_default_radius_m(settings: Settings) -> float:
    """The largest default service radius (0 when there are none): how far a centre without
    a radius of its own may reach."""
    return max(settings.centre_radius_m.values(), default=0.0)
