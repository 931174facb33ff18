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
    server: Annotated[
        str | None,
        typer.Option(help="Ask this gridmap server (http(s)://host:port) instead of the database"),
    ] = None,
    key: Annotated[
        str | None, typer.Option(envvar="GRIDMAP_KEY", help="API key for --server (viewer)")
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option(help="With --server: the columns to add (default the four codes)"),
    ] = None,
) -> None:
    """Add grid, community, street and county columns to every row of a CSV of points, and
    outside every grid the nearest grid and its distance in metres.

    Streams the file in chunks (memory stays bounded for millions of rows); the output is
    UTF-8 with a BOM (or GB18030) so that Excel opens it, and appears only when the whole
    file is done.  With ``--server`` the file is streamed to that server's
    ``/api/v1/lookup/stream`` (a viewer key from ``--key`` or ``GRIDMAP_KEY``): the columns
    are ``--fields`` (default the codes of grid, community, street and county), the version
    and an error per row.
    """
    if server is not None:
        _remote(file, output, server, key, fields, crs, as_of, encoding, lon_col, lat_col)
        return
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


def _remote(
    file: Path,
    output: Path,
    server: str,
    key: str | None,
    fields: str | None,
    crs: str,
    as_of: int | None,
    encoding: str,
    lon_col: str | None,
    lat_col: str | None,
) -> None:
    from api.cli.lookup_remote import RemoteError, remote_lookup

    if not key:
        err_console.print("--server 需要 API 密钥：--key 或环境变量 GRIDMAP_KEY (a key is needed)")
        raise typer.Exit(2)
    params = {"crs": crs, "as_of": as_of, "encoding": encoding, "fields": fields}
    params |= {"lon": lon_col, "lat": lat_col}
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        console=err_console,
    ) as bar:
        sending = bar.add_task(f"发送 {file.name}", total=file.stat().st_size)
        answer = bar.add_task("接收结果", total=None)
        try:
            rows, version = remote_lookup(
                server,
                key,
                file,
                output,
                params,
                sent=lambda n: bar.update(sending, completed=n),
                received=lambda n: bar.update(answer, completed=n),
            )
        except RemoteError as error:
            err_console.print(str(error))
            raise typer.Exit(1) from error
    console.print(f"{rows} rows → {output} (version {version})", soft_wrap=True)
