"""The ``gridmap`` console command: the second entry point of the app, beside HTTP."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from gis.errors import GridmapError, InvalidInput
from gis.settings import get_settings
from gis.store.cluster import Cluster
from gis.store.db import database_url, make_engine, migrate, prepare

app = typer.Typer(help="gridmap — 网格化治理 GIS service.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL+PostGIS cluster.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo city (迁西县).", no_args_is_help=True)
versions_app = typer.Typer(help="Boundary versions.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")
app.add_typer(versions_app, name="versions")
map_app = typer.Typer(help="Map pages.", no_args_is_help=True)
app.add_typer(map_app, name="map")
tiles_app = typer.Typer(help="Vector tiles.", no_args_is_help=True)
app.add_typer(tiles_app, name="tiles")

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
    from gis.store.seed import load_demo

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
    from gis.store.versions import list_versions

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
    from gis.store.board import connection_board, publish
    from gis.store.versions import restore_version

    engine = make_engine(database_url(get_settings()))
    try:
        with engine.begin() as conn:
            summary = restore_version(conn, number, author=_author())
            board = connection_board(conn)
        publish(board, summary.number)
    finally:
        engine.dispose()
    console.print(f"restored version {number} as version {summary.number}")


def _key_change(action: str, change: Any) -> Any:
    """Run ``change(conn)`` on the database in a transaction that also writes its audit
    entry (who: the OS user at the CLI); return what it returned."""
    from gis.access import audit

    engine = make_engine(prepare(get_settings())[0])
    try:
        with engine.begin() as conn:
            done = change(conn)
            info = done[0] if isinstance(done, tuple) else done
            audit.record(
                conn,
                actor=_author(),
                key_id=None,
                address="cli",
                action=f"gridmap keys {action}",
                target=f"key {info.id}",
                details={"id": info.id, "name": info.name, "role": info.role},
            )
    finally:
        engine.dispose()
    return done


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, editor or admin")],
    name: Annotated[str | None, typer.Option(help="Who or what uses the key")] = None,
    expires: Annotated[
        str | None, typer.Option(help="Lifetime such as 30d, 12h or 2w (default: never)")
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from gis.access.auth import issue_key, parse_expiry

    lifetime = parse_expiry(expires) if expires else None
    label = name or f"{role}@{getpass.getuser()}"
    _, key = _key_change(
        "create", lambda conn: issue_key(conn, role=role, name=label, expires_in=lifetime)
    )
    print(key)


@keys_app.command("list")
def keys_list() -> None:
    """List the API keys: id, role, created, status, expiry, last use (to the minute), name —
    never the key or its hash."""
    from gis.access.auth import list_keys

    engine = make_engine(prepare(get_settings())[0])
    try:
        with engine.connect() as conn:
            keys = list_keys(conn)
    finally:
        engine.dispose()
    if not keys:
        console.print("没有 API 密钥；用 gridmap keys create 创建 (no API keys yet)", markup=False)
        return
    console.print(
        f"{'id':>4}  {'role':6s}  {'created':16s}  {'status':16s}  {'expires':16s}  "
        f"{'last used':16s}  name",
        markup=False,
        soft_wrap=True,
    )
    for key in keys:
        status = f"revoked {_when(key.revoked_at)}" if key.revoked_at else key.status
        console.print(
            f"{key.id:>4}  {key.role:6s}  {_when(key.created_at)}  {status:16s}  "
            f"{_when(key.expires_at):16s}  {_when(key.last_used_at):16s}  {key.name}",
            markup=False,
            soft_wrap=True,
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="From keys list")],
) -> None:
    """Revoke API key ID: requests with it (and its browser sessions) get 401 from then on."""
    from gis.access.auth import revoke_key

    key = _key_change("revoke", lambda conn: revoke_key(conn, key_id))
    console.print(
        f"已吊销密钥 {key.id}（{key.name}，{key.role}） (revoked key {key.id})", markup=False
    )


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="From keys list")],
) -> None:
    """Give API key ID a new secret and print it once; the old one gets 401 from then on
    (same id, name, role and expiry)."""
    from gis.access.auth import rotate_key

    _, key = _key_change("rotate", lambda conn: rotate_key(conn, key_id))
    print(key)


@app.command("audit")
def audit_log(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this key name (or user@cli)")] = None,
) -> None:
    """The audit log, newest first: when, who, from where, what, what changed."""
    import json

    from gis.access.audit import list_entries

    engine = make_engine(prepare(get_settings())[0])
    try:
        with engine.connect() as conn:
            entries, total = list_entries(conn, limit=limit, actor=actor)
    finally:
        engine.dispose()
    if not entries:
        console.print("审计日志为空 (the audit log is empty)", markup=False)
        return
    for e in entries:
        details = json.dumps(e["details"], ensure_ascii=False)
        console.print(
            f"{e['id']:>6}  {e['at'][:19]}  {e['actor']}  {e['address'] or '-'}  "
            f"{e['action']}  {e['status'] or ''}  {details}",
            markup=False,
            soft_wrap=True,
        )
    console.print(f"{len(entries)} of {total}", markup=False)


@app.command("import")
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
) -> None:
    """Validate a boundary file (as a new version), an address registry, centres, cameras or
    roads (--kind) and preview the changes; write them only with --commit.

    A dry run by default, like the HTTP API: a file reaches the database only when asked
    explicitly, after its report has been read.
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
    settings = get_settings()
    engine = make_engine(prepare(settings)[0])
    stages = [
        "reading",
        "reprojecting",
        "validating",
        "diagnosing",
        "committing" if commit else "previewing",
    ]
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
        ) as bar:
            task = bar.add_task(f"{file.name}", total=len(stages))

            def progress(stage: str) -> None:
                bar.update(task, description=f"{file.name}: {stage}", completed=stages.index(stage))

            result = process_upload(
                engine,
                file,
                UploadRequest(
                    filename=file.name,
                    level=level,
                    author=_author(),
                    kind=kind,
                    parent=parent,
                    crs=crs,
                    encoding=encoding,
                    layer=layer,
                    fields=mapping,
                    dry_run=not commit,
                    repair=repair,
                    allow_moves=allow_moves,
                ),
                settings,
                progress,
            )
            bar.update(task, completed=len(stages))
    finally:
        engine.dispose()
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
    for repair in report.get("repairs", []):
        console.print(
            f"repair  {repair['kind']:22s} {repair['code']}  {repair['message']}", markup=False
        )
    changes = summary["changes"]
    if changes:
        console.print(
            f"changes: +{len(changes['added'])} ~{len(changes['modified'])} "
            f"-{len(changes.get('removed', []))}; "
            f"{summary['errors']} errors, {summary['warnings']} warnings"
        )


