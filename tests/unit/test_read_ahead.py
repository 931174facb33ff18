"""A file's next batch read in a thread while the caller works on this one
(gis.ingest.ahead): the same batches in order, one ahead at most, errors where they belong,
the reader closed when the upload stops early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gis.ingest.ahead import read_ahead

pytestmark = pytest.mark.unit


def test_the_same_items_in_order_read_in_another_thread() -> None:
    readers: set[str] = set()

    def batches() -> Iterator[int]:
        for i in range(50):
            readers.add(threading.current_thread().name)
            yield i

    assert list(read_ahead(batches())) == list(range(50))
    assert readers and threading.current_thread().name not in readers
    assert list(read_ahead(iter([]))) == []


def test_one_batch_ahead_at_most() -> None:
    taken: list[int] = []

    def batches() -> Iterator[int]:
        for i in range(10):
            taken.append(i)
            yield i

    ahead = read_ahead(batches())
    for i in range(5):
        assert next(ahead) == i
        threading.Event().wait(0.01)  # time for the thread to run further, if it would
        assert len(taken) <= i + 2


def test_an_error_comes_where_its_batch_would() -> None:
    def batches() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("batch 3 is broken")

    ahead = read_ahead(batches())
    assert [next(ahead), next(ahead)] == [1, 2]
    with pytest.raises(ValueError, match="batch 3"):
        next(ahead)


def test_closing_early_waits_for_the_read_and_closes_the_reader() -> None:
    closed = threading.Event()
    reading = threading.Event()

    def batches() -> Iterator[int]:
        try:
            for i in range(100):
                reading.set()
                yield i
        finally:
            closed.set()

    ahead = read_ahead(batches())
    assert next(ahead) == 0
    reading.wait(5)
    ahead.close()
    assert closed.is_set()
    assert not any(t.name.startswith("gridmap-read-ahead") for t in threading.enumerate())
