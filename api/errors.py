"""The one place where gridmap's error family becomes HTTP.

Every error body is ``{"code": …, "message": …, "details": …}`` with a stable code. Browsers
get pages, programs get JSON: on a page route (one answering HTML, or no route at all) a
client whose ``Accept`` ranks text/html above JSON gets the same error as a zh-CN page
(api/templates/error.html: status, message and code, a link home); everyone else, and every
API route, gets the JSON body.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.pages import templates
from gis.errors import (
    ClusterError,
    Conflict,
    Forbidden,
    GridmapError,
    InvalidInput,
    InvalidQuery,
    NotFound,
    RateLimited,
    RenderTimedOut,
    TimedOut,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unsupported,
    UriTooLong,
)

log = logging.getLogger("gridmap.api")

STATUS_BY_ERROR: dict[type[GridmapError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    TimedOut: 408,
    Conflict: 409,
    TooLarge: 413,
    UriTooLong: 414,
    Unsupported: 415,
    InvalidInput: 422,
    InvalidQuery: 400,
    RateLimited: 429,
    Unavailable: 503,
    ClusterError: 503,
    RenderTimedOut: 504,
}

DATABASE_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
)
"""Driver and pool errors that mean the database cannot be reached right now."""


TITLES = {
    400: "请求无效",
    401: "需要 API 密钥",
    403: "无权访问",
    404: "未找到",
    405: "不支持此请求方法",
    408: "请求超时",
    409: "与现有数据冲突",
    413: "内容过大",
    414: "网址过长",
    415: "不支持的格式",
    422: "请求参数无效",
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务暂时不可用",
}
"""The error page's zh-CN heading by status (else "请求出错")."""

PHRASES = {status.value: status.phrase for status in HTTPStatus}


