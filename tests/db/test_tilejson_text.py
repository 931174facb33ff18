"""TileJSON texts say each thing once: the description does not repeat the layer's title."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tiles.layers import LAYERS


def test_tilejson_description_names_the_title_once(client: TestClient) -> None:
    for name, layer in LAYERS.items():
        tilejson = client.get(f"/tiles/{name}.json")
        assert tilejson.status_code == 200, (name, tilejson.text)
        description = tilejson.json()["description"]
        assert description.startswith(f"{layer.title}: "), (name, description)
        assert description.count(layer.title) == 1, (name, description)
