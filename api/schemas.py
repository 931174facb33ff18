"""Response models of the main endpoints: what the OpenAPI document says each one sends.

The routes build their answers in ``gis`` as plain JSON-ready mappings and send them as they
are (a ``JSONResponse``: no second serialisation on the busiest routes); these models only
describe them — ``tests/db/test_openapi.py`` validates real answers against them and
schemathesis checks every response against the document.  Members a model leaves out may
still be sent (a region's free ``attributes``, a report's tolerances): none is forbidden.
Personal fields (``gis.access.privacy``) are null for anonymous callers, masked for viewers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# --------------------------------------------------------------------------- lookup


class Named(BaseModel):
    """A community, street or county of a lookup's answer."""

    code: str
    name: str


class Grid(BaseModel):
    """The grid of a lookup's answer, with its people (``gis.query.lookup.GRID_FIELDS``)."""

    code: str
    name: str
    households: int | None
    population: int | None
    grid_worker: str | None = Field(description="Personal: null, masked or whole by role")
    grid_worker_phone: str | None = Field(description="Personal: null, masked or whole by role")
    party_branch: str | None


class Nearest(BaseModel):
    """For a point outside every grid: the nearest grid, its chain and how far it is."""

    grid: Grid
    community: Named | None
    street: Named | None
    county: Named | None
    distance_m: float = Field(description="Metres on the WGS 84 ellipsoid")


class Point(BaseModel):
    """The point looked up, in EPSG:4326."""

    lon: float
    lat: float


class AddressCandidate(BaseModel):
    """Another registry entry the address text may mean, with its grid."""

    address: dict[str, Any]
    level: str
    confidence: float
    grid: Grid | None


class AddressMatch(BaseModel):
    """The registry entry free address text matched."""

    address: dict[str, Any] = Field(description="The registry entry: code, address, lon, lat …")
    level: str = Field(description="What the entry is: building, compound or road")
    unit: str | None
    room: str | None
    rest: str | None = Field(description="What the text says beyond the entry")
    confidence: float = Field(description="0 … 1")
    parsed: dict[str, Any] = Field(description="The text's parts: road, compound, building …")
    candidates: list[AddressCandidate] = Field(description="When ambiguous: up to 5")


class LookupAnswer(BaseModel):
    """Where a point is, at every level (``gis.query.lookup.GridIndex.answers``)."""

    covered: bool = Field(description="Whether a grid covers the point")
    grid: Grid | None
    community: Named | None
    street: Named | None
    county: Named | None
    nearest: Nearest | None = Field(description="Outside every grid: the nearest grid")
    point: Point
    version: int | None = Field(description="The boundary version answered from")
    crs: str = Field(examples=["EPSG:4326"])
    distance_unit: str = Field(examples=["m"])
    match: AddressMatch | None = Field(
        default=None, description="With ``address``: the registry entry matched"
    )


class BatchAnswerItem(LookupAnswer):
    """One point's answer in a batch, with the point's ``id``."""

    id: str | int | None


class BatchAnswer(BaseModel):
    """A batch's answers, in input order."""

    results: list[BatchAnswerItem]
    crs: str = Field(examples=["EPSG:4326"])


class CompactBatchAnswer(BaseModel):
    """A batch's chosen fields (``fields=``), in input order: per point its ``id`` and the
    fields (a level's name as that level's code), each region's name once in ``regions``."""

    version: int | None
    crs: str = Field(examples=["EPSG:4326"])
    fields: list[str]
    distance_unit: str | None = Field(None, description="With distance_m: m (geodesic)")
    results: list[dict[str, str | int | float | bool | None]]
    regions: dict[str, str] | None = Field(None, description="Code → name, when names asked for")


# --------------------------------------------------------------------------- regions


class Link(BaseModel):
    """A link of a paged collection (OGC API style)."""

    rel: str = Field(examples=["self", "next", "prev"])
    href: str
    type: str
    title: str | None = Field(default=None, examples=["下一页 (next page)"])


MATCHED_EXACT = (
    "Whether numberMatched was counted (up to 10 000) or is PostgreSQL's estimate (above)"
)
"""What a keyset list's ``numberMatchedExact`` says (``api.responses.paged``)."""


