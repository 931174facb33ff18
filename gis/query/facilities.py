"""The point layers planners work with: party-service centres, cameras and buildings.

* centres — 党群服务中心 (``centre``, street), 党群服务站 (``station``, community) and 党群之家
  (``home``, compound); a centre without a radius of its own serves the level's default
  (settings ``centre_radius_m``: GB 50180 life circles, 1 000 / 500 / 300 m);
* cameras — 雪亮工程 cameras with a GB/T 28181 device ID and the sector they watch;
* buildings — the address registry's entries with households: the demand points of the
  coverage analysis (written through address uploads, read-only here);
* roads — centrelines for the share of road length cameras see (uploads only).
"""

from __future__ import annotations

from typing import Any

from gis.query.layers import Attribute, LayerSpec, Problem
from gis.settings import Settings
from gis.store.models import CAMERA_STATUSES, CENTRE_LEVELS

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


def _one_of(code: str, allowed: tuple[str, ...]) -> Any:
    def check(value: str) -> Problem | None:
        if value not in allowed:
            return code, f"{value!r} 不是 {' / '.join(allowed)} 之一 (must be one of {allowed})"
        return None

    return check


def _range(code: str, low: float, high: float | None, *, open_low: bool = False) -> Any:
    def check(value: float) -> Problem | None:
        below = value <= low if open_low else value < low
        if below or (high is not None and value > high):
            bounds = f"{'(' if open_low else '['}{low}, {high if high is not None else '∞'}"
            bounds += "]" if high is not None else ")"
            return code, f"{value} 超出范围 {bounds} (out of range {bounds})"
        return None

    return check


def _centre_radius(properties: dict[str, Any], settings: Settings) -> None:
    own = properties.get("radius_m")
    properties["service_radius_m"] = (
        own if own is not None else settings.centre_radius_m.get(properties["level"])
    )


CENTRES = LayerSpec(
    name="centres",
    singular="centre",
    title="党群服务中心",
    table="centres",
    attributes=(
        Attribute("name", required=True),
        Attribute(
            "level",
            required=True,
            check=_one_of("invalid_level", CENTRE_LEVELS),
            aliases={"党群服务中心": "centre", "党群服务站": "station", "党群之家": "home"},
        ),
        Attribute("address"),
        Attribute("floor_area_m2", float, check=_range("invalid_floor_area", 0, None)),
        Attribute("opening_hours"),
        Attribute("radius_m", float, check=_range("invalid_radius", 0, None, open_low=True)),
    ),
    describe=_centre_radius,
)

CAMERAS = LayerSpec(
    name="cameras",
    singular="camera",
    title="摄像机",
    table="cameras",
    attributes=(
        Attribute("device_id", required=True, check=check_device_id),
        Attribute("name"),
        Attribute("azimuth_deg", float, required=True, check=_range("invalid_azimuth", 0, 360)),
        Attribute(
            "fov_deg", float, required=True, check=_range("invalid_fov", 0, 360, open_low=True)
        ),
        Attribute(
            "range_m", float, required=True, check=_range("invalid_range", 0, None, open_low=True)
        ),
        Attribute("height_m", float, check=_range("invalid_height", 0, None)),
        Attribute("type"),
        Attribute(
            "status",
            required=True,
            default="online",
            check=_one_of("invalid_status", CAMERA_STATUSES),
            aliases={"在线": "online", "离线": "offline"},
        ),
    ),
    unique=("device_id",),
)

BUILDINGS = LayerSpec(
    name="buildings",
    singular="building",
    title="楼栋",
    table="addresses",
    key="code",
    where="t.households IS NOT NULL",
    writable=False,
    attributes=(
        Attribute("address"),
        Attribute("compound"),
        Attribute("building"),
        Attribute("units", int),
        Attribute("floors", int),
        Attribute("households", int),
    ),
)

LAYERS = {spec.name: spec for spec in (CENTRES, CAMERAS, BUILDINGS)}
"""The point layers by URL name."""

ROADS = LayerSpec(
    name="roads",
    singular="road",
    title="道路",
    table="roads",
    regional=False,
    writable=False,
    attributes=(Attribute("name"), Attribute("highway"), Attribute("source_id")),
)
"""Road centrelines: imported whole through uploads, for camera coverage of road length."""
