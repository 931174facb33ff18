"""Office base maps: MBTiles and PMTiles files an office serves itself (intranets have no
internet).  The file lives under the data directory (``<home>/basemaps``); this table says
what it is, so every worker and node serving the database knows the same base maps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "basemaps",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("tile_type", sa.Text, nullable=False),
        sa.Column("min_zoom", sa.Integer, nullable=False),
        sa.Column("max_zoom", sa.Integer, nullable=False),
        sa.Column("west", sa.Float, nullable=False),
        sa.Column("south", sa.Float, nullable=False),
        sa.Column("east", sa.Float, nullable=False),
        sa.Column("north", sa.Float, nullable=False),
        sa.Column("attribution", sa.Text, nullable=False, server_default=""),
        sa.Column("vector_layers", JSONB, nullable=False, server_default="[]"),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("format IN ('mbtiles', 'pmtiles')", name="basemaps_format_check"),
        sa.CheckConstraint(
            "tile_type IN ('png', 'jpg', 'webp', 'pbf')", name="basemaps_tile_type_check"
        ),
        sa.CheckConstraint("0 <= min_zoom AND min_zoom <= max_zoom", name="basemaps_zoom_check"),
    )


def downgrade() -> None:
    op.drop_table("basemaps")
