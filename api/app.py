"""The FastAPI application."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from api.audit import AuditWrites
from api.compression import CompressLarge
from api.cors import PublicCORS
from api.deps import Services
from api.errors import install_error_handlers
from api.fast_lookup import FastLookup
from api.fast_tiles import FastTiles
from api.limits import BodyLimits
from api.pages import STATIC_DIR, STATIC_URL
from api.public_url import PublicURL
from api.request_line import RequestLine
from api.routers import (
    account,
    analysis,
    audit,
    basemaps,
    docs,
    edits,
    export,
    health,
    home,
    keys,
    layers,
    lookup,
    lookup_stream,
    maps,
    ogc,
    printing,
    regions,
    rosters,
    tiles,
    uploads,
    versions,
    workbench,
)
from api.security_headers import SecurityHeaders
from api.sessions import KeySessions, redact_logs
from api.throttle import Throttle
from api.vendor import VendorFiles
from gis.geo.crs import crs_names
from gis.query.lookup import LookupService
from gis.settings import Settings, get_settings
from gis.store.db import database_url, make_engine, normalise_url
from gis.store.replicas import ReadEngines
from gis.store.tempfiles import remove_stale
from gis.store.watch import VersionWatch
from tiles.service import TileService


class Gridmap(FastAPI):
    """The app, its busiest requests answered in front of FastAPI's own layers: a plain
    lookup (:class:`FastLookup`) or tile (:class:`FastTiles`) skips FastAPI's telemetry and
    body-limit wrappers, Starlette's error middleware and the middleware stack, as it skips
    the router; every other request (and the lifespan) goes through them all."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.front = FastLookup(FastTiles(super().__call__, root=self), root=self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.front(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its engine points at ``GRIDMAP_DATABASE_URL`` or the embedded cluster."""
    settings = settings or get_settings()
    redact_logs()  # the worker's loggers are set up by now: no key reaches the access log

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The one start-up hook: every service (``api.deps.Services``) built, then closed."""
        remove_stale(settings.stale_temp_s)  # left by a worker killed mid-upload
        url = database_url(settings)
        engine = make_engine(url)
        reads = ReadEngines(
            engine,
            [make_engine(normalise_url(u)) for u in settings.replica_urls],
            max_lag_s=settings.replica_max_lag_s,
        )
        watch = VersionWatch(  # the current boundary version
            url, fence=settings.fenced, replica_urls=settings.replica_urls
        )
        tiles = TileService(url, watch, settings)
        app.state.services = Services(
            engine=engine,
            reads=reads,
            watch=watch,
            lookup=LookupService(reads, watch),
            tiles=tiles,
            throttle=Throttle(settings),
        )
        if not gc.get_freeze_count():  # once per process: the serving worker's app
            crs_names()  # ~0.3 s holding the GIL: not on the first request naming a CRS
            gc.collect()
            gc.freeze()  # startup's objects live as long as the app: collections skip them
        try:
            yield
        finally:
            await tiles.close()
            await watch.close()
            reads.dispose()
            engine.dispose()

    app = Gridmap(
        title="gridmap",
        summary="网格化治理 GIS 服务: grids, communities, streets and counties from PostGIS.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served offline by api/routers/docs.py
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(lookup.router)  # the busiest routes first: they are matched first
    app.include_router(lookup_stream.router)
    app.include_router(tiles.router)
    app.include_router(health.router)
    app.include_router(regions.router)
    app.include_router(versions.router)
    app.include_router(keys.router)
    app.include_router(audit.router)
    app.include_router(uploads.router)
    app.include_router(edits.router)
    app.include_router(rosters.router)
    app.include_router(export.router)
    for router in layers.routers:
        app.include_router(router)
    app.include_router(analysis.router)
    app.include_router(maps.router)
    app.include_router(printing.router)
    app.include_router(ogc.router)
    app.include_router(docs.router)
    app.include_router(home.router)
    app.include_router(workbench.router)
    app.include_router(account.router)
    app.include_router(basemaps.router)
    docs.hoist_defs(app)
    docs.declare_errors(app)
    app.mount("/vendor", VendorFiles(directory=settings.vendor_dir, check_dir=False), name="vendor")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimits)  # innermost: its refusals are compressed, CORS'd
    app.add_middleware(RequestLine)  # a too long URL, a NUL in it: refused before the body
    app.add_middleware(AuditWrites)  # each successful write, once answered
    app.add_middleware(KeySessions)  # a page's ?key= becomes a session cookie
    app.add_middleware(CompressLarge)
    app.add_middleware(PublicCORS)
    app.add_middleware(SecurityHeaders, settings=settings)  # a CSP nonce for each request
    app.add_middleware(PublicURL, public_url=settings.public_url)  # before any link
    return app  # in front of it all: a plain lookup or tile URL (``Gridmap.front``)
