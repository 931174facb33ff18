"""``gridmap serve`` — the HTTP app (``api.app``) under uvicorn, the database prepared first."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import console
from gis.settings import get_settings
from gis.store.cluster import Cluster
from gis.store.db import make_engine, prepare

SERVE_MAX_CONNECTIONS = 1000
"""Open connections and tasks one worker accepts before answering 503."""


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
