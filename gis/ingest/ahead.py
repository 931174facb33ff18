"""A file's next batch read while the caller works on this one.

GDAL reads and parses a batch (GDAL's Arrow stream, then the polygons from WKB) mostly
without Python's lock; the caller then reprojects it and makes its candidates.  One batch
read ahead in a thread keeps the machine's second core busy in that part of an upload (a
province's 1 000 000 grids: ten batches), for the memory of one batch more.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items`` in order, the next one taken (in a thread) while the caller has this one;
    an error taking one is raised where the caller asks for it.  Closed (by the caller, or
    when an upload fails), it waits for the batch being read and closes ``items`` — the file
    is let go before the upload's folder is."""
    thread = ThreadPoolExecutor(1, thread_name_prefix="gridmap-read-ahead")
    try:
        coming = thread.submit(next, items, _END)
        while (item := coming.result()) is not _END:
            coming = thread.submit(next, items, _END)
            yield item  # type: ignore[misc]
    finally:
        thread.shutdown(wait=True)
        if isinstance(items, Generator):
            items.close()
