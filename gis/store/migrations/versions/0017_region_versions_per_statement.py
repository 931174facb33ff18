"""The versions a region row names, checked once a statement instead of once a row.

``regions.valid_from`` and ``valid_to`` were foreign keys to ``boundary_versions``: PostgreSQL
checks a key with one query per inserted or updated row, 18 % of the server's work when an
upload's 300 000 new grids are COPYed into ``regions`` (8.3 → 6.8 CPU-s without the keys;
bench/results/issue16-lead11.md) — and the COPY is what a province's commit waits for.  The
same rule now holds per statement: after an INSERT or UPDATE of ``regions``, one query over
the rows it wrote (a transition table) finds any that names a version that does not exist
(+0.3 s for those 300 000 rows), and a version named by a region cannot be deleted or
renumbered.  Both refuse with SQLSTATE 23503 (foreign_key_violation), as the keys did.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KEYS = {"valid_from": "regions_valid_from_fkey", "valid_to": "regions_valid_to_fkey"}


def upgrade() -> None:
    for key in KEYS.values():
        op.drop_constraint(key, "regions", type_="foreignkey")
    op.execute(
        """
        CREATE FUNCTION gridmap_regions_name_versions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (
                SELECT 1 FROM written w
                WHERE NOT EXISTS (SELECT 1 FROM boundary_versions v WHERE v.number = w.valid_from)
                   OR (w.valid_to IS NOT NULL AND NOT EXISTS (
                           SELECT 1 FROM boundary_versions v WHERE v.number = w.valid_to))
            ) THEN
                RAISE EXCEPTION 'a region names a boundary version that does not exist'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER regions_versions_{event.lower()} AFTER {event} ON regions "
            "REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
            "EXECUTE FUNCTION gridmap_regions_name_versions()"
        )
    op.execute(
        """
        CREATE FUNCTION gridmap_boundary_version_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM regions r
                       WHERE r.valid_from = OLD.number OR r.valid_to = OLD.number) THEN
                RAISE EXCEPTION 'boundary version % is named by regions', OLD.number
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER boundary_versions_kept BEFORE DELETE OR UPDATE OF number "
        "ON boundary_versions FOR EACH ROW EXECUTE FUNCTION gridmap_boundary_version_kept()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER boundary_versions_kept ON boundary_versions")
    op.execute("DROP FUNCTION gridmap_boundary_version_kept()")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER regions_versions_{event} ON regions")
    op.execute("DROP FUNCTION gridmap_regions_name_versions()")
    for column, key in KEYS.items():
        op.create_foreign_key(key, "regions", "boundary_versions", [column], ["number"])
