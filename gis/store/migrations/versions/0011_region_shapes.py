"""Generalised boundaries per zoom, prepared at commit time (``gis.store.generalised``).

``region_shapes`` holds, for each ``regions`` row and each low zoom its level is drawn at, the
row's polygon in EPSG:3857 simplified at that zoom's tolerance; the tiles read it instead of
simplifying every polygon per request.  Rows of ``regions`` never change, so their shapes
never do either (no foreign key: rows of ``regions`` are never deleted, and checking one
for each of millions of shapes would slow a province's commit).  Existing rows are prepared
here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from gis.store.generalised import prepare_missing

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "region_shapes",
        sa.Column("region_id", sa.BigInteger, primary_key=True),
        sa.Column("zoom", sa.SmallInteger, primary_key=True),
        sa.Column("geom", Geometry(srid=3857, spatial_index=False), nullable=False),
    )
    prepare_missing(op.get_bind())


def downgrade() -> None:
    op.drop_table("region_shapes")
