"""Review features of boundary uploads as rows: ``upload_features``, one per feature.

``uploads.features`` held them as one GeoJSON document: building and parsing it cost more
than committing the grids (10 000 grids: ~1.4 s of a 2.7 s upload), and a province's file
(1 000 000 grids, ~600 MB of GeoJSON) passes jsonb's 255 MB limit.  Rows are written with
COPY and read back as GeoJSON by PostGIS (``gis.ingest.history``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_features",
        sa.Column(
            "upload_id",
            sa.BigInteger,
            sa.ForeignKey("uploads.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("feature", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("change", sa.Text),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
    )
    op.execute(
        """
        INSERT INTO upload_features (upload_id, feature, code, name, change, geom)
        SELECT u.id, (f -> 'properties' ->> 'feature')::int, f -> 'properties' ->> 'code',
               f -> 'properties' ->> 'name', f -> 'properties' ->> 'change',
               CASE WHEN jsonb_typeof(f -> 'geometry') = 'object'
                    THEN ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(f -> 'geometry'), 4326)) END
        FROM uploads u, jsonb_array_elements(u.features -> 'features') f
        WHERE u.features IS NOT NULL
        """
    )
    op.drop_column("uploads", "features")


def downgrade() -> None:
    op.add_column("uploads", sa.Column("features", JSONB))
    op.execute(
        """
        UPDATE uploads u SET features = jsonb_build_object(
            'type', 'FeatureCollection',
            'features', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                    'type', 'Feature',
                    'properties', jsonb_build_object(
                        'feature', f.feature, 'code', f.code, 'name', f.name, 'change', f.change),
                    'geometry', ST_AsGeoJSON(f.geom)::jsonb) ORDER BY f.feature)
                FROM upload_features f WHERE f.upload_id = u.id), '[]'::jsonb))
        WHERE u.kind = 'boundaries'
        """
    )
    op.drop_table("upload_features")
