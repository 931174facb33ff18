"""Liveness and readiness of the service and its database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import EngineDep
from api.errors import DATABASE_DOWN, database_unavailable
from api.schemas import Health, Liveness
from gis.store.versions import current_version

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service health", response_model=Health)
def health(engine: EngineDep) -> JSONResponse:
    """``ok`` with the PostGIS version and current boundary version; 503 when the DB is down."""
    try:
        with engine.connect() as conn:
            postgis = conn.scalar(text("SELECT postgis_lib_version()"))
            version = current_version(conn)
    except DATABASE_DOWN as error:
        raise database_unavailable() from error
    return JSONResponse(
        {"status": "ok", "database": "reachable", "postgis": postgis, "version": version}
    )


@router.get("/health/live", summary="The process answers", response_model=Liveness)
async def live() -> Liveness:
    """``ok`` while this process serves requests, whatever the database's state: what a load
    balancer asks before sending a node traffic (a database outage is every node's, and each
    answers it with a clean 503 of its own).  ``async``: answered on the event loop, not
    queued behind reads whose worker threads wait on a database in a failover."""
    return Liveness(status="ok")
