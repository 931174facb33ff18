"""What an uploaded file holds, before anything is validated (the workbench's upload page).

:func:`inspect_upload` reads the file with the pipeline's own readers (same limits, same
errors) and says what was detected — format, layers, encoding and how sure, CRS (and, for
boundaries, the CRS doctor's suggestion when the coordinates do not fit what is stored), each
field with sample values, the proposed mapping of roles and the proposed level and parent —
so that a clerk can correct any of it before the dry run.  The answer of an upload with the
same choices is the pipeline's (``gis.ingest.pipeline``): this module decides nothing it does.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

import pyogrio
import shapely
from sqlalchemy import Engine

from gis.errors import InvalidInput
from gis.ingest.fields import as_code, map_fields
from gis.ingest.pipeline import UploadRequest, choose_crs, json_safe, reproject, save_upload
from gis.ingest.readers import Layer, open_upload, read_dataset
from gis.ingest.uploads import KINDS
from gis.ingest.validation import CODE_DIGITS
from gis.settings import Settings
from gis.store.models import LEVELS

SAMPLES = 3
"""Distinct sample values shown per field."""
SAMPLE_CHARS = 40
"""A sample value is cut to this many characters."""
MAX_PARENTS = 50
"""At most this many distinct parent codes are listed."""
CONFIDENCE = {
    "override": "given",
    "declared": "declared",
    "cpg": "declared",
    "ldid": "declared",
    "utf-8": "certain",
    "gb18030": "guessed",
}
"""How sure an encoding choice is, by where it came from (``gis.ingest.encoding.Source``):
given by the user, declared by the file and checked against its bytes, certain (the bytes are
strict UTF-8), or guessed (they decode as GB18030 — GBK files do)."""


def _read(path: Path, filename: str, workdir: Path, settings: Settings, **options: Any) -> Layer:
    return read_dataset(
        open_upload(
            path,
            filename,
            workdir,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_entries=settings.max_archive_entries,
            **options,
        )
    )


def _layers(dataset: Path) -> list[dict[str, Any]]:
    """Every layer of the dataset: name, geometry type and feature count."""
    found = []
    for name, geometry_type in pyogrio.list_layers(dataset):
        info = pyogrio.read_info(dataset, layer=str(name))
        found.append(
            {"name": str(name), "geometry_type": geometry_type, "features": info["features"]}
        )
    return found


def _samples(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        value = json_safe(value)
        if value is None or value == "":
            continue
        if isinstance(value, str) and len(value) > SAMPLE_CHARS:
            value = value[:SAMPLE_CHARS] + "…"
        if value not in seen:
            seen.append(value)
        if len(seen) == SAMPLES:
            break
    return seen


def _proposals(layer: Layer, roles: dict[str, str], level: str | None) -> dict[str, Any]:
    """The level the codes' lengths say (``CODE_DIGITS``, the most common length) and the
    parent: the one code of a parent field, else the one prefix of the codes at the level
    above (a parent field of names — 所属社区: 清泉里社区 — proposes none: the upload places
    each feature by its name)."""
    by_digits = {digits: name for name, digits in CODE_DIGITS.items()}
    codes = [c for c in map(as_code, layer.columns.get(roles.get("code", ""), [])) if c]
    lengths = Counter(len(c) for c in codes if c.isdigit())
    proposed = level or next(
        (by_digits[n] for n, _ in lengths.most_common() if n in by_digits), None
    )
    parents: list[str] = []
    if "parent_code" in roles:
        written = {c for c in map(as_code, layer.columns[roles["parent_code"]]) if c}
        parents = sorted(c for c in written if c.isdigit())
    if not parents and proposed in LEVELS[1:]:
        digits = CODE_DIGITS[LEVELS[LEVELS.index(proposed) - 1]]
        parents = sorted({c[:digits] for c in codes if len(c) == CODE_DIGITS[proposed]})
    return {
        "level": proposed,
        "parent": parents[0] if len(parents) == 1 else None,
        "parents": parents[:MAX_PARENTS],
    }


def _crs(
    engine: Engine, layer: Layer, request: UploadRequest, mapping: Any, kind: str
) -> dict[str, Any]:
    """The CRS as the pipeline would choose it, whether the coordinates land in lon/lat range
    (and their bounds then), and the doctor's finding (boundaries of a known level)."""
    try:
        spec, decided = chosen = choose_crs(layer, request)
    except InvalidInput as exc:
        if exc.code != "crs_required":
            raise
        return {"crs": None, "source": None, "reason": exc.message, "in_range": None}
    answer: dict[str, Any] = {**decided, "in_range": True, "bounds": None, "doctor": None}
    try:
        geometries, _ = reproject(layer, chosen)
        present = geometries[~shapely.is_missing(geometries)]
        answer["bounds"] = shapely.total_bounds(present).round(6).tolist() if len(present) else None
    except InvalidInput as exc:
        answer["in_range"] = False
        answer["reason"] = exc.message
    if kind == "boundaries" and request.level is not None:
        probe = InvalidInput("", code="coordinates_out_of_range", details={})
        KINDS[kind].explain(engine, probe, layer, mapping, request, spec)
        answer["doctor"] = probe.details.get("crs_doctor")
    answer["suggestion"] = (answer["doctor"] or {}).get("suggestion")
    return answer


