"""The HTTP stack's floor for a lookup: an ASGI app that does nothing but answer.

Every request gets the same lookup-sized JSON body (``FLOOR_BODY``: a file holding a real
answer of gridmap's, written by ``bench/lookup_http.py`` before the server starts) with the
headers a lookup answer has (content type and length).  Served by the same uvicorn, with the
same workers and flags as gridmap, it measures what the server, the event loop and the
client cost before any application code: the lookup's ceiling.

    uvicorn --factory lookup_floor:create_app --app-dir bench
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


def create_app() -> Callable[..., Awaitable[None]]:
    """The do-nothing app answering ``$FLOOR_BODY``'s bytes to every request."""
    body = Path(os.environ["FLOOR_BODY"]).read_bytes()
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    answer = {"type": "http.response.body", "body": body}

    async def app(
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send(start)
        await send(answer)

    return app
