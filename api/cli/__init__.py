"""The ``gridmap`` console command: the second entry point of the app, beside HTTP
(``api.app``).  One module per command group — db and demo, versions, keys and audit, files
in and out (import, export, map and tiles export), lookup, serve, ha — assembled here."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from api.cli.basemap import basemap_app
from api.cli.common import err_console
from api.cli.db import db_app, demo_app
from api.cli.files import export_file, import_file, map_app, tiles_app
from api.cli.ha import ha_app
from api.cli.keys import audit_log, keys_app
from api.cli.lookup import lookup_file
from api.cli.roster import roster_app
from api.cli.serve import serve
from api.cli.users import users_app
from api.cli.versions import versions_app
from gis.errors import GridmapError

app = typer.Typer(help="gridmap — 网格化治理 GIS service.", no_args_is_help=True)
app.command("audit")(audit_log)
app.command("import")(import_file)
app.command("export")(export_file)
app.command("lookup")(lookup_file)
app.command()(serve)
app.add_typer(db_app, name="db")
app.add_typer(ha_app, name="ha")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(demo_app, name="demo")
app.add_typer(versions_app, name="versions")
app.add_typer(map_app, name="map")
app.add_typer(tiles_app, name="tiles")
app.add_typer(roster_app, name="roster")
app.add_typer(basemap_app, name="basemap")


def main() -> None:
    """Entry point: run the command, printing gridmap errors as plain messages."""
    try:
        app()
    except GridmapError as error:
        err_console.print(
            f"[red]error[/red] {escape(f'[{error.code}] {error.message}')}", soft_wrap=True
        )
        sys.exit(1)
