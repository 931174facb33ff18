"""Writers of a streamed lookup answer (``gis.query.lookup_stream``), batch by batch, to any
binary file-like: CSV for Excel (UTF-8 with a BOM, or GB18030), NDJSON, Arrow IPC stream,
Parquet (a row group a batch).  Arrow and Parquet carry the version and CRS in the schema's
metadata too.  In a CSV, a region name starting with ``= + - @`` is written after a ``'`` so
Excel never takes it for a formula (as the roster does)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from gis.ingest.csvfiles import CsvEncoding
from gis.query.lookup_answers import DISTANCE_UNIT

MEDIA_TYPES = {
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}
"""The media type of each format (request bodies and answers)."""
FORMULA = r"^[=+\-@]"


class BatchWriter(Protocol):
    """Takes answer batches, then is closed."""

    def write_batch(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


def metadata(version: int | None) -> dict[str, str]:
    """What an Arrow or Parquet answer says of itself."""
    return {
        "gridmap.version": str(version),
        "gridmap.crs": "EPSG:4326",
        "gridmap.distance_unit": DISTANCE_UNIT,
    }


def _no_formulas(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if field.name.endswith(".name") and pa.types.is_string(field.type):
            risky = pc.fill_null(pc.match_substring_regex(column, FORMULA), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


class _Csv:
    def __init__(self, sink: BinaryIO, schema: pa.Schema, encoding: CsvEncoding) -> None:
        self.sink, self.schema, self.codec = sink, schema, encoding.codec
        self.header = True

    def write_batch(self, batch: pa.RecordBatch) -> None:
        buffer = io.BytesIO()
        options = pacsv.WriteOptions(include_header=self.header, quoting_style="needed")
        pacsv.write_csv(_no_formulas(batch), buffer, write_options=options)
        data = buffer.getvalue()
        if self.codec == "utf-8-sig":
            self.sink.write((b"\xef\xbb\xbf" if self.header else b"") + data)
        else:
            self.sink.write(data.decode("utf-8").encode(self.codec))
        self.header = False

    def close(self) -> None:
        if self.header:  # no batch: the header alone
            empty = [pa.array([], f.type) for f in self.schema]
            self.write_batch(pa.RecordBatch.from_arrays(empty, schema=self.schema))


class _Ndjson:
    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink

    def write_batch(self, batch: pa.RecordBatch) -> None:
        lines = (
            json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in batch.to_pylist()
        )
        text = "\n".join(lines)
        if text:
            self.sink.write((text + "\n").encode())

    def close(self) -> None:
        pass


class _Arrow:
    def __init__(self, sink: BinaryIO, schema: pa.Schema, version: int | None, kind: str) -> None:
        schema = schema.with_metadata(metadata(version))
        self.writer: Any = (
            ipc.new_stream(sink, schema) if kind == "arrow" else pq.ParquetWriter(sink, schema)
        )
        self.schema = schema

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def writer_for(
    kind: str, sink: BinaryIO, version: int | None, encoding: CsvEncoding
) -> Callable[[pa.Schema], BatchWriter]:
    """A function of the answer's schema making the writer of ``kind`` into ``sink``."""

    def make(schema: pa.Schema) -> BatchWriter:
        if kind == "csv":
            return _Csv(sink, schema, encoding)
        if kind == "ndjson":
            return _Ndjson(sink)
        return _Arrow(sink, schema, version, kind)

    return make
