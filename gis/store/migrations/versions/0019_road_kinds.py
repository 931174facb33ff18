"""Rivers and railways beside the roads: what divides a community besides its streets.

``roads.kind`` is ``road`` (walked, counted as road length), ``waterway`` (a river or canal)
or ``railway`` (a railway line): the last two are kept as barriers for grid division
(``gis.division``) and are neither walked (``gis.network.build``) nor seen as road length by
cameras.  Existing rows are roads.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "roads", sa.Column("kind", sa.Text, nullable=False, server_default=sa.text("'road'"))
    )
    op.create_check_constraint(
        "roads_kind_check", "roads", "kind IN ('road', 'waterway', 'railway')"
    )


def downgrade() -> None:
    op.drop_constraint("roads_kind_check", "roads")
    op.drop_column("roads", "kind")
