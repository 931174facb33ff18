"""The walking network: the roads noded at every crossing, for distances along paths.

``walk_edges`` holds the stored roads cut at every point where two of them meet, each piece
with the node ids of its ends and its geodesic length in metres; ``walk_nodes`` the ends.  It
is rebuilt from ``roads`` inside every transaction that writes the roads
(``gis.network.build``), so it is always the network of the committed roads — versioned by
the roads' data stamp (``layer_stamps``) like every analysis of them.

pgRouting (Debian ``postgresql-15-pgrouting``) computes the distances on it.  The extension
is created when the server has it and we may create it; a server without it keeps working,
and the walking analyses then answer that the server lacks pgRouting.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgrouting') THEN
                CREATE EXTENSION IF NOT EXISTS pgrouting;
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pgRouting not created: %', SQLERRM;
        END $$
        """
    )
    op.create_table(
        "walk_nodes",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_table(
        "walk_edges",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("source", sa.BigInteger, nullable=False),
        sa.Column("target", sa.BigInteger, nullable=False),
        sa.Column("length_m", sa.Float, nullable=False),
        sa.Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("length_m >= 0", name="walk_edges_length_check"),
    )
    op.create_index("walk_edges_geom_idx", "walk_edges", ["geom"], postgresql_using="gist")
    op.create_index("walk_edges_source_idx", "walk_edges", ["source"])
    op.create_index("walk_edges_target_idx", "walk_edges", ["target"])


def downgrade() -> None:
    op.drop_table("walk_edges")
    op.drop_table("walk_nodes")
