"""The one layer catalogue: every layer gridmap serves, declared once.

* regions — ``counties``, ``streets``, ``communities``, ``grids``: the boundaries of one
  level each (table ``regions``, the feature id is the region code); a grid's worker and
  the worker's phone are personal data (``gis.access.privacy``);
* centres — 党群服务中心 (``centre``, street), 党群服务站 (``station``, community) and 党群之家
  (``home``, compound); a centre without a radius of its own serves its level's default
  (:func:`~gis.catalogue.schema.service_radius_m`);
* cameras — 雪亮工程 cameras with a GB/T 28181 device ID and the sector they watch;
* addresses — the address registry; ``buildings`` are its entries with households: the
  demand points of the coverage analysis (written through address uploads);
* roads — centrelines for the share of road length cameras see (uploads only).

Everything else is derived from here: the REST point layers (``gis.query.layers``), OGC
collections and queryables (``gis.query.features``), vector tile layers (``tiles.layers``),
upload specs (``gis.ingest.layer_uploads``), the privacy classification and exports.
Adding a field is one edit here (and its column in ``gis.store.models`` and a migration).
"""

from __future__ import annotations

from dataclasses import replace

from gis.catalogue.schema import (
    SERVICE_RADIUS_SQL,
    Field,
    Layer,
    check_device_id,
    in_range,
    service_radius_m,
)
from gis.store.models import CAMERA_STATUSES, CENTRE_LEVELS, LEVELS

# --------------------------------------------------------------------------- shared fields

NAME = Field("name", "名称", about="名称 name")
ADDRESS = Field("address", "地址")
HOUSEHOLDS = Field("households", "户数", int, about="户数 households")
REGION_CODE = Field("region_code", "所在区域编码")
"""The region a point lies in: given, or the grid covering it when written."""

# --------------------------------------------------------------------------- regions

REGION_ATTRIBUTES = (
    HOUSEHOLDS,
    Field("population", "人口", int),
    Field("grid_worker", "网格员", personal="name"),
    Field("grid_worker_phone", "网格员电话", personal="phone"),
    Field("party_branch", "党支部"),
)
"""A region's typed attributes besides its code, name, level, parent and area."""


def _regions(name: str, level: str, title: str, label: str, what: str) -> Layer:
    return Layer(
        name=name,
        singular="region",
        title=title,
        label=label,
        table="regions",
        geometry="polygon",
        key="code",
        level=level,
        writable=False,
        about=what,
        fields=(
            Field("code", "编码", about="区划/网格编码 region code"),
            NAME,
            Field("level", "级别", about="county, street, community, grid", enum=(level,)),
            Field("parent_code", "上级编码", about="上级编码 parent code"),
            *REGION_ATTRIBUTES,
            Field("area_m2", "面积 (m²)", float, queryable=False),
        ),
    )


COUNTIES = _regions("counties", "county", "县(市、区)", "县/区", "counties")
STREETS = _regions("streets", "street", "街道(乡镇)", "街道/乡镇", "streets and towns")
COMMUNITIES = _regions(
    "communities", "community", "社区(村)", "社区/村", "communities and villages"
)
GRIDS = _regions("grids", "grid", "网格", "网格", "grids")
REGION_LAYERS = {layer.level: layer for layer in (COUNTIES, STREETS, COMMUNITIES, GRIDS)}
"""The region layers by level, from the top of the hierarchy down."""
assert tuple(REGION_LAYERS) == LEVELS

# --------------------------------------------------------------------------- point layers

CENTRE_LEVEL_NAMES = {"centre": "党群服务中心", "station": "党群服务站", "home": "党群之家"}
"""The zh-CN name of each centre level."""
assert tuple(CENTRE_LEVEL_NAMES) == CENTRE_LEVELS

CENTRES = Layer(
    name="centres",
    singular="centre",
    title="党群服务中心",
    label="党群服务中心/站/之家",
    table="centres",
    geometry="point",
    about="party-service centres, stations and homes",
    fields=(
        replace(NAME, required=True, synonyms=("name", "名称", "中心名称", "站点名称", "阵地名称")),
        Field(
            "level",
            "级别",
            about="centre (党群服务中心), station (站) or home (之家)",
            synonyms=("level", "级别", "层级", "类别", "类型"),
            required=True,
            enum=CENTRE_LEVELS,
            aliases={name: level for level, name in CENTRE_LEVEL_NAMES.items()},
        ),
        replace(ADDRESS, synonyms=("address", "地址", "详细地址")),
        Field(
            "floor_area_m2",
            "建筑面积 (m²)",
            float,
            synonyms=("floor_area_m2", "floor_area", "面积", "建筑面积", "使用面积"),
            check=in_range("invalid_floor_area", 0, None),
        ),
        Field(
            "opening_hours",
            "开放时间",
            synonyms=("opening_hours", "开放时间", "服务时间", "办公时间"),
        ),
        Field(
            "radius_m",
            "服务半径 (m)",
            float,
            synonyms=("radius_m", "radius", "服务半径", "半径"),
            check=in_range("invalid_radius", 0, None, open_low=True),
        ),
        REGION_CODE,
        Field(
            "service_radius_m",
            "适用服务半径 (m)",
            float,
            about="服务半径 service radius, metres",
            sql=SERVICE_RADIUS_SQL,
            value=lambda p, settings: service_radius_m(
                p["radius_m"], p["level"], settings.centre_radius_m
            ),
        ),
    ),
)

