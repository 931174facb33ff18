"""The address registry (pg_trgm for fuzzy matching) and the kind of an upload.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "addresses",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("normalized", sa.Text, nullable=False),
        sa.Column("road", sa.Text),
        sa.Column("road_number", sa.Text),
        sa.Column("compound", sa.Text),
        sa.Column("building", sa.Text),
        sa.Column("units", sa.Integer),
        sa.Column("floors", sa.Integer),
        sa.Column("households", sa.Integer),
        sa.Column("region_code", sa.Text),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("addresses_normalized_idx", "addresses", ["normalized"])
    op.create_index(
        "addresses_normalized_trgm_idx",
        "addresses",
        ["normalized"],
        postgresql_using="gin",
        postgresql_ops={"normalized": "gin_trgm_ops"},
    )
    op.create_index("addresses_geom_idx", "addresses", ["geom"], postgresql_using="gist")
    op.add_column(
        "uploads",
        sa.Column("kind", sa.Text, nullable=False, server_default=sa.text("'boundaries'")),
    )
    op.alter_column("uploads", "level", nullable=True)
    op.create_check_constraint(
        "uploads_kind_check",
        "uploads",
        "kind IN ('boundaries', 'addresses') AND (kind = 'addresses' OR level IS NOT NULL)",
    )


def downgrade() -> None:
    op.execute("DELETE FROM uploads WHERE kind = 'addresses'")
    op.drop_constraint("uploads_kind_check", "uploads")
    op.alter_column("uploads", "level", nullable=False)
    op.drop_column("uploads", "kind")
    op.drop_table("addresses")
