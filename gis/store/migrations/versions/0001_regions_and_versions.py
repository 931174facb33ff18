"""PostGIS, boundary versions and versioned regions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "boundary_versions",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("restored_from", sa.Integer, sa.ForeignKey("boundary_versions.number")),
        sa.Column("changes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("parent_code", sa.Text),
        sa.Column("households", sa.Integer),
        sa.Column("population", sa.Integer),
        sa.Column("grid_worker", sa.Text),
        sa.Column("grid_worker_phone", sa.Text),
        sa.Column("party_branch", sa.Text),
        sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column(
            "geom",
            Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column(
            "valid_from", sa.Integer, sa.ForeignKey("boundary_versions.number"), nullable=False
        ),
        sa.Column("valid_to", sa.Integer, sa.ForeignKey("boundary_versions.number")),
        sa.CheckConstraint(
            "level IN ('county', 'street', 'community', 'grid')", name="regions_level_check"
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="regions_validity_check"
        ),
    )
    op.create_index(
        "regions_current_code_key",
        "regions",
        ["code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index("regions_code_versions_idx", "regions", ["code", "valid_from"])
    op.create_index(
        "regions_current_parent_idx",
        "regions",
        ["parent_code"],
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index(
        "regions_current_level_idx",
        "regions",
        ["level"],
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index("regions_geom_idx", "regions", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("regions")
    op.drop_table("boundary_versions")
