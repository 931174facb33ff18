"""Btree indexes for the history lists, newest first, however long they grow: the audit log
by time (``at, id`` — also the range of ``since``) and by actor and time
(``/api/v1/audit?actor=``), so a keyset page (``(at, id) < (:at, :id)``) starts inside an
index and a filter ends inside it, never a scan of the whole append-only log; the first
replaces the index on ``at`` alone.  And each boundary version's uploads (``version, id``):
each row of a page of ``/api/v1/versions`` names the first file it came from, one index
probe instead of a scan of every upload.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("audit_log_at_id_idx", "audit_log", ["at", "id"])
    op.create_index("audit_log_actor_at_id_idx", "audit_log", ["actor", "at", "id"])
    op.drop_index("audit_log_at_idx", table_name="audit_log")
    op.create_index("uploads_version_idx", "uploads", ["version", "id"])


def downgrade() -> None:
    op.drop_index("uploads_version_idx", table_name="uploads")
    op.create_index("audit_log_at_idx", "audit_log", ["at"])
    op.drop_index("audit_log_actor_at_id_idx", table_name="audit_log")
    op.drop_index("audit_log_at_id_idx", table_name="audit_log")
