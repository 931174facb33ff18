"""Millions of points placed in one pass, read and answered a batch at a time.

:func:`answer_stream` reads points from a binary file-like (CSV in UTF-8 or GB18030, Arrow IPC
stream, NDJSON, or Parquet), places each batch with one boundary index
(``gis.query.lookup_columns``) and writes the answer batch by batch (CSV, NDJSON, Arrow IPC
stream or Parquet): neither the whole input nor the whole answer is ever held — memory stays
about :data:`BLOCK_BYTES` of input and its answer (a Parquet body, whose index is at its end,
is spooled to a temporary file first).

Every answer row is the input row (a CSV's own columns, as text; an Arrow or Parquet input's
own types) followed by the chosen fields, ``version`` (the boundary version that answered
every row) and ``error``.  A row whose coordinates are not finite numbers or fall outside the
world once converted from ``crs`` keeps its place with ``error`` saying so and no fields, and
so does a CSV line without the header's number of columns or an NDJSON line that is no JSON
object (no values then).  What the reader cannot get past — bytes that are not the CSV's
encoding, a broken Arrow or Parquet record — ends the answer with one last row whose
``error`` says where: :class:`StreamBroken` carries it.  Rows are numbered as a clerk
counts them: a CSV's line numbers (the header is line 1), the first row of other formats is
row 1.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from gis.errors import InvalidInput
from gis.geo.crs import coords_to_wgs84, lon_lat_out_of_range, parse_crs
from gis.ingest.encoding import detect_text_encoding
from gis.ingest.fields import point_columns
from gis.query.lookup_columns import place
from gis.query.lookup_index import GridIndex

BLOCK_BYTES = 1 << 22
"""Input read per batch (4 MiB: ~60 000 CSV rows); a CSV row longer than this is refused."""
HEAD_BYTES = 1 << 16
"""Bytes read to find a CSV's header line (and its encoding)."""
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
"""A coordinate as text: a finite decimal number (not NaN, not inf, no thousands separator)."""


class StreamBroken(Exception):
    """The input broke after the answer had begun: ``row`` (or None) and what to say."""

    def __init__(self, error: InvalidInput, row: int | None) -> None:
        super().__init__(error.message)
        self.error, self.row = error, row


@dataclass
class Batches:
    """An input read batch by batch: its schema, the point columns and the batches, each with
    the number of its first row."""

    schema: pa.Schema
    lon: str
    lat: str
    batches: Iterator[tuple[int, pa.RecordBatch]]


