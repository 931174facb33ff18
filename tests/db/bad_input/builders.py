"""A case of the bad-input catalogue, and the builders of its requests.

A builder returns the request part of a ``Case`` as keyword arguments, so a case reads
``Case(id, **builder(...), code=..., status=...)``; ``{**builder(...), "role": None}`` sends it
without a key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

NUL = "%00"
HUGE = "10000000000000000000"  # beyond int8
POINT = {"type": "Point", "coordinates": [118.3186, 40.1502]}
GRID = "130227001001001"
CENTRES = "/api/v1/centres"
CAMERAS = "/api/v1/cameras"
SITING = "/api/v1/analysis/siting"
INVALID = "invalid_parameter"
TEXT = ("invalid_text",)


@dataclass(frozen=True)
class Case:
    """One bad request and the refusal it must get."""

    id: str
    method: str
    url: str
    code: str | tuple[str, ...]
    status: int = 422
    role: str | None = None
    json: Any = None
    content: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None

    def send(self, client: TestClient, keys: dict[str, str]) -> Any:
        headers = dict(self.headers)
        if self.role:
            headers["Authorization"] = f"Bearer {keys[self.role]}"
        body: dict[str, Any] = {}
        if self.json is not None:
            body["json"] = self.json
        if self.content is not None:
            body["content"] = self.content
        if self.files is not None:
            body["files"] = self.files
        if self.data is not None:
            body["data"] = self.data
        return client.request(self.method, self.url, headers=headers, **body)


def feature(**properties: Any) -> dict[str, Any]:
    """A GeoJSON point feature (at POINT) with ``properties``."""
    return {"type": "Feature", "geometry": POINT, "properties": properties}


def geojson_batch(*features: Any) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def grid_file(name: str = "网格") -> bytes:
    """A GeoJSON file of one grid named ``name``."""
    ring = [[118.3, 40.1], [118.31, 40.1], [118.31, 40.11], [118.3, 40.1]]
    properties = {"code": GRID, "name": name, "parent_code": GRID[:12]}
    geometry = {"type": "Polygon", "coordinates": [ring]}
    grid = {"type": "Feature", "properties": properties, "geometry": geometry}
    return json.dumps({"type": "FeatureCollection", "features": [grid]}).encode()


GRID_FILE = grid_file()
"""A one-grid file: the form fields of an upload are checked before its contents."""


def write(url: str, body: Any, role: str | None = "editor", method: str = "POST") -> dict[str, Any]:
    """A JSON request with a key of ``role``."""
    return {"method": method, "url": url, "role": role, "json": body}


def siting(role: str | None = "viewer", **body: Any) -> dict[str, Any]:
    """A siting request: one new centre in the street of GRID, unless ``body`` says otherwise."""
    return write(SITING, {"region": GRID[:9], "k": 1, **body}, role)


def new_key(**body: Any) -> dict[str, Any]:
    """An admin's request for a viewer's key named ``k``, unless ``body`` says otherwise."""
    return write("/api/v1/keys", {"name": "k", "role": "viewer", **body}, "admin")


def raw(
    url: str, content: str | bytes, kind: str = "application/json", role: str | None = None
) -> dict[str, Any]:
    """A POST of ``content`` as written, of media type ``kind`` (JSON the encoder would not
    write: NaN, bytes that are not UTF-8 …)."""
    return {
        "method": "POST",
        "url": url,
        "role": role,
        "content": content,
        "headers": {"content-type": kind},
    }


def batch(body: Any, kind: str = "application/geo+json", url: str = "") -> dict[str, Any]:
    """A batch lookup of ``body`` (as written if text, else as JSON); ``url``: its query."""
    return raw(
        "/api/v1/lookup/batch" + url, body if isinstance(body, str) else json.dumps(body), kind
    )


def upload(filename: str = "grids.geojson", body: bytes = GRID_FILE, **form: str) -> dict[str, Any]:
    """An editor's upload (a dry run unless the form says otherwise)."""
    return {
        "method": "POST",
        "url": "/api/v1/uploads",
        "role": "editor",
        "files": {"file": (filename, body, "application/octet-stream")},
        "data": {"level": "grid", **form},
    }


def raw_upload(filename: bytes) -> dict[str, Any]:
    """An upload written by hand: a client library would escape a NUL in the file name."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="level"\r\n\r\ngrid\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/geo+json\r\n\r\n{}\r\n--b--\r\n"
    )
    return raw("/api/v1/uploads", body, "multipart/form-data; boundary=b", "editor")
