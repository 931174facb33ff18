"""Files in and out: ``gridmap import`` (the upload pipeline, a dry run unless ``--commit``),
``gridmap export`` (regions for desktop GIS), ``gridmap map export`` (an offline map page) and
``gridmap tiles export`` (a PMTiles archive)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import acting_user, console, database, err_console
from gis.errors import InvalidInput
from gis.settings import get_settings

map_app = typer.Typer(help="Map pages.", no_args_is_help=True)
tiles_app = typer.Typer(help="Vector tiles.", no_args_is_help=True)


def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    level: Annotated[
        str | None, typer.Option(help="county, street, community or grid (boundaries)")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="boundaries, addresses, centres, cameras or roads")
    ] = "boundaries",
    parent: Annotated[str | None, typer.Option(help="Code of the parent region")] = None,
    crs: Annotated[str | None, typer.Option(help="EPSG:4527, cgcs2000, gcj02, bd09 …")] = None,
    encoding: Annotated[str | None, typer.Option(help="Attribute encoding, e.g. GBK")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer file")] = None,
    field: Annotated[
        list[str] | None, typer.Option(help="Field mapping ROLE=FIELD, e.g. code=BM (repeat)")
    ] = None,
    commit: Annotated[
        bool,
        typer.Option(
            "--commit/--dry-run",
            help="Write the file (all or nothing); by default only validate and preview",
        ),
    ] = False,
    repair: Annotated[bool, typer.Option(help="make_valid and snap slivers")] = False,
    allow_moves: Annotated[
        bool,
        typer.Option(
            help="Accept stored regions whose new boundary lies elsewhere (recorded in the version)"
        ),
    ] = False,
    user: Annotated[
        str | None,
        typer.Option(
            help="Import as this workbench user: their role and region scope apply, they are "
            "the author (default: the operator at this console, unscoped)"
        ),
    ] = None,
) -> None:
    """Validate a boundary file (as a new version), an address registry, centres, cameras or
    roads (--kind) and preview the changes; write them only with --commit.

    A dry run by default, like the HTTP API: a file reaches the database only when asked
    explicitly, after its report has been read.  --user NAME imports as that user, refused
    (out_of_scope) outside their region scope; without it the operator at the machine's
    console acts unscoped, as the database's owner.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from gis.ingest.pipeline import UploadRequest
    from gis.ingest.uploads import process_upload
    from gis.store.models import UPLOAD_KINDS

    if kind not in UPLOAD_KINDS:
        raise InvalidInput(f"--kind expects one of {list(UPLOAD_KINDS)}", code="invalid_kind")
    if kind == "boundaries" and level is None:
        raise InvalidInput("--level is required for boundaries", code="invalid_parameter")

    mapping = {}
    for item in field or []:
        role, sep, name = item.partition("=")
        if not sep:
            raise InvalidInput(
                f"--field expects ROLE=FIELD, got {item!r}", code="invalid_field_mapping"
            )
        mapping[role.strip()] = name.strip()
    stages = [
        "reading",
        "reprojecting",
        "validating",
        "diagnosing",
        "committing" if commit else "previewing",
    ]
    with (
        database(prepared=True) as engine,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
        ) as bar,
    ):
        acting = acting_user(engine, user, "editor")
        task = bar.add_task(f"{file.name}", total=len(stages))

        def progress(stage: str) -> None:
            bar.update(task, description=f"{file.name}: {stage}", completed=stages.index(stage))

        result = process_upload(
            engine,
            file,
            UploadRequest(
                filename=file.name,
                level=level,
                author=acting.name,
                kind=kind,
                parent=parent,
                crs=crs,
                encoding=encoding,
                layer=layer,
                fields=mapping,
                dry_run=not commit,
                repair=repair,
                allow_moves=allow_moves,
                scope=acting.scope,
            ),
            get_settings(),
            progress,
        )
        bar.update(task, completed=len(stages))
    _print_report(result.report)
    console.print(
        f"upload {result.id}: {result.status}"
        + (f", version {result.version}" if result.version else "")
    )
    console.print(_outcome(result.status, result.version, result.report["ok"]), markup=False)
    if result.status == "rejected" or not result.report["ok"]:
        raise typer.Exit(1)


def _outcome(status: str, version: int | None, ok: bool) -> str:
    """What an import did, said plainly (zh-CN, then English)."""
    if not ok:
        return "有错误，未写入任何数据；请按报告修正 (errors: nothing was written; see the report)"
    if status == "dry_run":
        return (
            "试运行：未写入任何数据；确认报告无误后加 --commit 重新运行即可提交 "
            "(dry run: nothing was written; run again with --commit to commit)"
        )
    if status == "unchanged":
        return (
            "内容与现有数据相同，未产生新版本 (nothing differs from what is stored: no new version)"
        )
    if version:
        return f"已提交为边界版本 {version} (committed as boundary version {version})"
    return "已提交，数据已写入 (committed: the file was written)"