class _Replay(io.RawIOBase):
    """``head`` and then the rest of ``rest``: a file-like for pyarrow after a peek."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _invalid(message: str, code: str = "invalid_csv", **details: Any) -> InvalidInput:
    return InvalidInput(message, code=code, details=details)


def _csv(infile: BinaryIO, encoding: str | None, lon: str | None, lat: str | None) -> Batches:
    head = infile.read(HEAD_BYTES)
    while b"\n" not in head and len(head) < BLOCK_BYTES:
        more = infile.read(HEAD_BYTES)
        if not more:
            break
        head += more
    if not head.strip():
        raise _invalid("请求体为空，应为带表头的 CSV (the body is empty: send a CSV with a header)")
    line = head.split(b"\n", 1)[0]
    codec = detect_text_encoding(line, encoding).encoding
    names = next(csv.reader([line.decode(codec).lstrip("\ufeff").rstrip("\r")]), [])
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        raise _invalid(
            "CSV 表头有空的或重复的列名 (the CSV header has an empty or repeated column name)",
            columns=names,
        )
    lon_col, lat_col = point_columns(names, lon, lat)
    skipped: list[tuple[int, str]] = []

    def invalid_row(row: Any) -> str:
        skipped.append((row.number, row.text))
        return "skip"

    try:
        reader = _open_csv(head, infile, names, codec, invalid_row)
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise _unreadable(error, head, codec) from error

    def batches() -> Iterator[tuple[int, pa.RecordBatch]]:
        first = 2
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, UnicodeDecodeError) as error:
                raise StreamBroken(_unreadable(error, b"", codec, first), first) from error
            if skipped:
                mine = _of_batch(skipped, first, batch.num_rows)
                batch = _with_broken_rows(batch, first, skipped[:mine], len(names))
                del skipped[:mine]
            yield first, batch
            first += batch.num_rows

    return Batches(reader.schema, lon_col, lat_col, batches())


def _open_csv(
    head: bytes, infile: BinaryIO, names: list[str], codec: str, invalid_row: Any
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        _Replay(head, infile),
        read_options=pacsv.ReadOptions(
            column_names=names,
            skip_rows=1,
            block_size=BLOCK_BYTES,
            encoding=codec,
            use_threads=False,  # one thread knows each row's line number
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=invalid_row),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False
        ),
    )


BROKEN = "__broken__"
"""A column of a CSV batch, when rows of it could not be parsed: their error, else null."""


def _unreadable(error: Exception, head: bytes, codec: str, after: int = 1) -> InvalidInput:
    """What to say of a CSV that cannot be decoded or parsed: its line when the bad bytes
    lie in ``head``, else the line after which they came."""
    line = None
    try:
        head.decode(codec)
    except UnicodeDecodeError as bad:
        if bad.start < len(head) - 4:  # not a character cut by the end of the head
            line = head[: bad.start].count(b"\n") + 1
    where = f"第 {line} 行" if line else f"第 {after} 行之后"
    return _invalid(
        f"{where}无法按 {codec} 解码或解析 (line {line or f'after {after}'} cannot be decoded "
        f"as {codec} or parsed: {error})"[:600],
        line=line or after,
        encoding=codec,
    )


def _of_batch(skipped: list[tuple[int, str]], first: int, rows: int) -> int:
    """How many of the skipped lines (in order) fall among a batch of ``rows`` parsed rows
    whose first line is ``first``."""
    mine = 0
    for line, _ in skipped:
        if line - first >= rows + mine + 1:
            break
        mine += 1
    return mine


def _with_broken_rows(
    batch: pa.RecordBatch, first: int, skipped: list[tuple[int, str]], width: int
) -> pa.RecordBatch:
    """``batch`` (its first row on line ``first``) with the rows the parser skipped back in
    their places: no values, and in :data:`BROKEN` what was wrong with them."""
    total = batch.num_rows + len(skipped)
    take = np.arange(total, dtype=np.int64)
    notes = np.full(total, None, dtype=object)
    places = []
    for line, text in skipped:
        at = line - first
        places.append(at)
        notes[at] = (
            f"invalid_row: 第 {line} 行应有 {width} 列，无法解析：{text[:100]!r} "
            f"(line {line} does not have the {width} columns of the header)"
        )
    taken = np.zeros(total, dtype=bool)
    taken[places] = True
    take[~taken] = np.arange(batch.num_rows)
    indices = pa.array(take, mask=taken)
    columns = [column.take(indices) for column in batch.columns]
    return pa.RecordBatch.from_arrays(
        [*columns, pa.array(notes, pa.string())], [*batch.schema.names, BROKEN]
    )


def _arrow(source: Any, lon: str | None, lat: str | None, kind: str) -> Batches:
    spool = None
    if kind == "arrow":
        reader = ipc.open_stream(source)
        schema, read = reader.schema, iter(reader)
    else:  # a Parquet file's footer is at its end: the body is spooled to disk first
        spool = tempfile.SpooledTemporaryFile(BLOCK_BYTES)  # noqa: SIM115 (closed by batches)
        shutil.copyfileobj(source, spool, BLOCK_BYTES)
        spool.seek(0)
        parquet = pq.ParquetFile(spool)
        schema, read = parquet.schema_arrow, parquet.iter_batches(batch_size=65_536)
    lon_col, lat_col = point_columns(schema.names, lon, lat)

    def batches() -> Iterator[tuple[int, pa.RecordBatch]]:
        first = 1
        try:
            for batch in read:
                yield first, batch
                first += batch.num_rows
        except (pa.ArrowInvalid, OSError) as error:
            raise StreamBroken(
                _invalid(
                    f"第 {first} 行之后的数据无法读取 (rows after {first} cannot be read: {error})",
                    code=f"invalid_{kind}",
                    row=first,
                ),
                first,
            ) from error
        finally:
            if spool is not None:
                spool.close()

    return Batches(schema, lon_col, lat_col, batches())


def _ndjson(infile: BinaryIO, lon: str | None, lat: str | None) -> Batches:
    """NDJSON: one object per line; its keys as text columns (those of the first line)."""
    lines = _lines(infile)
    first_line = next(lines, None)
    if first_line is None:
        raise _invalid("请求体为空 (the body is empty)", code="invalid_ndjson")
    names = list(_object(first_line, 1))
    lon_col, lat_col = point_columns(names, lon, lat)
    schema = pa.schema([(n, pa.string()) for n in names])

    def batches() -> Iterator[tuple[int, pa.RecordBatch]]:
        number, rows = 1, [first_line]
        for line in lines:
            rows.append(line)
            if len(rows) == 65_536:
                yield number, _rows(rows, names, number)
                number, rows = number + len(rows), []
        if rows:
            yield number, _rows(rows, names, number)

    return Batches(schema, lon_col, lat_col, batches())


def _lines(infile: BinaryIO) -> Iterator[bytes]:
    rest = b""
    while chunk := infile.read(BLOCK_BYTES):
        rest += chunk
        *done, rest = rest.split(b"\n")
        if len(rest) > BLOCK_BYTES:
            raise StreamBroken(
                _invalid("一行过长 (a line is too long)", code="invalid_ndjson"), None
            )
        yield from (d for d in done if d.strip())
    if rest.strip():
        yield rest


def _object(line: bytes, number: int) -> dict[str, Any]:
    try:
        found = json.loads(line)
        if isinstance(found, dict):
            return found
    except (ValueError, RecursionError):
        pass
    raise StreamBroken(
        _invalid(
            f"第 {number} 行不是 JSON 对象 (row {number} is no JSON object)", "invalid_ndjson"
        ),
        number,
    )


def _rows(lines: list[bytes], names: list[str], first: int) -> pa.RecordBatch:
    """NDJSON lines as text columns; a line that is no JSON object keeps its place with no
    values and its error in :data:`BROKEN`."""
    objects: list[dict[str, Any]] = []
    notes: list[str | None] = []
    for i, line in enumerate(lines):
        try:
            objects.append(_object(line, first + i))
            notes.append(None)
        except StreamBroken as broken:
            objects.append({})
            notes.append(f"{broken.error.code}: {broken.error.message}")
    columns = [[None if (v := o.get(n)) is None else str(v) for o in objects] for n in names]
    arrays = [pa.array(c, pa.string()) for c in columns]
    if any(notes):
        return pa.RecordBatch.from_arrays([*arrays, pa.array(notes, pa.string())], [*names, BROKEN])
    return pa.RecordBatch.from_arrays(arrays, names)


def read_points(
    infile: BinaryIO,
    kind: str,
    *,
    encoding: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
) -> Batches:
    """The input's schema and batches (``kind``: csv, ndjson, arrow or parquet); 422 for an
    input whose start is unusable (no header, no lon/lat columns, a bad encoding), before
    any answer."""
    try:
        if kind == "csv":
            return _csv(infile, encoding, lon, lat)
        if kind == "ndjson":
            return _ndjson(infile, lon, lat)
        return _arrow(infile, lon, lat, kind)
    except StreamBroken as broken:  # before any answer: refused as a whole
        raise broken.error from None
    except (pa.ArrowInvalid, OSError) as error:
        raise _invalid(
            f"不是有效的 {kind} 数据 (not a valid {kind} input: {error})"[:400], f"invalid_{kind}"
        ) from error


def _numbers(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A coordinate column as float64, NaN where it is no finite number (the plain cast
    first: a column of plain numbers, the common case, costs a tenth of the checked path;
    what it lets through that is no finite number — nan, inf, 1e999 — its caller drops)."""
    try:
        values = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return np.full(len(column), np.nan)
        good = pc.fill_null(pc.match_substring_regex(column, NUMBER), False)
        values = pc.cast(pc.if_else(good, pc.utf8_trim_whitespace(column), None), pa.float64())
    return pc.fill_null(values, np.nan).to_numpy(zero_copy_only=False).astype(float, copy=False)


