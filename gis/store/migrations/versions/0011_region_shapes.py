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

INDEXED = ("county", "street", "community")
"""Levels with a spatial index of their own: a low-zoom tile of counties finds its 17 rows,
not the 100 000 grids the shared index holds in the same box."""


def upgrade() -> None:
    op.create_table(
        "region_shapes",
        sa.Column("region_id", sa.BigInteger, primary_key=True),
        sa.Column("zoom", sa.SmallInteger, primary_key=True),
        sa.Column("geom", Geometry(srid=3857, spatial_index=False), nullable=False),
    )
    for level in INDEXED:
        op.create_index(
            f"regions_{level}_geom_idx",
            "regions",
            ["geom"],
            postgresql_using="gist",
            postgresql_where=sa.text(f"level = '{level}'"),
        )
    prepare_missing(op.get_bind())


def downgrade() -> None:
    for level in INDEXED:
        op.drop_index(f"regions_{level}_geom_idx", "regions")
    op.drop_table("region_shapes")
