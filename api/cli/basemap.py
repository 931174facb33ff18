"""``gridmap basemap`` — office base maps (MBTiles/PMTiles files served by gridmap to maps on
an intranet): add, list, remove.  Each change is written to the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import audit_change, console, database

basemap_app = typer.Typer(help="Office base maps (MBTiles, PMTiles).", no_args_is_help=True)


def _audit(engine: Any, action: str, name: str, details: dict[str, Any]) -> None:
    with engine.begin() as conn:
        audit_change(conn, f"basemap {action}", f"basemap {name}", details)


@basemap_app.command("add")
def basemap_add(
    file: Annotated[Path, typer.Argument(help="MBTiles or PMTiles file (raster or vector)")],
    name: Annotated[str, typer.Option(help="Short name: a-z, 0-9, - and _ (used in URLs)")],
    title: Annotated[
        str | None, typer.Option(help="Title shown in map pages (default: the file's name)")
    ] = None,
    attribution: Annotated[
        str | None, typer.Option(help="Attribution (default: the file's own)")
    ] = None,
) -> None:
    """Check the file, copy it under the data directory and offer it on every map page."""
    from gis.settings import get_settings
    from tiles.basemaps import add_basemap

    settings = get_settings()
    with database(prepared=True) as engine:
        b = add_basemap(engine, settings, file, name, title=title, attribution=attribution)
        _audit(engine, "add", b.name, {"file": file.name, "sha256": b.sha256, "bytes": b.bytes})
    kind = "栅格" if b.raster else "矢量"
    console.print(
        f"added {b.name} 「{b.title}」: {b.format} {b.tile_type} ({kind}), zoom "
        f"{b.min_zoom}–{b.max_zoom}, bounds {', '.join(f'{v:g}' for v in b.bounds)}",
        markup=False,
        soft_wrap=True,
    )


@basemap_app.command("list")
def basemap_list() -> None:
    """List the office base maps: name, format, tile type, zooms, size, title."""
    from gis.store.basemaps import list_basemaps

    with database(prepared=True) as engine, engine.connect() as conn:
        found = list_basemaps(conn)
    if not found:
        console.print("没有底图；用 gridmap basemap add 添加 (no base maps yet)", markup=False)
        return
    console.print(f"{'name':20s}  {'format':7s}  type  zoom    {'MB':>8s}  title", markup=False)
    for b in found:
        console.print(
            f"{b.name:20s}  {b.format:7s}  {b.tile_type:4s}  {b.min_zoom:>2}–{b.max_zoom:<2}  "
            f"{b.bytes / 1e6:8.2f}  {b.title}",
            markup=False,
            soft_wrap=True,
        )


@basemap_app.command("remove")
def basemap_remove(name: Annotated[str, typer.Argument(help="The base map's name")]) -> None:
    """Stop offering a base map and delete its copied file."""
    from gis.settings import get_settings
    from tiles.basemaps import remove_basemap

    with database(prepared=True) as engine:
        b = remove_basemap(engine, get_settings(), name)
        _audit(engine, "remove", b.name, {"sha256": b.sha256})
    console.print(f"removed {b.name}", markup=False)