def _print_report(report: dict) -> None:
    summary = report["summary"]
    enc = report["encoding"]
    console.print(
        f"{summary['features']} features · CRS {report['crs']['crs']} ({report['crs']['source']})"
        + (f" · encoding {enc['encoding']} ({enc['source']})" if enc else ""),
        markup=False,
    )
    for problem in report["problems"]:
        where = f"#{problem['feature']}" if problem["feature"] else ""
        area = f" {problem['area_m2']} m²" if "area_m2" in problem else ""
        console.print(
            f"{problem['severity']:7s} {problem['kind']:22s} {problem['code'] or ''} {where}"
            f"{area}  {problem['message']}",
            markup=False,
        )
    for kind, count in report.get("problems_omitted", {}).items():
        console.print(f"…       {kind:22s} 另有 {count} 条未列出 ({count} more not listed)")
    for repair in report.get("repairs", []):
        console.print(
            f"repair  {repair['kind']:22s} {repair['code']}  {repair['message']}", markup=False
        )
    changes = summary["changes"]
    if changes:

        def count(key: str) -> int:  # codes, or counts (point layers)
            value = changes.get(key, 0)
            return len(value) if isinstance(value, list) else int(value)

        console.print(
            f"changes: +{count('added')} ~{count('modified')} -{count('removed')}; "
            f"{summary['errors']} errors, {summary['warnings']} warnings"
        )


def export_file(
    level: Annotated[str, typer.Option(help="county, street, community or grid")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to write into")],
    fmt: Annotated[str, typer.Option("--format", help="geojson, gpkg or shp")] = "geojson",
    encoding: Annotated[str | None, typer.Option(help="Shapefile encoding: utf-8 or gbk")] = None,
    parent: Annotated[str | None, typer.Option(help="Only the children of this code")] = None,
    as_of: Annotated[int | None, typer.Option(help="Boundary version")] = None,
) -> None:
    """Export one level's regions to a file (EPSG:4326) for desktop GIS."""
    from gis.query.export import export_regions
    from gis.store.versions import resolve_version

    output.mkdir(parents=True, exist_ok=True)
    with database() as engine, engine.connect() as conn:
        version = resolve_version(conn, as_of)
        path = export_regions(
            conn,
            output,
            version=version or 0,
            level=level,
            fmt=fmt,
            parent=parent,
            encoding=encoding,
            role="admin",  # the operator of the database sees everything
        )
    console.print(f"wrote {path}")


@map_app.command("export")
def map_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")],
    region: Annotated[str | None, typer.Option(help="Region code (default: everything)")] = None,
    basemap: Annotated[
        str,
        typer.Option(
            help="none (default: the file works anywhere), an office base map (gridmap "
            "basemap list; its tiles from --api-base), osm, tianditu or amap"
        ),
    ] = "none",
    colour_by: Annotated[str, typer.Option(help="households or coverage")] = "households",
    api_base: Annotated[
        str, typer.Option(help="gridmap server the address box asks")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Write one self-contained map page (scripts and styles inside) for offline sharing;
    a region of more than 1 500 regions is refused (serve it, or gridmap tiles export)."""
    from gis.web.page import map_options, page_html
    from gis.web.region_page import refuse_large_export, region_map

    if colour_by not in ("households", "coverage"):
        raise InvalidInput("--colour-by expects households or coverage", code="invalid_parameter")
    settings = get_settings()
    with database() as engine, engine.connect() as conn:
        options = map_options(conn, basemap, colour_by=colour_by, api_base=api_base)
        refuse_large_export(conn, region)
        html = page_html(region_map(conn, settings, region, options), settings, inline=True)
    output.write_text(html, encoding="utf-8")
    console.print(f"wrote {output} ({len(html.encode()) / 1e6:.2f} MB)")


@tiles_app.command("export")
def tiles_export(
    region: Annotated[str, typer.Option(help="Region code (county, street, community, grid)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PMTiles file to write")],
    minzoom: Annotated[int, typer.Option(help="Lowest zoom")] = 10,
    maxzoom: Annotated[int, typer.Option(help="Highest zoom")] = 16,
    layers: Annotated[
        str | None, typer.Option(help="Comma-separated tile layers (default: all)")
    ] = None,
) -> None:
    """Write a region's vector tiles (current version) to one PMTiles v3 archive, for maps
    with no server (MapLibre + the pmtiles protocol, QGIS …)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from tiles.pmtiles import check_zooms, export_pmtiles, parse_layers

    settings = get_settings()
    check_zooms(minzoom, maxzoom, settings)  # before touching the database
    names = parse_layers(layers)
    with (
        database() as engine,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
        ) as bar,
    ):
        task = bar.add_task(f"tiles {region} z{minzoom}–{maxzoom}", total=None)
        summary = export_pmtiles(
            engine,
            settings,
            region,
            output,
            minzoom=minzoom,
            maxzoom=maxzoom,
            layers=names,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"wrote {output}: {summary.tiles} tiles ({summary.candidates - summary.tiles} empty "
        f"skipped), {summary.bytes / 1e6:.2f} MB, boundary version {summary.version}"
    )
