"""``gridmap lookup`` — the grid of every row of a CSV of points, streamed in chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from api.cli.common import console, database, err_console


def lookup_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV to write")],
    lon_col: Annotated[
        str | None,
        typer.Option(help="Column with longitudes (or eastings); default: lon, lng, 经度, x …"),
    ] = None,
    lat_col: Annotated[
        str | None,
        typer.Option(help="Column with latitudes (or northings); default: lat, 纬度, y …"),
    ] = None,
    crs: Annotated[str, typer.Option(help="wgs84, cgcs2000, gcj02, bd09 or EPSG code")] = "wgs84",
    as_of: Annotated[int | None, typer.Option(help="Boundary version")] = None,
    encoding: Annotated[
        str, typer.Option(help="Output encoding: utf-8 (with BOM, for Excel) or gb18030")
    ] = "utf-8",
    chunk: Annotated[int, typer.Option(min=1, help="Rows per chunk (bounds memory)")] = 50_000,
) -> None:
    """Add grid, community, street and county columns to every row of a CSV of points, and
    outside every grid the nearest grid and its distance in metres.

    Streams the file in chunks (memory stays bounded for millions of rows); the output is
    UTF-8 with a BOM (or GB18030) so that Excel opens it, and appears only when the whole
    file is done.
    """
    from gis.query.lookup import lookup_csv

    with (
        database() as engine,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err_console,
        ) as bar,
    ):
        task = bar.add_task(file.name, total=file.stat().st_size)
        rows = lookup_csv(
            engine,
            file,
            output,
            lon_col=lon_col,
            lat_col=lat_col,
            crs=crs,
            as_of=as_of,
            encoding=encoding,
            chunk=chunk,
            progress=lambda done: bar.update(task, completed=done),
        )
    console.print(f"{rows} rows → {output}")
