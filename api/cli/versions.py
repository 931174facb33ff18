"""``gridmap versions`` — list boundary versions, restore an earlier one."""

from __future__ import annotations

from functools import partial

import typer

from api.cli.common import author, console, database

versions_app = typer.Typer(help="Boundary versions.", no_args_is_help=True)


@versions_app.command("list")
def versions_list(limit: int = 20) -> None:
    """List boundary versions, newest first."""
    from gis.store.versions import list_versions

    with database() as engine, engine.connect() as conn:
        items, _ = list_versions(conn, limit=limit, offset=0)
    for v in items:
        changes = v["changes"]
        console.print(
            f"{v['number']:>4}  {v['created_at']}  {v['action']:8s} {v['author']}  "
            f"+{len(changes['added'])} ~{len(changes['modified'])} -{len(changes['removed'])}"
            f"  {v['message'] or ''}"
        )


@versions_app.command("restore")
def versions_restore(number: int) -> None:
    """Make version NUMBER current again (recorded as a new version)."""
    from gis.store.versions import commit_and_publish, restore_version

    with database() as engine:
        summary = commit_and_publish(
            engine, partial(restore_version, target=number, author=author())
        )
    console.print(f"restored version {number} as version {summary.number}")
