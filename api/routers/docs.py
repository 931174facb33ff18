"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), offline.

FastAPI's own pages load Swagger UI and ReDoc from CDNs; these load the copies fetched at build
time (``gis.map_assets``) from ``/vendor``, and no web fonts, so they work on an intranet
(ReDoc's one hard-wired image, Redocly's logo, is swapped for ours: api/static/redoc-offline.js).
``hoist_defs`` keeps ``/openapi.json`` resolvable for both.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from api.pages import FAVICON, templates
from gis.map_assets import asset_url

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