@app.command("export")
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
    engine = make_engine(database_url(get_settings()))
    try:
        with engine.connect() as conn:
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
    finally:
        engine.dispose()
    console.print(f"wrote {path}")


@map_app.command("export")
def map_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")],
    region: Annotated[str | None, typer.Option(help="Region code (default: everything)")] = None,
    basemap: Annotated[str, typer.Option(help="none, osm, tianditu or amap")] = "none",
    colour_by: Annotated[str, typer.Option(help="households or coverage")] = "households",
    api_base: Annotated[
        str, typer.Option(help="gridmap server the address box asks")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Write one self-contained map page (scripts and styles inside) for offline sharing."""
    from gis.web.maps import MapOptions, page_html, region_map

    if basemap not in ("none", "osm", "tianditu", "amap"):
        raise InvalidInput("--basemap expects none, osm, tianditu or amap", code="invalid_basemap")
    if colour_by not in ("households", "coverage"):
        raise InvalidInput("--colour-by expects households or coverage", code="invalid_parameter")
    settings = get_settings()
    engine = make_engine(database_url(settings))
    try:
        with engine.connect() as conn:
            options = MapOptions(basemap=basemap, colour_by=colour_by, api_base=api_base)
            html = page_html(region_map(conn, settings, region, options), settings, inline=True)
    finally:
        engine.dispose()
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
    engine = make_engine(database_url(settings))
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
        ) as bar:
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
    finally:
        engine.dispose()
    console.print(
        f"wrote {output}: {summary.tiles} tiles ({summary.candidates - summary.tiles} empty "
        f"skipped), {summary.bytes / 1e6:.2f} MB, boundary version {summary.version}"
    )


@app.command("lookup")
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

    engine = make_engine(database_url(get_settings()))
    try:
        with _progress_bar() as bar:
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
    finally:
        engine.dispose()
    console.print(f"{rows} rows → {output}")


def _progress_bar() -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )


def banner(host: str, port: int) -> str:
    """What ``serve`` prints once ready: the pages to open first (start page, city map, API
    docs), at an address a browser can open (a wildcard host is shown as this machine)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    pages = (
        ("/", "首页 (start page)"),
        ("/maps", "城市地图 (city map)"),
        ("/docs", "API 文档 (API docs)"),
        ("/health", "服务状态 (health)"),
    )
    width = len(base) + max(len(path) for path, _ in pages) + 3
    lines = [f"  {(base + path).ljust(width)}{label}" for path, label in pages]
    return "\n".join(["gridmap — 在浏览器中打开 (open in a browser):", *lines])


SERVE_MAX_CONNECTIONS = 1000
"""Open connections and tasks one worker accepts before answering 503."""


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

    from gis.store.seed import load_demo

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
    console.print(banner(host, port), markup=False, highlight=False)
    try:
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # uvicorn has no header-read timeout: connections (slow headers among them) are
            # bounded per worker, 503 beyond; bodies are timed by api/limits.py
            limit_concurrency=SERVE_MAX_CONNECTIONS,
            timeout_keep_alive=5,
        )
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
