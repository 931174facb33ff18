"""While uploads run, Python's collector leaves the oldest generation alone
(gis.ingest.collector); the last upload to finish puts it back."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from gis.ingest.collector import NEVER, young_collections_only

pytestmark = pytest.mark.unit


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations collected automatically while the test runs."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()
    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


def _make_long_lived(count: int) -> list[object]:
    """Many tracked objects that stay alive (a province's features), and some garbage."""
    kept: list[object] = []
    for i in range(count):
        kept.append([str(i)])  # a list stays tracked (a dict of strings would not)
        if i % 10 == 0:
            _Node()
    return kept


def test_no_full_collection_while_an_upload_runs(collections: list[int]) -> None:
    before = gc.get_threshold()
    # CPython walks the oldest generation only once it grew by a quarter: make more than that
    # (the test process may already hold millions of objects)
    count = max(300_000, len(gc.get_objects(generation=2)) // 2)
    with young_collections_only():
        assert gc.get_threshold() == (before[0], before[1], NEVER)
        kept = _make_long_lived(count)
        assert 0 in collections  # young cycles still go
        assert 2 not in collections
    assert gc.get_threshold() == before
    collections.clear()
    more = _make_long_lived(count)  # the same work outside: the oldest is walked again
    assert 2 in collections
    del kept, more


def test_the_last_upload_to_finish_puts_the_threshold_back() -> None:
    before = gc.get_threshold()
    first_in, second_in, first_may_leave = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with young_collections_only():
            first_in.set()
            first_may_leave.wait(10)
        seen["after first"] = gc.get_threshold()
        second_in.set()

    thread = threading.Thread(target=first)
    with young_collections_only():
        thread.start()
        assert first_in.wait(10)
        first_may_leave.set()
        assert second_in.wait(10)
        assert gc.get_threshold()[2] == NEVER  # this one still runs
    thread.join(10)
    assert seen["after first"][2] == NEVER
    assert gc.get_threshold() == before


def test_an_upload_that_fails_puts_the_threshold_back() -> None:
    before = gc.get_threshold()
    with pytest.raises(ValueError), young_collections_only():
        raise ValueError("a bad file")
    assert gc.get_threshold() == before
