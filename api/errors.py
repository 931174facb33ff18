"""The one place where gridmap's error family becomes HTTP.

Every error body is ``{"code": …, "message": …, "details": …}`` with a stable code.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis.errors import (
    ClusterError,
    Conflict,
    Forbidden,
    GridmapError,
    InvalidInput,
    InvalidQuery,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unsupported,
)

log = logging.getLogger("gridmap.api")

STATUS_BY_ERROR: dict[type[GridmapError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Unsupported: 415,
    InvalidInput: 422,
    InvalidQuery: 400,
    Unavailable: 503,
    ClusterError: 503,
}

DATABASE_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
)
"""Driver and pool errors that mean the database cannot be reached right now."""


def status_for(error: GridmapError) -> int:
    """HTTP status of a gridmap error (its nearest mapped class; 400 otherwise)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def error_response(error: GridmapError) -> JSONResponse:
    """The JSON response for a gridmap error."""
    return JSONResponse(error.to_dict(), status_code=status_for(error))


def database_unavailable() -> Unavailable:
    """The error for an unreachable database."""
    return Unavailable(
        "数据库暂时无法连接，请稍后重试 (the database is unreachable; retry shortly)",
        code="database_unavailable",
    )


def invalid_parameters(problems: list[dict[str, str]]) -> InvalidInput:
    """422 ``invalid_parameter``: each problem names its ``parameter``, where it is (``in``:
    path, query, body …) and the ``problem``."""
    names = ", ".join(p["parameter"] for p in problems)
    return InvalidInput(
        f"请求参数无效: {names} (invalid request parameter)",
        code="invalid_parameter",
        details={"problems": problems},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map gridmap errors, validation errors, database outages and the rest to HTTP."""

    @app.exception_handler(GridmapError)
    async def _gridmap(_: Request, error: GridmapError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "parameter": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0],
                "in": e["loc"][0],
                "problem": e["msg"],
            }
            for e in error.errors()
        ]
        return error_response(invalid_parameters(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        body = GridmapError(str(error.detail), code=code).to_dict()
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    for exc_type in DATABASE_DOWN:

        @app.exception_handler(exc_type)
        async def _database_down(_: Request, error: Exception) -> JSONResponse:
            log.warning("database unavailable: %s", error)
            return error_response(database_unavailable())

    @app.exception_handler(Exception)
    async def _internal(_: Request, error: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=error)
        body = GridmapError("服务器内部错误 (internal server error)", code="internal_error")
        return JSONResponse(body.to_dict(), status_code=500)
