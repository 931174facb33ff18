"""The file's features of each boundary upload, for the review map.

``uploads.features`` holds the uploaded regions as they would be stored (GeoJSON
FeatureCollection, EPSG:4326) with what the upload does to each (added, modified,
unchanged), so a dry run can be checked by eye against the current boundaries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("features", JSONB))


def downgrade() -> None:
    op.drop_column("uploads", "features")
