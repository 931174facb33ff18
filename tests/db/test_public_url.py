"""Absolute links come from GRIDMAP_PUBLIC_URL or the address the connection reached, never
from a Host header a client made up (issue 13): TileJSON and OGC answers are publicly
cacheable."""

from __future__ import annotations

import json
import urllib.request

from fastapi.testclient import TestClient

from api.app import create_app
from gis.settings import Settings

EVIL = {"Host": "evil.example"}


def _links(client: TestClient, headers: dict[str, str] | None = None) -> str:
    """Every absolute link of the TileJSON, the OGC landing page and a collection, as text."""
    answers = [
        client.get("/tiles/grids.json", headers=headers),
        client.get("/ogc", headers=headers),
        client.get("/ogc/collections/grids", headers=headers),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    return json.dumps([a.json() for a in answers])


def test_a_made_up_host_header_reaches_no_link(app_server: str) -> None:
    """Through a real server: the links name the address the connection reached."""
    for path in ("/tiles/grids.json", "/ogc", "/ogc/collections/grids"):
        request = urllib.request.Request(f"{app_server}{path}", headers=EVIL)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read().decode()
        assert "evil.example" not in body
        assert app_server in body, path


def test_links_use_the_public_url(db_url: str) -> None:
    public = "https://grid.example.gov.cn/gridmap"
    with TestClient(create_app(Settings(database_url=db_url, public_url=public))) as client:
        text = _links(client, EVIL)
        tiles = client.get("/tiles/grids.json").json()["tiles"][0]
        home = client.get("/", headers={"Accept": "text/html"}).text
    assert "evil.example" not in text and "testserver" not in text
    assert tiles.startswith(f"{public}/tiles/grids/"), tiles
    assert f"{public}/ogc/collections" in text
    assert "evil.example" not in home


def test_without_a_public_url_the_host_header_is_ignored(client: TestClient) -> None:
    assert "evil.example" not in _links(client, EVIL)
