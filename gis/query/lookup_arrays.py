"""The arrays of a lookup index (``gis.query.lookup_index``): each level's polygons as WKB
with offsets and a cell index over them, the grids' fields and the regions' code and name as
JSON with offsets, the parent links — made from rows in memory or read from PostGIS a level
at a time — and the tables that decode them on demand (:class:`Records`,
:class:`RegionTable`, :class:`Chains`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sqlalchemy import Connection

from gis.query.cell_shapes import WkbShapes, wkb_outlines
from gis.query.cells import CellIndex
from gis.query.lookup_answers import AREA_LEVELS, GRID_FIELDS
from gis.query.lookup_outer import outer_arrays
from gis.query.lookup_read import LevelRows, from_rows, read_level


def _blob(items: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Byte strings as one uint8 array and their offsets."""
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in items], out=offsets[1:])
    return np.frombuffer(b"".join(items), dtype=np.uint8), offsets


def _json(item: Any) -> bytes:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


class Records(Sequence[Any]):
    """JSON values kept encoded (``blob`` and ``offsets``), each decoded when asked for."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob, self.offsets = blob, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: Any) -> Any:
        return json.loads(self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes())

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))


class Chains(Sequence[dict[str, dict[str, str]]]):
    """Per item, the chain of its region (``of[i]``: an index into the regions above
    grids, or -1): that region and its ancestors, level → code and name.  Built once per
    region when first asked for and shared (a cycle of parent codes ends where it closes)."""

    def __init__(self, regions: RegionTable, of: np.ndarray) -> None:
        self.regions, self.of = regions, of

    def __len__(self) -> int:
        return len(self.of)

    def __getitem__(self, i: Any) -> dict[str, dict[str, str]]:
        return self.regions.chain(int(self.of[i]))


class RegionTable:
    """The regions above grids: level (index into ``AREA_LEVELS``), parent (or -1), and
    code and name (``records``), with their chains cached."""

    def __init__(self, level: np.ndarray, parent: np.ndarray, records: Records) -> None:
        self.level, self.parent, self.records = level, parent, records
        self._chains: dict[int, dict[str, dict[str, str]]] = {-1: {}}

    def chain(self, r: int) -> dict[str, dict[str, str]]:
        """Region ``r`` and its ancestors, level → code and name."""
        found = self._chains.get(r)
        if found is None:
            self._chains[r] = {}  # where a cycle of parent codes would come back
            code, name = self.records[r]
            up = self.chain(int(self.parent[r]))
            found = self._chains[r] = {
                **up,
                AREA_LEVELS[self.level[r]]: {"code": code, "name": name},
            }
        return found


def index_arrays(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The arrays of the index of ``rows`` held in memory (regions of every level in code
    order: the grid fields, ``level``, ``parent_code`` and ``wkb``)."""
    return level_arrays(lambda level: from_rows(rows, level))


def read_arrays(conn: Connection, version: int | None) -> dict[str, np.ndarray]:
    """The arrays of the index of the regions valid at ``version``, read a level at a time
    (``gis.query.lookup_read``: the builder's memory stays about the size of the index)."""
    return level_arrays(lambda level: read_level(conn, version, level))


def level_arrays(read: Callable[[str], LevelRows]) -> dict[str, np.ndarray]:
    """The index's arrays from each level's regions: the levels above grids first (their
    positions in code order are the regions' numbers), then the grids (``read`` from another
    thread: it must not share anything with the caller's thread meanwhile; their outer edges
    found in that thread while this one makes their cells)."""
    levels = {level: read(level) for level in AREA_LEVELS}
    area = sorted(
        (
            region
            for lv in levels.values()
            for region in zip(
                *(lv.column(f) for f in ("code", "name", "level", "parent_code")), strict=True
            )
        ),
        key=lambda region: region[0],
    )
    position = {code: i for i, (code, *_) in enumerate(area)}

    def numbers(codes: list[str | None]) -> np.ndarray:
        """Each code's region number (-1: none)."""
        return np.array([position.get(code, -1) for code in codes], dtype=np.int32)

    arrays = {
        "region.level": np.array([AREA_LEVELS.index(r[2]) for r in area], np.int8),
        "region.parent": numbers([r[3] for r in area]),
    }
    arrays["region.records"], arrays["region.offsets"] = _blob([_json(r[:2]) for r in area])
    del area

    def level_of(level: str, found: LevelRows) -> dict[str, np.ndarray]:
        made: dict[str, np.ndarray] = {}
        if level == "grid":
            made["grid.parent"] = numbers(found.column("parent_code"))
            n = len(GRID_FIELDS)  # the first of each row's fields (FIELDS)
            made["grid.records"], made["grid.offsets"] = _blob(
                [_json(dict(zip(GRID_FIELDS, row[:n], strict=True))) for row in found.rows]
            )
            b = found.bounds
            made["grid.bounds"] = np.array(
                [b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()]
                if len(b)
                else (0.0, 0.0, 0.0, 0.0)
            )
        made[f"{level}.wkb"], made[f"{level}.wkb_offsets"] = found.blob, found.offsets
        made[f"{level}.region"] = numbers(found.column("code"))
        # the fields are in the arrays now: not held through the cells (a province's
        # grids' are hundreds of MB at the build's peak)
        found.rows.clear()
        if len(found.bounds):  # polygons read from the blob (decoded only where GEOS decides)
            index = CellIndex(
                WkbShapes(found.blob, found.offsets),
                found.bounds,
                lambda: wkb_outlines(found.blob, found.offsets),
            )
            made |= {f"{level}.cells.{name}": array for name, array in index.arrays().items()}
        return made

    # the grids read (the server working) while the levels above are indexed, then their
    # outline matched (compiled, mostly without the GIL) while their cells are made
    with ThreadPoolExecutor(1, thread_name_prefix="gridmap-lookup-read") as helper:
        grids = helper.submit(read, "grid")
        above = {level: level_of(level, levels.pop(level)) for level in AREA_LEVELS}
        found = grids.result()
        outer = helper.submit(outer_arrays, found.blob, found.offsets)
        arrays |= level_of("grid", found)
        arrays |= outer.result()
    for level in AREA_LEVELS:
        arrays |= above.pop(level)
    return arrays
