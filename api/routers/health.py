"""Liveness and readiness of the service and its database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import EngineDep
from api.errors import DATABASE_DOWN, database_unavailable
from gis.store.versions import current_version

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service health")
def health(engine: EngineDep) -> dict[str, Any]:
    """``ok`` with the PostGIS version and current boundary version; 503 when the DB is down."""
    try:
        with engine.connect() as conn:
            postgis = conn.scalar(text("SELECT postgis_lib_version()"))
            version = current_version(conn)
    except DATABASE_DOWN as error:
        raise database_unavailable() from error
    return {"status": "ok", "database": "reachable", "postgis": postgis, "version": version}