CAMERAS = Layer(
    name="cameras",
    singular="camera",
    title="摄像机",
    table="cameras",
    geometry="point",
    about="cameras with the sector they watch",
    unique=("device_id",),
    fields=(
        Field(
            "device_id",
            "国标编码 (GB/T 28181)",
            about="国标编码 GB/T 28181 device ID",
            synonyms=("device_id", "gbid", "国标编码", "设备编码", "设备编号", "设备ID"),
            required=True,
            check=check_device_id,
        ),
        replace(NAME, synonyms=("name", "名称", "点位名称", "安装位置", "设备名称")),
        Field(
            "azimuth_deg",
            "方位角 (°)",
            float,
            about="方位角 degrees from north",
            synonyms=("azimuth_deg", "azimuth", "方位角", "朝向", "方向角"),
            required=True,
            check=in_range("invalid_azimuth", 0, 360),
        ),
        Field(
            "fov_deg",
            "视场角 (°)",
            float,
            about="视场角 field of view, degrees",
            synonyms=("fov_deg", "fov", "视场角", "水平视场角"),
            required=True,
            check=in_range("invalid_fov", 0, 360, open_low=True),
        ),
        Field(
            "range_m",
            "可视距离 (m)",
            float,
            about="可视距离 range, metres",
            synonyms=("range_m", "range", "可视距离", "监控距离", "监控半径"),
            required=True,
            check=in_range("invalid_range", 0, None, open_low=True),
        ),
        Field(
            "height_m",
            "安装高度 (m)",
            float,
            synonyms=("height_m", "height", "安装高度", "高度"),
            check=in_range("invalid_height", 0, None),
        ),
        Field("type", "类型", synonyms=("type", "类型", "摄像机类型", "设备类型")),
        Field(
            "status",
            "状态",
            about="online or offline",
            synonyms=("status", "状态", "在线状态"),
            required=True,
            default="online",
            enum=CAMERA_STATUSES,
            aliases={"在线": "online", "离线": "offline"},
        ),
        REGION_CODE,
    ),
)

ADDRESSES = Layer(
    name="addresses",
    singular="address",
    title="标准地址",
    table="addresses",
    geometry="point",
    key="code",
    writable=False,
    about="entries of the address registry",
    fields=(
        Field("code", "地址编码"),
        ADDRESS,
        Field("road", "道路"),
        Field("road_number", "门牌号"),
        Field("compound", "小区"),
        Field("building", "楼栋"),
        Field("units", "单元数", int),
        Field("floors", "层数", int),
        HOUSEHOLDS,
        REGION_CODE,
    ),
)
"""The address registry (written through address uploads)."""

BUILDINGS = Layer(
    name="buildings",
    singular="building",
    title="楼栋",
    table=ADDRESSES.table,
    geometry="point",
    key=ADDRESSES.key,
    key_title=ADDRESSES.field(ADDRESSES.key).title,
    where="t.households IS NOT NULL",
    writable=False,
    about="residential buildings of the address registry",
    fields=tuple(
        ADDRESSES.field(name)
        for name in (
            "address",
            "compound",
            "building",
            "units",
            "floors",
            "households",
            "region_code",
        )
    ),
)
"""The registry's entries with households: a residential building each."""

ROADS = Layer(
    name="roads",
    singular="road",
    title="道路",
    table="roads",
    geometry="line",
    writable=False,
    about="road centrelines",
    fields=(
        replace(NAME, synonyms=("name", "名称", "道路名称", "路名")),
        Field("highway", "道路等级", synonyms=("highway", "等级", "道路等级", "fclass")),
        Field("source_id", "来源编号", synonyms=("source_id", "osm_id", "id", "编码", "道路编码")),
    ),
)
"""Road centrelines: imported whole through uploads, for camera coverage of road length."""

POINT_LAYERS = {layer.name: layer for layer in (CENTRES, CAMERAS, BUILDINGS)}
"""The point layers served feature by feature (REST and OGC), by URL name."""

LAYERS = {
    layer.name: layer
    for layer in (*REGION_LAYERS.values(), CENTRES, CAMERAS, ADDRESSES, BUILDINGS, ROADS)
}
"""Every layer by name."""
