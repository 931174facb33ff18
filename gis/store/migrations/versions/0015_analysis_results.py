"""Analysis results kept per data state, and the data stamps of addresses and roads.

``analysis_results`` holds a computed coverage or grid-standards result of a region (one
compressed body: ``gis.analysis.stored``), keyed by everything it was computed from, so the
pages after the first read it instead of computing the region again.  Addresses (the demand)
and roads (camera road coverage) get the statement-level trigger of migration 0005, so their
``layer_stamps`` count changes inside every writing transaction as the centres' and cameras'
do: a stored result is never read for data it was not computed from.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("addresses", "roads")


def upgrade() -> None:
    op.create_table(
        "analysis_results",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("analysis", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column(
            "made_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("analysis_results_made_at_idx", "analysis_results", ["made_at"])
    for table in TABLES:
        op.execute(f"INSERT INTO layer_stamps (name) VALUES ('{table}') ON CONFLICT DO NOTHING")
        op.execute(
            f"CREATE TRIGGER {table}_layer_changed "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_layer_changed()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_changed ON {table}")
        op.execute(f"DELETE FROM layer_stamps WHERE name = '{table}'")
    op.drop_index("analysis_results_made_at_idx", table_name="analysis_results")
    op.drop_table("analysis_results")
