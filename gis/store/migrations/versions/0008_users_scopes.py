"""Users who sign in with a password, and region scopes of users and keys.

- ``users``: a person of the office — username, password hash (argon2), role, optional
  region scope (the code of the county, street or community whose regions they may change),
  disabled when they leave (never deleted: versions and the audit log name them).
- ``api_keys.scope_code``: a key may be scoped to a region the same way.
- ``sessions.user_id``: a browser session stands for a key (``?key=``) or for a user
  (``/login``), exactly one of them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.Text, nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("scope_code", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="users_role_check"),
    )
    op.add_column("api_keys", sa.Column("scope_code", sa.Text))
    op.alter_column("sessions", "key_id", nullable=True)
    op.add_column(
        "sessions",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
    )
    op.create_index("sessions_user_idx", "sessions", ["user_id"])
    op.create_check_constraint(
        "sessions_one_owner", "sessions", "(key_id IS NULL) <> (user_id IS NULL)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM sessions WHERE key_id IS NULL")
    op.drop_constraint("sessions_one_owner", "sessions")
    op.drop_index("sessions_user_idx", "sessions")
    op.drop_column("sessions", "user_id")
    op.alter_column("sessions", "key_id", nullable=False)
    op.drop_column("api_keys", "scope_code")
    op.drop_table("users")
