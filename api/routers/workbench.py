"""The GIS office's workbench (网格管理工作台): zh-CN pages for signed-in staff.

Each page is a template (``api/templates/workbench/``) rendered with :func:`context` and a
script (``api/static/workbench/``) that reads and writes through the JSON API — so every
action a page offers is an API call a script can make too.  A browser that is not signed in
is sent to ``/login`` and brought back; one whose role is too low gets the 403 page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SESSION_COOKIE, CallerDep
from api.pages import templates
from api.text import Code
from gis.access.auth import Principal, csrf_token
from gis.catalogue import LAYERS, REGION_LAYERS
from gis.division.divide import Targets
from gis.store.models import LEVELS, UPLOAD_KINDS
from gis.web.map_assets import asset_url
from gis.web.upload_page import PROBLEM_KINDS

router = APIRouter(prefix="/workbench", include_in_schema=False)

NAV = (
    ("start", "/workbench", "工作台", "viewer"),
    ("upload", "/workbench/upload", "上传边界", "viewer"),
    ("uploads", "/workbench/uploads", "上传记录", "viewer"),
    ("versions", "/workbench/versions", "版本与对比", "viewer"),
    ("roster", "/workbench/roster", "花名册", "viewer"),
    ("divide", "/workbench/divide", "网格划分", "viewer"),
    ("print", "/workbench/print", "打印地图", "viewer"),
    ("admin", "/workbench/admin", "用户与密钥", "admin"),
    ("audit", "/workbench/audit", "操作日志", "admin"),
)
"""The workbench's menu: page name, path, title, and the role the page needs (the menu
shows a caller the pages its role may open)."""
PAGE_ROLES = {name: role for name, _, _, role in NAV}
LEVEL_TITLES = {level: layer.short_title for level, layer in REGION_LAYERS.items()}
"""Each level's zh-CN title (网格, 社区/村 …), from the catalogue."""
FIELD_TITLES = {f.name: f.title for f in REGION_LAYERS["grid"].fields}
"""Each region field's zh-CN title (编码, 户数, 网格员 …), from the catalogue."""
KIND_TITLES = {kind: LAYERS[kind].title if kind in LAYERS else "边界" for kind in UPLOAD_KINDS}
"""Each kind of upload's zh-CN title (边界, 标准地址, 摄像机 …), from the catalogue."""


def context(request: Request, caller: Principal, page: str, **extra: Any) -> dict[str, Any]:
    """What every workbench template gets: the caller, the session's CSRF token (for
    ``gm.api``), the menu (the pages the caller's role may open), the map library's files,
    the hierarchy's levels and the zh-CN titles of levels, fields and problem kinds
    (base.html hands the last to ``gm.report``)."""
    session = request.cookies.get(SESSION_COOKIE)
    return {
        "caller": caller,
        "csrf": csrf_token(session) if session else "",
        "nav": [(name, href, title) for name, href, title, role in NAV if caller.allows(role)],
        "page": page,
        "levels": LEVELS,
        "level_titles": LEVEL_TITLES,
        "field_titles": FIELD_TITLES,
        "problem_kinds": PROBLEM_KINDS,
        "leaflet_js": asset_url("leaflet", "dist/leaflet.js"),
        "leaflet_css": asset_url("leaflet", "dist/leaflet.css"),
        **extra,
    }


def render(
    request: Request, caller: Principal | None, page: str, role: str | None = None, **extra: Any
) -> Response:
    """The page ``workbench/<page>.html`` for a caller with at least ``role`` (default: the
    menu's for the page, else viewer); a signed-out browser is sent to
    ``/login?next=<this page>`` (303), a lower role gets 403."""
    if caller is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    caller.require(role or PAGE_ROLES.get(page, "viewer"))
    response = templates.TemplateResponse(
        request, f"workbench/{page}.html", context(request, caller, page, **extra)
    )
    response.headers["Cache-Control"] = "no-store"  # a page holds the session's CSRF token
    return response


@router.get("", response_class=HTMLResponse)
def start(request: Request, caller: CallerDep) -> Response:
    """The start page: what the signed-in user may do, recent versions and uploads."""
    return render(request, caller, "start")


@router.get("/upload", response_class=HTMLResponse)
def upload(request: Request, caller: CallerDep) -> Response:
    """Drop a file, check it on a map, commit it (editors within their scope)."""
    return render(request, caller, "upload")


@router.get("/uploads", response_class=HTMLResponse)
def uploads(request: Request, caller: CallerDep) -> Response:
    """Every upload, newest first, page by page (GET /api/v1/uploads); a row opens its
    report on the upload page."""
    return render(request, caller, "uploads", kind_titles=KIND_TITLES)


@router.get("/versions", response_class=HTMLResponse)
def versions(request: Request, caller: CallerDep) -> Response:
    """The history of versions, page by page, and the diff map between any two."""
    return render(request, caller, "versions")


@router.get("/edit/{code}", response_class=HTMLResponse)
def edit(request: Request, caller: CallerDep, code: Code) -> Response:
    """Edit a region and its neighbours on a map: reshape, split, merge, attributes."""
    geoman = "@geoman-io/leaflet-geoman-free"
    return render(
        request,
        caller,
        "edit",
        role="editor",
        code=code,
        geoman_js=asset_url(geoman, "dist/leaflet-geoman.js"),
        geoman_css=asset_url(geoman, "dist/leaflet-geoman.css"),
    )


@router.get("/roster", response_class=HTMLResponse)
def roster(request: Request, caller: CallerDep) -> Response:
    """A region's grids (or another level) as an Excel roster: export, edit, import."""
    return render(request, caller, "roster")


@router.get("/divide", response_class=HTMLResponse)
def divide(request: Request, caller: CallerDep, region: Code | None = None) -> Response:
    """Draft a community's grids (POST /api/v1/analysis/divide) on a map with their figures;
    check and commit them as a boundary upload (editors)."""
    targets = Targets()
    defaults = {"target": targets.target, "low": targets.low, "high": targets.high}
    return render(request, caller, "divide", region=region or "", defaults=defaults)


@router.get("/print", response_class=HTMLResponse)
def print_map(request: Request, caller: CallerDep) -> Response:
    """Any map view to PNG or PDF (A4/A3, portrait/landscape) with title, legend, scale."""
    return render(request, caller, "print")


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, caller: CallerDep) -> Response:
    """Users and API keys (admins)."""
    return render(request, caller, "admin")


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, caller: CallerDep) -> Response:
    """The audit log, newest first, page by page, of one actor or since a time (admins;
    GET /api/v1/audit)."""
    return render(request, caller, "audit")
