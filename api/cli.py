"""The ``gridmap`` console command: the second entry point of the app, beside HTTP."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gis.cluster import Cluster
from gis.db import database_url, make_engine, migrate, prepare
from gis.errors import GridmapError, InvalidInput
from gis.settings import get_settings

app = typer.Typer(help="gridmap — 网格化治理 GIS service.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL+PostGIS cluster.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo city (迁西县).", no_args_is_help=True)
versions_app = typer.Typer(help="Boundary versions.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(versions_app, name="versions")

console = Console()
err_console = Console(stderr=True)


def _author() -> str:
    return f"{getpass.getuser()}@cli"


def _embedded_cluster() -> Cluster:
    settings = get_settings()
    if not settings.embedded:
        raise InvalidInput(
            "GRIDMAP_DATABASE_URL is set: gridmap uses that server, not an embedded cluster.",
            code="not_embedded",
        )
    return Cluster.from_settings(settings)


@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded cluster, then migrate the database."""
    cluster = _embedded_cluster()
    with console.status("starting PostgreSQL+PostGIS …"):
        _, started = prepare(get_settings())
    console.print(("started" if started else "already running") + f": {cluster.data_dir}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    stopped = _embedded_cluster().stop()
    console.print("stopped" if stopped else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded cluster is absent, stopped or running, and where it lives."""
    cluster = _embedded_cluster()
    console.print(f"{cluster.status()}  port={cluster.port}  data={cluster.data_dir}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (embedded cluster or GRIDMAP_DATABASE_URL)."""
    print(database_url(get_settings()))


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the Alembic migrations to the configured database."""
    migrate(database_url(get_settings()))
    console.print("database is at the newest schema")


@demo_app.command("load")
def demo_load(
    force: Annotated[bool, typer.Option(help="Load even if boundaries already exist.")] = False,
) -> None:
    """Load the demo city into the database as a new boundary version."""
    from gis.seed import load_demo

    settings = get_settings()
    engine = make_engine(prepare(settings)[0])
    try:
        summary = load_demo(engine, settings.demo_dir, only_if_empty=not force)
    finally:
        engine.dispose()
    if summary is None:
        console.print("boundaries already loaded; nothing done (use --force to load anyway)")
    elif summary.number is None:
        console.print("the demo city is already current; nothing changed")
    else:
        console.print(
            f"version {summary.number}: {len(summary.added)} added, "
            f"{len(summary.modified)} modified, {len(summary.removed)} removed"
        )


@versions_app.command("list")
def versions_list(limit: int = 20) -> None:
    """List boundary versions, newest first."""
    from gis.versions import list_versions

    engine = make_engine(database_url(get_settings()))
    try:
        with engine.connect() as conn:
            items, _ = list_versions(conn, limit=limit, offset=0)
    finally:
        engine.dispose()
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
    from gis.versions import restore_version

    engine = make_engine(database_url(get_settings()))
    try:
        with engine.begin() as conn:
            summary = restore_version(conn, number, author=_author())
    finally:
        engine.dispose()
    console.print(f"restored version {number} as version {summary.number}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
    demo: Annotated[bool, typer.Option(help="Load the demo city into an empty database.")] = True,
) -> None:
    """Run the API (starting the embedded cluster and loading the demo city when needed).

    Ctrl-C stops the server, and the cluster too when this command started it.
    """
    import uvicorn

    from gis.seed import load_demo

    settings = get_settings()
    with console.status("preparing the database …"):
        url, started = prepare(settings)
        if demo:
            engine = make_engine(url)
            try:
                summary = load_demo(engine, settings.demo_dir)
            finally:
                engine.dispose()
            if summary is not None:
                console.print(f"loaded the demo city as boundary version {summary.number}")
    base = f"http://{host}:{port}"
    console.print(f"gridmap on {base}\n  API docs: {base}/docs\n  health:   {base}/health")
    try:
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers)
    finally:
        if started:
            with console.status("stopping PostgreSQL …"):
                Cluster.from_settings(settings).stop()
            console.print("database cluster stopped")


def main() -> None:
    """Entry point: run the command, printing gridmap errors as plain messages."""
    try:
        app()
    except GridmapError as error:
        err_console.print(
            f"[red]error[/red] {escape(f'[{error.code}] {error.message}')}", soft_wrap=True
        )
        sys.exit(1)
