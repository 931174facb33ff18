"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), offline.

FastAPI's own pages load Swagger UI and ReDoc from CDNs; these load the copies fetched at build
time (``gis.web.map_assets``) from ``/vendor``, and no web fonts, so they work on an intranet
(ReDoc's one hard-wired image, Redocly's logo, is swapped for ours: api/static/redoc-offline.js).
``hoist_defs`` keeps ``/openapi.json`` resolvable for both; ``declare_errors`` makes it say
every status an operation answers, each error with the one ``Error`` schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from api.deps import get_caller, get_throttle
from api.errors import PHRASES
from api.pages import FAVICON, templates
from gis.web.map_assets import asset_url

router = APIRouter(include_in_schema=False)

OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _openapi_url(request: Request) -> str:
    root_path = request.scope.get("root_path", "").rstrip("/")
    return root_path + (request.app.openapi_url or "/openapi.json")


def _nonced(request: Request, page: HTMLResponse) -> HTMLResponse:
    """One of FastAPI's pages with the Content-Security-Policy nonce on its inline scripts
    (FastAPI writes them; no user text is in these pages)."""
    nonce = request.state.csp_nonce
    html = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, status_code=page.status_code)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every operation, tried out in the browser."""
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} API 文档 (Swagger UI)",
        swagger_js_url=asset_url("swagger-ui-dist", "swagger-ui-bundle.js"),
        swagger_css_url=asset_url("swagger-ui-dist", "swagger-ui.css"),
        swagger_favicon_url=FAVICON,
        oauth2_redirect_url=OAUTH2_REDIRECT,
    )
    return _nonced(request, page)


@router.get(OAUTH2_REDIRECT, response_class=HTMLResponse)
def swagger_ui_redirect(request: Request) -> HTMLResponse:
    """Where Swagger UI's OAuth2 flow returns (no external assets)."""
    return _nonced(request, get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the API reference as one readable page (api/templates/redoc.html)."""
    context = {
        "title": f"{request.app.title} API 参考 (ReDoc)",
        "openapi_url": _openapi_url(request),
        "redoc_js": asset_url("redoc", "bundles/redoc.standalone.js"),
    }
    return templates.TemplateResponse(request, "redoc.html", context)


def _hoist(node: Any, schemas: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for name, schema in node.pop("$defs", {}).items():
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"two different OpenAPI schemas are named {name}")
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
        for value in node.values():
            _hoist(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _hoist(value, schemas)


def hoist_defs(app: FastAPI) -> None:
    """Move the ``$defs`` of schemas embedded by hand (``openapi_extra``: a model's
    ``model_json_schema()``) into ``components/schemas``.

    Their ``#/$defs/…`` references resolve against the whole OpenAPI document, whose root has
    no ``$defs``: ReDoc stops with "Invalid reference token", Swagger UI shows resolver errors.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # cached by FastAPI: hoisted once, then found with no $defs
        _hoist(document, document.setdefault("components", {}).setdefault("schemas", {}))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["code", "message", "details"],
    "properties": {
        "code": {
            "type": "string",
            "description": "Stable, machine-readable",
            "examples": ["invalid_parameter"],
        },
        "message": {"type": "string", "description": "中文 (English)"},
        "details": {"description": "What the code needs: the parameter, the limit …"},
    },
}
"""The body of every error gridmap answers (``gis.errors.GridmapError.to_dict``)."""

ERROR_DESCRIPTIONS = {
    400: "A bad query parameter (OGC API Features) or tile address",
    401: "No valid API key (auth_required, invalid_api_key, api_key_expired …)",
    403: "The caller's role or region scope may not do this (insufficient_role, out_of_scope)",
    404: "No such region, version, feature, upload or key",
    408: "The body stalled or came too slowly (body_timeout)",
    409: "Clashes with what is stored",
    413: "Too large: the body, the batch or the problem; the limit is in details",
    414: "The URL is longer than 8 KB (uri_too_long)",
    415: "A body or file format gridmap cannot read",
    422: "A bad parameter or body (invalid_parameter, invalid_text …)",
    429: "Too many requests: Retry-After says when (rate_limited, too_many_concurrent)",
    503: "The database is unreachable for now (database_unavailable)",
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def statuses(route: RouteContext) -> set[int]:
    """The error statuses ``route`` can answer besides those it declares itself: 414, 422
    (a NUL or bad value anywhere in the URL) and 503 everywhere; 401 where a key is read;
    403 where a role is required; 404 with a path parameter or a version/region to find;
    408 and 413 for a body; 429 where a throttle applies."""
    found = {414, 422, 503}
    calls = list(_calls(route.dependant))
    names = {p.alias for p in route.dependant.query_params}
    if get_caller in calls:
        found.add(401)
    if any(getattr(c, "__qualname__", "").startswith("require.") for c in calls):
        found.add(403)
    if route.dependant.path_params or "{" in route.path or names & {"as_of", "region", "parent"}:
        found.add(404)
    if route.methods & {"POST", "PUT", "PATCH"}:
        found |= {408, 413}
    if get_throttle in calls:
        found.add(429)
    return found


def declare_errors(app: FastAPI) -> None:
    """Make ``/openapi.json`` truthful about errors: each operation lists every error status
    it answers (:func:`statuses` and its own ``responses``), all with the ``Error`` schema,
    in place of FastAPI's validation error, which gridmap never answers."""
    generate = app.openapi
    routes = {
        (method.lower(), route.path): route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        for method in route.methods
    }

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "Error" in schemas:  # FastAPI caches the document: already done
            return document
        schemas["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                route = routes.get((method, path))
                responses = operation.setdefault("responses", {})
                extra = statuses(route) if route else {414, 422, 503}
                for status in extra | {int(s) for s in responses if s[0] in "45"}:
                    given = responses.get(str(status), {})
                    description = ERROR_DESCRIPTIONS.get(status, PHRASES.get(status, "Error"))
                    if given.get("description", "").startswith("Validation Error"):
                        given = {}
                    responses[str(status)] = {
                        "description": given.get("description") or description,
                        "content": error,
                    }
        return document

    app.openapi = openapi  # type: ignore[method-assign]