def _answer(
    index: GridIndex, batch: pa.RecordBatch, points: Batches, crs: str, fields: tuple[str, ...]
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The fields of a batch's rows (null for rows whose point is invalid) and which rows'
    points are invalid."""
    x, y = _numbers(batch.column(points.lon)), _numbers(batch.column(points.lat))
    valid = np.isfinite(x) & np.isfinite(y)
    spec = parse_crs(crs)
    lon, lat = np.full(len(x), np.nan), np.full(len(x), np.nan)
    if valid.any():
        wx, wy = coords_to_wgs84(x[valid], y[valid], spec)
        lon[valid], lat[valid] = wx, wy
        valid &= np.isfinite(lon) & np.isfinite(lat)
        valid[valid] = ~lon_lat_out_of_range(lon[valid], lat[valid])
    placed = place(index, lon[valid], lat[valid], fields)
    if valid.all():
        return placed, ~valid
    at = np.full(len(x), -1, np.int64)
    at[valid] = np.arange(int(valid.sum()))
    spread = pa.array(at, mask=at < 0)
    return {name: column.take(spread) for name, column in placed.items()}, ~valid


def _errors(invalid: np.ndarray, first: int) -> pa.Array:
    if not invalid.any():
        return pa.nulls(len(invalid), pa.string())
    messages = np.full(len(invalid), None, dtype=object)
    for i in np.flatnonzero(invalid).tolist():
        messages[i] = (
            f"invalid_coordinates: 第 {first + i} 行的坐标不是有效数字或超出范围 "
            f"(row {first + i}: coordinates are not finite numbers in range)"
        )
    return pa.array(messages, pa.string())


def output_schema(points: Batches, fields: tuple[str, ...]) -> pa.Schema:
    """The answer's columns: the input's, the fields, ``version`` and ``error``."""
    types = {"covered": pa.bool_(), "distance_m": pa.float64()}
    taken = set(points.schema.names)
    added = [pa.field(f, types.get(f, pa.string())) for f in (*fields, "version", "error")]
    clash = [f.name for f in added if f.name in taken]
    if clash:
        raise _invalid(
            f"输入已有列 {', '.join(clash)}，与答案的列同名 (the input already has columns "
            f"{', '.join(clash)}; rename them)",
            code="column_clash",
            columns=clash,
        )
    return pa.schema([*points.schema, *added]).with_metadata(None)


def answer_stream(
    index: GridIndex,
    points: Batches,
    writer: Callable[[pa.Schema], Any],
    *,
    crs: str,
    fields: tuple[str, ...],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Place every batch of ``points`` with ``index`` and hand each answer batch to the
    writer (:func:`writer_for`'s) made for the output schema; the rows answered.  A broken
    input ends with a last row carrying the error (see the module docstring)."""
    schema = output_schema(points, fields)
    out = writer(schema)
    version = pa.scalar(index.version, pa.int64())
    rows = 0
    try:
        for first, batch in points.batches:
            broken = None
            if BROKEN in batch.schema.names:
                broken = batch.column(BROKEN)
                batch = batch.drop_columns([BROKEN])
            placed, invalid = _answer(index, batch, points, crs, fields)
            errors = _errors(invalid, first)
            columns = [
                *batch.columns,
                *(placed[f] for f in fields),
                pa.repeat(version, batch.num_rows),
                errors if broken is None else pc.coalesce(broken, errors),
            ]
            out.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
            rows += batch.num_rows
            if progress is not None:
                progress(rows)
    except StreamBroken as broken:
        error = broken.error
        last = {name: pa.nulls(1, schema.field(name).type) for name in schema.names}
        last["version"] = pa.array([index.version], pa.int64())
        last["error"] = pa.array([f"{error.code}: {error.message}"])
        out.write_batch(pa.RecordBatch.from_arrays(list(last.values()), schema=schema))
    out.close()
    return rows
