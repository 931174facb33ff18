"""The app's own HTML pages (start page, API docs, error pages): Jinja2 templates in
``api/templates`` (autoescaped: user text is always escaped), their static files in
``api/static`` served at ``/static``."""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_URL = "/static"
FAVICON = f"{STATIC_URL}/favicon.svg"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(static=STATIC_URL, favicon=FAVICON)
