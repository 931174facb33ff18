"""``upload_features`` without its foreign key to ``uploads``.

A province's upload writes 1 000 000 review rows, and PostgreSQL checked the key row by row:
2–6 s of the ~8 s COPY (bench/upload_vs_ogr2ogr.py, 1 000 000 grids).  The rows are written
only by ``gis.ingest.history.record_upload``, in the transaction that inserts their upload,
and uploads are never deleted, so the key guarded nothing that can happen; the tests check
that every row's upload exists (tests/db/test_upload_review_rows.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

KEY = "upload_features_upload_id_fkey"


def upgrade() -> None:
    op.drop_constraint(KEY, "upload_features", type_="foreignkey")


def downgrade() -> None:
    op.execute(
        "DELETE FROM upload_features f "
        "WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.id = f.upload_id)"
    )
    op.create_foreign_key(
        KEY, "upload_features", "uploads", ["upload_id"], ["id"], ondelete="CASCADE"
    )
