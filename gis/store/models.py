"""Database tables: boundary versions and versioned regions.

A region is identified by its official code across versions; a row is valid from the
version that created it up to (excluding) the version that superseded it.  Parents
are linked by code, so a new polygon for a community does not orphan its grids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LEVELS = ("county", "street", "community", "grid")
"""Region levels from the top of the hierarchy down."""

STORAGE_SRID = 4326


def _geography_index(table: str) -> Index:
    """A GiST index on ``geom::geography``: metre queries (ST_DWithin, KNN) use it."""
    return Index(f"{table}_geog_idx", text("(geom::geography)"), postgresql_using="gist")


class Base(DeclarativeBase):
    """Declarative base of gridmap's tables."""


class BoundaryVersion(Base):
    """One change to the boundaries, and its audit record: who, when, what."""

    __tablename__ = "boundary_versions"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    author: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    restored_from: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("boundary_versions.number")
    )
    changes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )


CURRENT_REGION = "valid_to IS NULL"
"""SQL: a row of ``regions`` that no version has superseded — the predicate of the partial
indexes below, so a reader's condition (``gis.store.versions.current``) is the same words."""
_VALIDITY = ["valid_from", "valid_to"]
"""Included in the list indexes: a version's rows are told from the index alone."""


class Region(Base):
    """A region (county, street, community or grid) as valid in a range of versions."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)
    grid_worker: Mapped[str | None] = mapped_column(Text)
    grid_worker_phone: Mapped[str | None] = mapped_column(Text)
    party_branch: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=False
    )
    area_m2: Mapped[float] = mapped_column(Float, nullable=False)
    # both name boundary versions: checked once a statement by triggers (migration 0017), not
    # by foreign keys (a query a row: 18 % of the server's work for a province's new grids)
    valid_from: Mapped[int] = mapped_column(Integer, nullable=False)
    valid_to: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(f"level IN {LEVELS!r}", name="regions_level_check"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="regions_validity_check"),
        Index(
            "regions_current_code_key",
            "code",
            unique=True,
            postgresql_where=text(CURRENT_REGION),
        ),
        Index("regions_code_versions_idx", "code", "valid_from"),
        Index("regions_current_parent_idx", "parent_code", postgresql_where=text(CURRENT_REGION)),
        Index("regions_current_level_idx", "level", postgresql_where=text(CURRENT_REGION)),
        # lists of any version in code order, keyset pages (migration 0013)
        Index("regions_level_code_idx", "level", "code", postgresql_include=_VALIDITY),
        Index("regions_parent_code_idx", "parent_code", "code", postgresql_include=_VALIDITY),
        Index("regions_geom_idx", "geom", postgresql_using="gist"),
        # a low-zoom tile's counties, streets or communities (tiles.layers; migration 0011)
        *(
            Index(
                f"regions_{level}_geom_idx",
                "geom",
                postgresql_using="gist",
                postgresql_where=text(f"level = '{level}'"),
            )
            for level in ("county", "street", "community")
        ),
    )


ROLES = ("viewer", "editor", "admin")
"""Roles of API keys and users, each allowed what the ones before it are."""


class ApiKey(Base):
    """An API key; only the SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    key_hash: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Kept at most once a minute (``gis.access.auth.LAST_USED_EVERY``): a read stays a read."""
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scope_code: Mapped[str | None] = mapped_column(Text)
    """The region whose regions the key may change (None: everywhere); ``gis.access.scope``."""

    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="api_keys_role_check"),)


class User(Base):
    """A person who signs in with a password (only its argon2 hash stored), with a role and
    optionally a region scope.  Disabled, never deleted: versions and the audit log name them."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    scope_code: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="users_role_check"),)


class Session(Base):
    """A browser's session: the SHA-256 of its cookie, standing for a key (a page opened with
    ``?key=``) or a user (``/login``) until it expires, or the key is revoked, expires or is
    rotated, or the user is disabled or signs out."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    key_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("api_keys.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("sessions_key_idx", "key_id"),
        Index("sessions_user_idx", "user_id"),
        CheckConstraint("(key_id IS NULL) <> (user_id IS NULL)", name="sessions_one_owner"),
    )


class AuditEntry(Base):
    """One write: who (key name and id), when, from where, what (action, target, status and
    what changed).  Append-only: a trigger (migration 0007) refuses UPDATE, DELETE, TRUNCATE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    key_id: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    target: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )

    __table_args__ = (  # newest first by time, of everyone or of one actor (migration 0014)
        Index("audit_log_at_id_idx", "at", "id"),
        Index("audit_log_actor_at_id_idx", "actor", "at", "id"),
    )


UPLOAD_KINDS = ("boundaries", "addresses", "centres", "cameras", "roads")
"""What an uploaded file holds: region boundaries of one level, address registry entries,
party-service centres, cameras or roads."""