class RegionProperties(BaseModel):
    """A region's properties (``gis.query.regions``)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    area_m2: float = Field(description="Geodesic area, m²")
    households: int | None
    population: int | None
    grid_worker: str | None = Field(description="Personal: null, masked or whole by role")
    grid_worker_phone: str | None = Field(description="Personal: null, masked or whole by role")
    party_branch: str | None
    attributes: dict[str, Any] | None = Field(description="An upload's unmapped fields")
    valid_from_version: int


class RegionFeature(BaseModel):
    """A region as a GeoJSON Feature (EPSG:4326)."""

    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any] | None = Field(description="A GeoJSON (Multi)Polygon")
    properties: RegionProperties


class RegionCollection(BaseModel):
    """A page of regions as a GeoJSON FeatureCollection (``api.responses``)."""

    type: Literal["FeatureCollection"]
    crs: dict[str, Any]
    crs_name: str = Field(examples=["EPSG:4326"])
    version: int | None
    numberMatched: int
    numberMatchedExact: bool = Field(description=MATCHED_EXACT)
    numberReturned: int
    links: list[Link]
    features: list[RegionFeature]


class Parent(BaseModel):
    """An ancestor of a region."""

    code: str
    name: str
    level: str


class Children(BaseModel):
    """A summary of a region's direct children."""

    count: int
    levels: list[str]
    households: int | None
    population: int | None
    area_m2: float | None


class RegionDetail(RegionFeature):
    """One region with its parent chain (county first) and its children summarised."""

    parents: list[Parent]
    children: Children
    crs: dict[str, Any]
    crs_name: str = Field(examples=["EPSG:4326"])
    version: int | None


# --------------------------------------------------------------------------- versions


class Changes(BaseModel):
    """The region codes a version changed."""

    added: list[str]
    modified: list[str]
    removed: list[str]


class Version(BaseModel):
    """One boundary version (``gis.store.versions.list_versions``)."""

    number: int
    author: str
    action: str = Field(examples=["load", "upload", "restore"])
    message: str | None
    restored_from: int | None
    created_at: str = Field(description="ISO 8601")
    changes: Changes
    summary: dict[str, int] = Field(description="Counts: added, changed, removed")
    file: str | None = Field(description="The uploaded file it came from, if any")


class VersionList(BaseModel):
    """Boundary versions, newest first, and the current one."""

    current: int | None
    numberMatched: int
    numberMatchedExact: bool = Field(description=MATCHED_EXACT)
    numberReturned: int
    links: list[Link]
    versions: list[Version]


# --------------------------------------------------------------------------- uploads


class ReportProblem(BaseModel):
    """One problem an upload's check found (``gis.ingest.problems.Problem``)."""

    kind: str
    severity: Literal["error", "warning"]
    feature: int | None = Field(description="1-based number of the feature, or row")
    message: str


class ReportSummary(BaseModel):
    """What an upload's check counted."""

    features: int
    errors: int
    warnings: int
    changes: dict[str, Any] | None = Field(description="What a commit changes; null on errors")


class UploadReport(BaseModel):
    """An upload's report (``gis.ingest.pipeline``)."""

    ok: bool = Field(description="No errors: the file may be committed")
    summary: ReportSummary
    file: dict[str, Any]
    encoding: dict[str, Any] | None
    crs: dict[str, Any] = Field(description="The CRS read in, how it was decided; the doctor's")
    output_crs: str = Field(examples=["EPSG:4326"])
    fields: dict[str, Any] = Field(description="The field mapping")
    problems: list[ReportProblem] = Field(description="Errors first, then by feature")


class UploadAnswer(BaseModel):
    """An upload: its id, status, resulting version and report."""

    id: int
    status: str = Field(examples=["dry_run", "committed", "unchanged"])
    version: int | None = Field(description="The boundary version a commit made")
    report: UploadReport


# --------------------------------------------------------------------------- health


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Health(BaseModel):
    """The service and its database are up."""

    status: Literal["ok"]
    database: Literal["reachable"]
    postgis: str = Field(description="The PostGIS version")
    version: int | None = Field(description="The current boundary version")


# --------------------------------------------------------------------------- rosters


class RosterProblem(ReportProblem):
    """A roster's problem: where it is, as Excel shows it (``gis.ingest.roster_uploads``)."""

    row: int = Field(description="Row as Excel numbers it: the header is row 1")
    column: str | None = Field(description="Column letter (A, B …); null for the whole row")
    header: str | None = Field(description="The column's header text")
    code: str | None = Field(description="The row's region code")
    attribute: str | None = Field(description="The attribute at fault")


