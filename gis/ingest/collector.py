"""Python's cyclic garbage collector while uploads run: the young generations only.

A province's upload holds millions of long-lived objects (features, candidates, the rows it
writes) that are not garbage.  CPython collects its oldest generation each time that grew by
a quarter, walking every tracked object: at 1 000 000 grids ~10 s of a ~95 s upload (4.8 s
of the commit alone), on the thread that feeds the database.  While any upload runs, the
oldest generation is left alone; the young ones are still collected (they hold few objects),
so short-lived cycles go as before, and what reached the oldest meanwhile is collected at its
next turn after the uploads.  The collector is the process's, so the uploads running are
counted: the last one to finish puts the threshold back.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NEVER = 2**31 - 1
"""The oldest generation's threshold while uploads run: no young collection reaches it."""


class _Uploads:
    """How many uploads run in this process, and the thresholds from before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.saved = gc.get_threshold()


_UPLOADS = _Uploads()


@contextmanager
def young_collections_only() -> Iterator[None]:
    """Within: no automatic collection of the oldest generation (see the module)."""
    with _UPLOADS.lock:
        if _UPLOADS.running == 0:
            _UPLOADS.saved = gc.get_threshold()
            gc.set_threshold(_UPLOADS.saved[0], _UPLOADS.saved[1], NEVER)
        _UPLOADS.running += 1
    try:
        yield
    finally:
        with _UPLOADS.lock:
            _UPLOADS.running -= 1
            if _UPLOADS.running == 0:
                gc.set_threshold(*_UPLOADS.saved)
