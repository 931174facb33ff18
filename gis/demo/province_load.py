"""Loading a generated province (``gis.demo.province_files``) through the upload path.

Each file goes through :func:`gis.ingest.uploads.process_upload` — the pipeline every HTTP
upload takes, with its full validation — as a committed upload: counties, streets,
communities and grids (each level one new version), then the address registry, centres and
cameras.  Nothing is written behind it; a file the pipeline rejects stops the load with the
report's first problems.  Each commit analyses the table it filled
(``gis.store.statistics``): the next upload's checks are planned on fresh statistics.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from gis.demo.province_files import FILES, MANIFEST, Progress
from gis.errors import InvalidInput
from gis.ingest.pipeline import UploadRequest
from gis.ingest.uploads import process_upload
from gis.settings import Settings

AUTHOR = "gridmap demo province"
KINDS = {"addresses": "addresses", "centres": "centres", "cameras": "cameras"}
"""The point files' upload kinds (each also its table); the other files are boundaries of
their level (table ``regions``)."""


@dataclass(frozen=True)
class Loaded:
    """One file's upload: its status, the version it made (boundaries), its problems by
    kind (warnings) and how long it took."""

    layer: str
    status: str
    version: int | None
    problems: dict[str, int]
    seconds: float


def load_province(
    engine: Engine, directory: Path, settings: Settings, progress: Progress = print
) -> list[Loaded]:
    """Upload every file of the province in ``directory``, in order, as committed uploads."""
    if not (directory / MANIFEST).exists():
        raise InvalidInput(
            f"{directory} 中没有 {MANIFEST} (not a generated province: run gridmap demo province)",
            code="not_a_province",
        )
    loaded = []
    for layer, name in FILES.items():
        kind = KINDS.get(layer, "boundaries")
        request = UploadRequest(
            filename=name,
            level=None if layer in KINDS else layer,
            author=AUTHOR,
            kind=kind,
            dry_run=False,
        )
        started = time.perf_counter()
        result = process_upload(
            engine, directory / name, request, settings, lambda s, n=name: progress(f"{n}: {s}")
        )
        problems = result.report.get("problems", [])
        if result.status not in ("committed", "unchanged"):
            raise InvalidInput(
                f"省级演示数据 {name} 上传被拒绝 (the upload of {name} was {result.status})",
                code="province_rejected",
                details={"upload": result.id, "problems": problems[:10]},
            )
        loaded.append(
            Loaded(
                layer,
                result.status,
                result.version,
                dict(Counter(p["kind"] for p in problems)),
                time.perf_counter() - started,
            )
        )
        progress(f"{name}: {result.status} in {loaded[-1].seconds:.1f} s {loaded[-1].problems}")
    return loaded
