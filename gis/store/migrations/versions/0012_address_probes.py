"""Btree indexes of the address registry's normalised text and of its reversed text, for
matching among millions of entries (``gis.query.addresses``): a query's doorplate is a
prefix of the entries at it ("安安路25号…"), its compound and building a suffix
("…阳光小区5号楼"); both are range scans in code-point order (``COLLATE "C"``), covering
code and text so no table rows are read.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        'CREATE INDEX addresses_prefix_idx ON addresses ((normalized COLLATE "C")) '
        "INCLUDE (code, normalized)"
    )
    op.execute(
        'CREATE INDEX addresses_suffix_idx ON addresses ((reverse(normalized) COLLATE "C")) '
        "INCLUDE (code, normalized)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX addresses_suffix_idx")
    op.execute("DROP INDEX addresses_prefix_idx")