def status_for(error: GridmapError) -> int:
    """HTTP status of a gridmap error (its nearest mapped class; 400 otherwise)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def prefers_html(accept: str) -> bool:
    """True when an ``Accept`` header ranks text/html above application/json.

    Each type takes the q of the most specific range naming it (RFC 9110 §12.5.1); a tie
    (``*/*``, no header) goes to JSON, the API's own answer.
    """
    weights: dict[str, float] = {}
    for item in accept.lower().split(","):
        media, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            weights.setdefault(media, q)

    def quality(media_type: str) -> float:
        kind = media_type.split("/")[0] + "/*"
        return next((weights[m] for m in (media_type, kind, "*/*") if m in weights), 0.0)

    return quality("text/html") > quality("application/json")


def _is_page(request: Request) -> bool:
    """True on a route answering HTML (maps, start page, docs) and where no route matched."""
    route = request.scope.get("route")
    if route is None:
        return True
    response_class = getattr(route, "response_class", None)
    response_class = getattr(response_class, "value", response_class)  # FastAPI's default
    return isinstance(response_class, type) and issubclass(response_class, HTMLResponse)


def respond(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    """An error body as JSON, or as the zh-CN error page for a browser on a page route."""
    page = _is_page(request)
    if page and prefers_html(request.headers.get("accept", "")):
        context = {
            "status": status,
            "title": TITLES.get(status, "请求出错"),
            "phrase": PHRASES.get(status, ""),
            "error": body,
        }
        response: Response = templates.TemplateResponse(
            request, "error.html", context, status_code=status, headers=headers
        )
    else:
        response = JSONResponse(body, status_code=status, headers=headers)
    if page:
        response.headers.add_vary_header("Accept")
    return response


def error_response(request: Request, error: GridmapError) -> Response:
    """The response for a gridmap error (a 429 says when to retry: ``Retry-After``)."""
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return respond(request, status_for(error), error.to_dict(), headers)


def database_unavailable() -> Unavailable:
    """The error for an unreachable database."""
    return Unavailable(
        "数据库暂时无法连接，请稍后重试 (the database is unreachable; retry shortly)",
        code="database_unavailable",
    )


def invalid_parameters(problems: list[dict[str, str]], message: str | None = None) -> InvalidInput:
    """422 ``invalid_parameter``, the one way it is built: each problem names its
    ``parameter``, where it is (``in``: path, query, body …) and the ``problem``; the message
    says what to do, else names the parameters."""
    names = ", ".join(p["parameter"] for p in problems)
    return InvalidInput(
        message or f"请求参数无效: {names} (invalid request parameter)",
        code="invalid_parameter",
        details={"problems": problems},
    )


def invalid_parameter(parameter: str, problem: str, where: str = "query") -> InvalidInput:
    """422 ``invalid_parameter`` for one ``parameter``, the ``problem`` its message too."""
    return invalid_parameters([{"parameter": parameter, "in": where, "problem": problem}], problem)


def invalid_request(
    errors: Sequence[Any], where: str | None = None, message: str | None = None
) -> InvalidInput:
    """The error for pydantic's validation ``errors``: 422 ``invalid_text`` when a text holds
    a NUL (``api.text.no_nul``), else ``invalid_parameter`` with a problem for each.

    ``where``: the part of the request the errors' locations are in (``body`` for a body
    validated by hand); None when each location starts with it (FastAPI's own validation)."""
    problems = []
    for e in errors:
        loc = [str(part) for part in e["loc"]] if where is None else [where, *map(str, e["loc"])]
        problem = {"parameter": ".".join(loc[1:]) or loc[0], "in": loc[0], "problem": e["msg"]}
        if e["type"] == "invalid_text":
            return nul_text(problem["parameter"], problem["in"])
        problems.append(problem)
    return invalid_parameters(problems, message)


def nul_text(parameter: str, where: str) -> InvalidInput:
    """422 ``invalid_text``: ``parameter`` (in ``where``: path, query, body) holds a NUL."""
    return InvalidInput(
        f"{parameter} 含 NUL 字符 (\\0)，无法使用 ({parameter} holds a NUL character)",
        code="invalid_text",
        details={"parameter": parameter, "in": where},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map gridmap errors, validation errors, database outages and the rest to HTTP."""

    @app.exception_handler(GridmapError)
    async def _gridmap(request: Request, error: GridmapError) -> Response:
        return error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        return error_response(request, invalid_request(error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400:  # FastAPI: a body it cannot decode (not UTF-8 …)
            problem = {"parameter": "body", "in": "body", "problem": str(error.detail)}
            return error_response(request, invalid_parameters([problem]))
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        message = f"{TITLES.get(error.status_code, '请求出错')} ({error.detail})"
        body = GridmapError(message, code=code).to_dict()
        return respond(request, error.status_code, body, error.headers)

    @app.exception_handler(sa_exc.DataError)
    async def _bad_value(request: Request, error: sa_exc.DataError) -> Response:
        # SQLSTATE class 22 (or psycopg's own check): a value PostgreSQL cannot take — a NUL
        # character in text, a number beyond its column's range.  The transaction is rolled
        # back, so nothing was written; the value came from the request.
        log.warning("value refused by the database: %s", error.orig)
        if "NUL" in str(error.orig):  # psycopg refuses a NUL in text before sending it
            return error_response(request, nul_text("a text value", "request"))
        return error_response(
            request,
            InvalidInput(
                "请求中的值无效：文本含 NUL 字符，或数值超出范围 "
                "(a value of the request is unusable: text with a NUL character, or a number "
                "out of range)",
                code="invalid_value",
            ),
        )

    async def _database_down(request: Request, error: Exception) -> Response:
        log.warning("database unavailable: %s", error)
        return error_response(request, database_unavailable())

    for exc_type in DATABASE_DOWN:
        app.add_exception_handler(exc_type, _database_down)

    @app.exception_handler(Exception)
    async def _internal(request: Request, error: Exception) -> Response:
        log.exception("internal error", exc_info=error)
        body = GridmapError("服务器内部错误 (internal server error)", code="internal_error")
        return respond(request, 500, body.to_dict())
