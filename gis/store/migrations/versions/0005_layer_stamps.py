"""Data stamps of centres and cameras: a counter per table, bumped by every write.

A statement-level trigger adds one to ``layer_stamps.changes`` of the table after every
INSERT, UPDATE, DELETE or TRUNCATE, whoever writes (the API, an upload, the demo loader,
psql), inside the writing transaction — so the new count becomes visible exactly when the
data does.  The vector tile cache keys the tiles of these tables by it (``tiles.service``): a
tile is never served from before a committed change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("centres", "cameras")


def upgrade() -> None:
    op.create_table(
        "layer_stamps",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("changes", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        """
        CREATE FUNCTION gridmap_layer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO layer_stamps (name, changes) VALUES (TG_TABLE_NAME, 1)
            ON CONFLICT (name) DO UPDATE SET changes = layer_stamps.changes + 1;
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(f"INSERT INTO layer_stamps (name) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER {table}_layer_changed "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_layer_changed()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS gridmap_layer_changed()")
    op.drop_table("layer_stamps")
