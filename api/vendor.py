"""``/vendor``: the map assets of ``gis.web.map_assets`` (Leaflet, its plugins, MapLibre).

Their paths name the package version, so they never change: browsers may keep them a year.
Without the folder (not fetched yet) the app still starts, and ``/vendor/…`` answers 404.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

CACHE_CONTROL = "public, max-age=31536000, immutable"


class VendorFiles(StaticFiles):
    """Static files with a long ``Cache-Control``, and 404 rather than 500 when absent."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response

    async def check_config(self) -> None:
        if self.directory is not None and not os.path.exists(self.directory):
            return  # lookups find nothing: 404
        await super().check_config()
