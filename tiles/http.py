"""HTTP manners of tiles and TileJSON: gzip, strong ETags and 304, caching, 204.

- ``Content-Type: application/vnd.mapbox-vector-tile``; gzipped (``Content-Encoding: gzip``)
  when ``Accept-Encoding`` allows it; ``Vary: Accept-Encoding`` always.
- ETag: the hash of the tile's bytes (identical in every worker, unchanged across versions
  that do not touch the tile), ``"<hash>"`` plain and ``"<hash>-gzip"`` gzipped;
  ``If-None-Match`` naming either answers 304.
- ``Cache-Control``: ``public, max-age=<tile_max_age_s>`` for the current data; tiles and
  TileJSON of an ``as_of`` version never change: a year, ``immutable``.
- An empty tile is 204 No Content.

CORS headers (maps on other origins may use the tiles) are the app's: ``api.cors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from tiles.layers import MEDIA_TYPE
from tiles.service import TileAnswer

IMMUTABLE = "public, max-age=31536000, immutable"


def cache_control(immutable: bool, max_age: int) -> str:
    return IMMUTABLE if immutable else f"public, max-age={max_age}"


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when an ``Accept-Encoding`` header allows gzip (RFC 9110 §12.5.3, q-values)."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[coding.strip().lower()] = q
    for coding in ("gzip", "x-gzip"):
        if coding in weights:
            return weights[coding] > 0
    return weights.get("*", 0.0) > 0


def etag_matches(if_none_match: str | None, digest: str) -> bool:
    """True when ``If-None-Match`` names either representation of ``digest`` (weak
    comparison, as RFC 9110 §13.1.2 asks) or is ``*``."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag in (digest, f"{digest}-gzip"):
            return True
    return False


def tile_response(answer: TileAnswer, headers: Mapping[str, str], max_age: int) -> Response:
    """The HTTP answer for a tile, given the request's headers."""
    tile = answer.tile
    common = {
        "Cache-Control": cache_control(answer.immutable, max_age),
        "X-Tile-Cache": answer.cache,
    }
    if answer.layer.versioned and answer.version is not None:
        common["X-Boundary-Version"] = str(answer.version)
    if not tile.data:
        return Response(status_code=204, headers=common)
    gzipped = accepts_gzip(headers.get("accept-encoding"))
    etag = f'"{tile.etag}-gzip"' if gzipped else f'"{tile.etag}"'
    common |= {"ETag": etag, "Vary": "Accept-Encoding"}
    if etag_matches(headers.get("if-none-match"), tile.etag):
        return Response(status_code=304, headers=common)
    if gzipped:
        common["Content-Encoding"] = "gzip"
    body = tile.gzipped if gzipped else tile.data
    return Response(body, media_type=MEDIA_TYPE, headers=common)


def json_response(content: Any, *, immutable: bool, max_age: int) -> JSONResponse:
    """TileJSON or the catalogue, with caching headers."""
    return JSONResponse(content, headers={"Cache-Control": cache_control(immutable, max_age)})
