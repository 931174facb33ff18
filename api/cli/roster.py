"""``gridmap roster export|import``: rosters (花名册) as xlsx or CSV, the same as
``GET``/``POST /api/v1/rosters``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import acting_user, console, database
from gis.errors import InvalidInput
from gis.settings import get_settings

roster_app = typer.Typer(
    help="Rosters (花名册) in Excel: export, edit, import.", no_args_is_help=True
)


@roster_app.command("export")
def roster_export(
    region: Annotated[str | None, typer.Argument(help="Region code (default: everywhere)")] = None,
    level: Annotated[str, typer.Option(help="county, street, community or grid")] = "grid",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (.xlsx or .csv)")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="CSV encoding: utf-8 or gb18030")] = None,
    as_of: Annotated[int | None, typer.Option(help="Boundary version")] = None,
) -> None:
    """Write the regions of --level at or below REGION as a roster: xlsx, or CSV when the
    output ends in .csv (the operator of the database sees every column)."""
    from gis.query.roster import read_roster, to_csv, to_xlsx
    from gis.store.versions import resolve_version

    with database() as engine, engine.connect() as conn:
        version = resolve_version(conn, as_of) or 0
        roster = read_roster(conn, level=level, region=region, version=version, role="admin")
    path = output or Path(f"{roster.filename}.xlsx")
    if path.suffix.lower() not in (".xlsx", ".csv"):
        raise InvalidInput("--output must end in .xlsx or .csv", code="invalid_format")
    path.write_bytes(to_csv(roster, encoding) if path.suffix.lower() == ".csv" else to_xlsx(roster))
    console.print(
        f"wrote {path}: {len(roster.rows)} rows, boundary version {version}", soft_wrap=True
    )


@roster_app.command("import")
def roster_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    level: Annotated[str | None, typer.Option(help="Level (default: the codes')")] = None,
    encoding: Annotated[str | None, typer.Option(help="CSV encoding, e.g. GB18030")] = None,
    commit: Annotated[
        bool, typer.Option("--commit/--dry-run", help="Write the changes (default: only check)")
    ] = False,
    user: Annotated[
        str | None, typer.Option(help="Import as this user (their region scope applies)")
    ] = None,
) -> None:
    """Check an edited roster and show its changed cells; with --commit write them as one new
    boundary version (attributes only).  --user imports as that workbench user, within their
    scope; without it, as the operator (no scope)."""
    from gis.ingest.roster_uploads import RosterRequest, import_roster

    with database(prepared=True) as engine:
        acting = acting_user(engine, user, "editor")
        result = import_roster(
            engine,
            file,
            RosterRequest(
                filename=file.name,
                author=acting.name,
                level=level,
                encoding=encoding,
                dry_run=not commit,
            ),
            get_settings(),
            acting.scope,
        )
    report = result.report
    for problem in report["problems"]:
        console.print(
            f"{problem['severity']:7s} {problem['kind']:20s} {problem['message']}",
            markup=False,
            soft_wrap=True,
        )
    for cell in report["cells"]:
        console.print(
            f"{cell['code']} 第 {cell['row']} 行 {cell['column']} 列 {cell['header']}: "
            f"{cell['old']} → {cell['new']}",
            markup=False,
            soft_wrap=True,
        )
    summary = report["summary"]
    console.print(
        f"{summary['features']} rows · {summary['errors']} errors · "
        f"{len(report['cells'])} changed cells · {result.status}"
        + (f", version {result.version}" if result.version else ""),
        markup=False,
        soft_wrap=True,
    )
    if not report["ok"]:
        raise typer.Exit(1)
