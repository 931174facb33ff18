"""An upload's review data as GeoJSON, for the workbench's map (``api/static/workbench/report.js``).

The same selection as the Folium review page (``gis.web.upload_page``): the file's regions as
they would be stored, the stored regions the upload removes, and those of its level around
them as they stood before it.
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import shape
from sqlalchemy import Connection

from gis.ingest.history import get_upload
from gis.store.versions import current_version
from gis.web.page_data import stored_around
from gis.web.upload_page import PROBLEM_KINDS


def review_features(conn: Connection, upload_id: int) -> dict[str, Any]:
    """A FeatureCollection: the upload's regions (``properties.change``: added, modified,
    unchanged, or unknown when errors kept it from being worked out), the regions it removes
    (``removed``) and the stored ones around (``context``, but for those it leaves
    unchanged); ``problem_kinds`` names the report's problem kinds in Chinese, ``upload`` is
    the upload with its report (one request draws the whole review)."""
    upload = get_upload(conn, upload_id)
    report = upload["report"] or {}
    version = upload["version"] - 1 if upload["version"] else current_version(conn)
    drawn = [f for f in (upload.get("features") or {"features": []})["features"] if f["geometry"]]
    around = [shape(f["geometry"]) for f in drawn] or [
        shape(p["geometry"]) for p in report.get("problems", []) if p.get("geometry")
    ]  # the problems of a file lie in or beside its regions: needed only without them
    removed_codes = ((report.get("summary") or {}).get("changes") or {}).get("removed", [])
    context, removed = stored_around(conn, version, upload.get("level"), around, removed_codes)
    # a stored outline the file leaves unchanged is drawn once, as the file's
    hidden = set(removed_codes) | {
        f["properties"].get("code") for f in drawn if f["properties"].get("change") == "unchanged"
    }

    def stored(f: dict[str, Any], change: str) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": f["id"],
            "properties": {"code": f["id"], "name": f["properties"]["name"], "change": change},
            "geometry": f["geometry"],
        }

    own = [
        {
            **f,
            "properties": {**f["properties"], "change": f["properties"].get("change") or "unknown"},
        }
        for f in drawn
    ]
    return {
        "type": "FeatureCollection",
        "features": [
            *(stored(f, "context") for f in context if f["id"] not in hidden),
            *(stored(f, "removed") for f in removed),
            *own,
        ],
        "problem_kinds": PROBLEM_KINDS,
        "upload": {
            k: upload[k]
            for k in ("id", "created_at", "author", "filename", "level", "status", "version")
        }
        | {"report": report},
    }
