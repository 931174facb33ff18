"""API keys and the upload history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="api_keys_role_check"),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("parent_code", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("report", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("version", sa.Integer, sa.ForeignKey("boundary_versions.number")),
        sa.CheckConstraint(
            "status IN ('dry_run', 'rejected', 'committed', 'unchanged')",
            name="uploads_status_check",
        ),
    )


def downgrade() -> None:
    op.drop_table("uploads")
    op.drop_table("api_keys")
