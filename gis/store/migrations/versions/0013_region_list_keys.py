"""Btree indexes for lists of regions at any boundary version, in code order: by level
(``/ogc/collections/counties/items``, ``/api/v1/regions?level=``) and by parent
(``/api/v1/regions/{code}/children``, ``?parent=``).  A list reads one version (``valid_from
<= N AND (valid_to IS NULL OR valid_to > N)``), which the partial indexes of the current rows
cannot serve: without these a page of a province's 170 counties, or a community's 20 grids,
was a sequential scan of every region and a sort.  Keyset pages (``code > :after``) start
inside the index; ``valid_from``/``valid_to`` are included so the version test, and the capped
count of ``numberMatched``, read the index only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "regions_level_code_idx",
        "regions",
        ["level", "code"],
        postgresql_include=["valid_from", "valid_to"],
    )
    op.create_index(
        "regions_parent_code_idx",
        "regions",
        ["parent_code", "code"],
        postgresql_include=["valid_from", "valid_to"],
    )


def downgrade() -> None:
    op.drop_index("regions_parent_code_idx", table_name="regions")
    op.drop_index("regions_level_code_idx", table_name="regions")
