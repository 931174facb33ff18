"""``gridmap db`` — the embedded PostgreSQL+PostGIS cluster — and ``gridmap demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console, database
from gis.errors import InvalidInput
from gis.settings import get_settings
from gis.store.cluster import Cluster
from gis.store.db import database_url, migrate, prepare

db_app = typer.Typer(help="The embedded PostgreSQL+PostGIS cluster.", no_args_is_help=True)
demo_app = typer.Typer(
    help="The demo city (迁西县) and a generated province.", no_args_is_help=True
)


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
    from gis.store.seed import load_demo

    with database(prepared=True) as engine:
        summary = load_demo(engine, get_settings().demo_dir, only_if_empty=not force)
    if summary is None:
        console.print("boundaries already loaded; nothing done (use --force to load anyway)")
    elif summary.number is None:
        console.print("the demo city is already current; nothing changed")
    else:
        console.print(
            f"version {summary.number}: {len(summary.added)} added, "
            f"{len(summary.modified)} modified, {len(summary.removed)} removed"
        )


@demo_app.command("province")
def demo_province(
    out: Annotated[Path, typer.Option(help="Directory the layer files are written to.")],
    grids: Annotated[int, typer.Option(min=1_000, help="Number of grids.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same files.")] = 16,
    load: Annotated[bool, typer.Option(help="Then load them through the upload path.")] = False,
) -> None:
    """Generate a province (≈170 counties, 2 000 streets, 50 000 communities, 10 addresses a
    grid per 1 000 000 grids) as GeoPackage files; with --load, upload them."""
    from gis.demo.province_files import generate

    generate(grids, seed, out, progress=console.print)
    if load:
        demo_province_load(out)


@demo_app.command("province-load")
def demo_province_load(
    directory: Annotated[Path, typer.Argument(help="A directory `demo province` wrote.")],
) -> None:
    """Load a generated province through the upload path (each file a committed upload)."""
    from gis.demo.province_load import load_province

    with database(prepared=True) as engine:
        load_province(engine, directory, get_settings(), progress=console.print)
