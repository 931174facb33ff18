"""Party-service centres, cameras and roads: the layers of the coverage analysis.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KINDS = ("boundaries", "addresses", "centres", "cameras", "roads")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        )
    ]


def _geography_index(table: str) -> None:
    # metre queries (ST_DWithin on geography, <-> on geography) use this index
    op.execute(f"CREATE INDEX {table}_geog_idx ON {table} USING gist ((geom::geography))")


def upgrade() -> None:
    op.create_table(
        "centres",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("floor_area_m2", sa.Float),
        sa.Column("opening_hours", sa.Text),
        sa.Column("radius_m", sa.Float),
        sa.Column("region_code", sa.Text),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("level IN ('centre', 'station', 'home')", name="centres_level_check"),
        sa.CheckConstraint("radius_m > 0", name="centres_radius_check"),
        sa.CheckConstraint("floor_area_m2 >= 0", name="centres_floor_area_check"),
    )
    op.create_table(
        "cameras",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("device_id", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("azimuth_deg", sa.Float, nullable=False),
        sa.Column("fov_deg", sa.Float, nullable=False),
        sa.Column("range_m", sa.Float, nullable=False),
        sa.Column("height_m", sa.Float),
        sa.Column("type", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'online'")),
        sa.Column("region_code", sa.Text),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("azimuth_deg >= 0 AND azimuth_deg <= 360", name="cameras_azimuth_check"),
        sa.CheckConstraint("fov_deg > 0 AND fov_deg <= 360", name="cameras_fov_check"),
        sa.CheckConstraint("range_m > 0", name="cameras_range_check"),
        sa.CheckConstraint("status IN ('online', 'offline')", name="cameras_status_check"),
    )
    op.create_table(
        "roads",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("highway", sa.Text),
        sa.Column("source_id", sa.Text),
        sa.Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
        *_timestamps(),
    )
    for table in ("centres", "cameras", "roads"):
        op.create_index(f"{table}_geom_idx", table, ["geom"], postgresql_using="gist")
    for table in ("centres", "cameras", "addresses"):
        _geography_index(table)
    op.drop_constraint("uploads_kind_check", "uploads")
    op.create_check_constraint(
        "uploads_kind_check",
        "uploads",
        f"kind IN {KINDS!r} AND (kind <> 'boundaries' OR level IS NOT NULL)",
    )


def downgrade() -> None:
    op.execute("DELETE FROM uploads WHERE kind IN ('centres', 'cameras', 'roads')")
    op.drop_constraint("uploads_kind_check", "uploads")
    op.create_check_constraint(
        "uploads_kind_check",
        "uploads",
        "kind IN ('boundaries', 'addresses') AND (kind = 'addresses' OR level IS NOT NULL)",
    )
    op.execute("DROP INDEX addresses_geog_idx")
    for table in ("roads", "cameras", "centres"):
        op.drop_table(table)