class RosterCell(BaseModel):
    """One changed cell of an imported roster."""

    row: int
    column: str
    header: str
    code: str
    field: str
    old: Any
    new: Any


class RosterReport(BaseModel):
    """An imported roster's report, shaped like an upload's."""

    ok: bool = Field(description="No errors: the roster may be committed")
    summary: ReportSummary
    file: dict[str, Any]
    encoding: dict[str, Any] | None
    level: str | None = Field(description="The level of the roster's regions")
    fields: dict[str, Any] = Field(description="Which header is which column")
    problems: list[RosterProblem]
    cells: list[RosterCell] = Field(description="Each changed cell, old and new value")


class RosterAnswer(BaseModel):
    """A roster import: status, the version a commit made, the report."""

    status: str = Field(examples=["dry_run", "committed", "unchanged"])
    version: int | None
    report: RosterReport


class InspectLayer(BaseModel):
    """A layer of an inspected file."""

    name: str
    geometry_type: str | None = Field(description="As GDAL names it, e.g. MultiPolygon")
    features: int


class InspectField(BaseModel):
    """A field of an inspected file: its proposed role (null: a free attribute) and samples."""

    name: str
    role: str | None = Field(examples=["code", "name", "parent_code", "households"])
    samples: list[Any] = Field(description="Up to three distinct values")


class InspectAnswer(BaseModel):
    """What an uploaded file holds, detected before any validation (``gis.ingest.inspect``)."""

    file: dict[str, Any] = Field(description="name, source (the file read in an archive), format")
    kind: str
    layers: list[InspectLayer]
    layer: str = Field(description="The layer read (the first, unless one was chosen)")
    features: int
    geometry_types: list[str]
    encoding: dict[str, Any] | None = Field(
        description="encoding, source, confidence (given, declared, certain, guessed), reason"
    )
    crs: dict[str, Any] = Field(
        description="crs, source (parameter, file, inferred), reason, in_range, bounds "
        "(EPSG:4326), doctor and its suggestion (crs, fit, message) when the coordinates do "
        "not fit what is stored"
    )
    fields: list[InspectField]
    mapping: dict[str, str] = Field(description="Proposed role → field")
    roles: list[str] = Field(description="The roles a field may take in this kind of upload")
    level: str | None = Field(default=None, description="Proposed level (boundaries)")
    parent: str | None = Field(default=None, description="Proposed parent code (boundaries)")
    parents: list[str] = Field(default=[], description="Parent codes the file names")


# --------------------------------------------------------------------------- version diffs


class DiffProperties(BaseModel):
    """How a region differs between two versions (``gis.store.diff``)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    change: Literal["added", "changed", "removed"]
    geometry_changed: bool
    area_m2_before: float | None = Field(description="Geodesic m² at version a (null: added)")
    area_m2_after: float | None = Field(description="Geodesic m² at version b (null: removed)")
    area_delta_m2: float
    changed_attributes: list[str] = Field(
        description="Attributes that differ (personal ones left out for anonymous callers)"
    )
    before: dict[str, Any] = Field(description="Their values at a (personal ones by role)")
    after: dict[str, Any] = Field(description="Their values at b (personal ones by role)")
    geometry_before: dict[str, Any] | None = Field(
        description="The outline at a of a changed region whose outline moved (else null)"
    )


class DiffFeature(BaseModel):
    """A region that differs: its outline at b (at a when removed)."""

    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any] | None = Field(description="A GeoJSON MultiPolygon")
    properties: DiffProperties


class VersionDiff(BaseModel):
    """The regions that differ between versions a and b, ordered by code, and their counts."""

    type: Literal["FeatureCollection"]
    crs: dict[str, Any]
    crs_name: str = Field(examples=["EPSG:4326"])
    a: int
    b: int
    summary: dict[str, int] = Field(description="Counts: added, changed, removed")
    numberMatched: int
    numberReturned: int
    features: list[DiffFeature]


# --------------------------------------------------------------------------- users


class UserAnswer(BaseModel):
    """A user of the workbench (``/api/v1/users``): never a password or its hash."""

    id: int
    username: str
    role: Literal["viewer", "editor", "admin"]
    scope: str | None = Field(
        description="Code of the county, street or community they may change; null: all"
    )
    status: Literal["active", "disabled"]
    created_at: str = Field(description="ISO 8601")
    disabled_at: str | None = Field(description="ISO 8601; null while active")


class UserList(BaseModel):
    """Every user, oldest first."""

    users: list[UserAnswer]
