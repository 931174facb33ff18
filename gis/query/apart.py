"""Jobs in a process of their own: a large version's lookup index is built apart from the
worker that needs it (``gis.query.lookup.load_index``), so the worker does not keep the
build's memory, and the process never outlives that worker."""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

PARENT_CHECK_S = 0.5
"""How often a process apart checks that its parent still runs (:func:`exit_with`)."""

TRIM_EVERY_S = 5.0
"""How often :func:`lean_heap` hands the heap's free pages back to the system (each
``malloc_trim`` of a build's heap holds its allocations up to ~0.3 s)."""


def run_apart(job: Callable[..., None], *args: Any) -> None:
    """``job(*args)`` in a process of its own (spawned: none of this one's memory), which
    exits as soon as this process is gone: a build whose worker stopped (a server restart)
    would run on beside the next worker's build — two builds' memory — and, done, wait for
    work that never comes, holding what it freed."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=spawn, initializer=exit_with, initargs=(os.getpid(),)
    ) as apart:
        apart.submit(job, *args).result()


def exit_with(parent: int) -> None:
    """Exit this process (at once: no cleanup of a half-done job) once ``parent`` is no
    longer its parent, checked every :data:`PARENT_CHECK_S` seconds from a daemon thread."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="gridmap-parent-watch", daemon=True).start()


@contextmanager
def lean_heap(every: float = TRIM_EVERY_S) -> Iterator[None]:
    """Keep this process's memory near what it holds, for a job that allocates and frees
    gigabytes in pieces (an index build): the free pages left among live blocks go back to
    the system every ``every`` seconds (``malloc_trim``; glibc keeps freed blocks in the heap
    otherwise).  The generated province's build (1 000 000 grids) peaked at 4.7–4.8 GB with
    ~2 GB of it freed but kept (bench/results/issue16-lead16.md); trimmed, 3.8 GB.  Giving
    large blocks pages of their own as well (glibc's mmap threshold at 1 MiB) saved another
    ~200 MB but cost 6–10 s of a 50–60 s build (issue16-lead17.md, issue16-lead18.md): not
    done.  Without glibc, nothing changes."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "malloc_trim"):
        yield
        return
    done = threading.Event()

    def trim() -> None:
        while not done.wait(every):
            libc.malloc_trim(0)

    thread = threading.Thread(target=trim, name="gridmap-heap-trim", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        libc.malloc_trim(0)