class Upload(Base):
    """A boundary or address file submitted for validation or commit, with its report."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    author: Mapped[str] = mapped_column(Text, nullable=False)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'boundaries'"))
    level: Mapped[str | None] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    report: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    version: Mapped[int | None] = mapped_column(Integer, ForeignKey("boundary_versions.number"))

    __table_args__ = (
        CheckConstraint(
            "status IN ('dry_run', 'rejected', 'committed', 'unchanged')",
            name="uploads_status_check",
        ),
        CheckConstraint(
            f"kind IN {UPLOAD_KINDS!r} AND (kind <> 'boundaries' OR level IS NOT NULL)",
            name="uploads_kind_check",
        ),
        Index("uploads_version_idx", "version", "id"),  # a version's first file (0014)
    )


class UploadFeature(Base):
    """A boundary upload's region as it would be stored, for the review map (migrations 0010,
    0016): ``change`` says what the upload does to it (added, modified, unchanged; null when
    errors blocked the change)."""

    __tablename__ = "upload_features"

    upload_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """Its upload's id (no foreign key since migration 0016: written with the upload, in its
    transaction; uploads are never deleted)."""
    feature: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    change: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=True
    )


class Address(Base):
    """An entry of the address registry: a standard address and its point.

    ``normalized`` is ``gis.query.address_text.normalize(address)``, the form matching compares;
    ``units``, ``floors`` and ``households`` describe a residential building.
    """

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    address: Mapped[str] = mapped_column(Text, nullable=False)
    normalized: Mapped[str] = mapped_column(Text, nullable=False)
    road: Mapped[str | None] = mapped_column(Text)
    road_number: Mapped[str | None] = mapped_column(Text)
    compound: Mapped[str | None] = mapped_column(Text)
    building: Mapped[str | None] = mapped_column(Text)
    units: Mapped[int | None] = mapped_column(Integer)
    floors: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    region_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=STORAGE_SRID, spatial_index=False), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        Index("addresses_normalized_idx", "normalized"),
        Index(
            "addresses_normalized_trgm_idx",
            "normalized",
            postgresql_using="gin",
            postgresql_ops={"normalized": "gin_trgm_ops"},
        ),
        Index("addresses_geom_idx", "geom", postgresql_using="gist"),
        _geography_index("addresses"),
        # matching's doorplate and compound probes (gis.query.addresses); migration 0012
        # builds them COLLATE "C", which Alembic's reflection does not compare
        Index("addresses_prefix_idx", "normalized", postgresql_include=["code", "normalized"]),
        Index(
            "addresses_suffix_idx",
            text("reverse(normalized)"),
            postgresql_include=["code", "normalized"],
        ),
    )


CENTRE_LEVELS = ("centre", "station", "home")
"""党群服务中心 (street), 党群服务站 (community), 党群之家 (compound)."""
CAMERA_STATUSES = ("online", "offline")


class Centre(Base):
    """A party-service centre; ``radius_m`` None means the level's default radius."""

    __tablename__ = "centres"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    opening_hours: Mapped[str | None] = mapped_column(Text)
    radius_m: Mapped[float | None] = mapped_column(Float)
    region_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=STORAGE_SRID, spatial_index=False), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint(f"level IN {CENTRE_LEVELS!r}", name="centres_level_check"),
        CheckConstraint("radius_m > 0", name="centres_radius_check"),
        CheckConstraint("floor_area_m2 >= 0", name="centres_floor_area_check"),
        Index("centres_geom_idx", "geom", postgresql_using="gist"),
        _geography_index("centres"),
    )


class Camera(Base):
    """A surveillance camera (雪亮工程) and the sector it watches."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    device_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    azimuth_deg: Mapped[float] = mapped_column(Float, nullable=False)
    fov_deg: Mapped[float] = mapped_column(Float, nullable=False)
    range_m: Mapped[float] = mapped_column(Float, nullable=False)
    height_m: Mapped[float | None] = mapped_column(Float)
    type: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'online'"))
    region_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=STORAGE_SRID, spatial_index=False), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint("azimuth_deg >= 0 AND azimuth_deg <= 360", name="cameras_azimuth_check"),
        CheckConstraint("fov_deg > 0 AND fov_deg <= 360", name="cameras_fov_check"),
        CheckConstraint("range_m > 0", name="cameras_range_check"),
        CheckConstraint(f"status IN {CAMERA_STATUSES!r}", name="cameras_status_check"),
        Index("cameras_geom_idx", "geom", postgresql_using="gist"),
        _geography_index("cameras"),
    )


class LayerStamp(Base):
    """How many writing statements a point layer's table has seen: kept by a trigger on the
    table (migration 0005) inside each writing transaction, read by the vector tile cache."""

    __tablename__ = "layer_stamps"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    changes: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))


ROAD_KINDS = ("road", "waterway", "railway")
"""What a line of the roads layer is: a road, or a river or railway kept as a barrier."""


class Road(Base):
    """A road centreline (e.g. from OpenStreetMap), for camera coverage of road length and
    walking; or a river or railway (``kind``), a barrier for grid division (migration 0019)."""

    __tablename__ = "roads"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    highway: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'road'"))
    source_id: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(
        Geometry("LINESTRING", srid=STORAGE_SRID, spatial_index=False), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        Index("roads_geom_idx", "geom", postgresql_using="gist"),
        CheckConstraint(f"kind IN {ROAD_KINDS!r}", name="roads_kind_check"),
    )


class OfficeBasemap(Base):
    """An office base map (migration 0009): an MBTiles or PMTiles file under the data
    directory, served at ``/basemaps/{name}/{z}/{x}/{y}`` (``gis.store.basemaps``)."""

    __tablename__ = "basemaps"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    format: Mapped[str] = mapped_column(Text, nullable=False)
    tile_type: Mapped[str] = mapped_column(Text, nullable=False)
    min_zoom: Mapped[int] = mapped_column(Integer, nullable=False)
    max_zoom: Mapped[int] = mapped_column(Integer, nullable=False)
    west: Mapped[float] = mapped_column(Float, nullable=False)
    south: Mapped[float] = mapped_column(Float, nullable=False)
    east: Mapped[float] = mapped_column(Float, nullable=False)
    north: Mapped[float] = mapped_column(Float, nullable=False)
    attribution: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("''"))
    vector_layers: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'")
    )
    file: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(Text, nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint("format IN ('mbtiles', 'pmtiles')", name="basemaps_format_check"),
        CheckConstraint(
            "tile_type IN ('png', 'jpg', 'webp', 'pbf')", name="basemaps_tile_type_check"
        ),
        CheckConstraint("0 <= min_zoom AND min_zoom <= max_zoom", name="basemaps_zoom_check"),
    )