def inspect_upload(
    engine: Engine,
    source: Path | BinaryIO,
    filename: str,
    settings: Settings,
    *,
    kind: str = "boundaries",
    level: str | None = None,
    parent: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
) -> dict[str, Any]:
    """What the file at ``source`` (or the bytes of an HTTP upload) holds, read as an upload of
    ``kind`` would read it; the optional choices (layer, encoding, CRS, level, parent) are
    applied as the upload applies them.  A file with several layers is read at its first
    unless ``layer`` names one.  Bad files raise the upload's errors."""
    with tempfile.TemporaryDirectory(prefix="gridmap-inspect-") as tmp:
        workdir = Path(tmp)
        if isinstance(source, Path):
            path = source
        else:
            path = workdir / "upload.bin"
            save_upload(source, path, settings.max_upload_bytes)
        options = {"encoding": encoding, "geometry": KINDS[kind].geometry}
        try:
            read = _read(path, filename, workdir / "read", settings, layer=layer, **options)
        except InvalidInput as exc:
            if exc.code != "layer_required":
                raise
            first = exc.details["layers"][0]
            read = _read(path, filename, workdir / "first", settings, layer=first, **options)
        folders = (workdir / d / "files" / read.source for d in ("read", "first"))
        layers = _layers(next(p for p in folders if p.exists()))
    synonyms = KINDS[kind].synonyms
    mapping = map_fields(read.fields, None, synonyms)
    proposed = _proposals(read, mapping.roles, level) if kind == "boundaries" else {}
    request = UploadRequest(
        filename=filename,
        level=proposed.get("level"),
        author="inspect",
        kind=kind,
        parent=parent or proposed.get("parent"),
        crs=crs,
        encoding=encoding,
        layer=read.layer,
    )
    role_of = {field: role for role, field in mapping.roles.items()}
    types = sorted(
        {
            shapely.GeometryType(t).name.title()
            for t in shapely.get_type_id(read.geometries[~shapely.is_missing(read.geometries)])
        }
    )
    return {
        "file": {"name": filename, "source": read.source, "format": read.driver},
        "kind": kind,
        "layers": layers,
        "layer": read.layer,
        "features": len(read),
        "geometry_types": types,
        "encoding": None
        if read.encoding is None
        else {
            "encoding": read.encoding.encoding,
            "source": read.encoding.source,
            "confidence": CONFIDENCE[read.encoding.source],
            "reason": read.encoding.reason,
        },
        "crs": _crs(engine, read, request, mapping, kind),
        "fields": [
            {"name": f, "role": role_of.get(f), "samples": _samples(read.columns[f])}
            for f in read.fields
        ],
        "mapping": mapping.roles,
        "roles": list(synonyms),
        **proposed,
    }
