"""An in-process LRU cache of tiles, bounded in bytes, that computes each missing entry once.

Keys name exactly the data a value was made from (layer, z, x, y and the boundary version or
the data stamp of the layer's table — see ``tiles.service``), so an entry is never stale: a
change makes new keys, and old entries simply age out.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds and how it was used."""

    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int


class TileCache(Generic[V]):
    """LRU of values whose size ``sizeof(value)`` is counted against ``max_bytes``.

    ``get_or_make(key, make)`` answers from the cache or awaits ``make()`` — once per key
    however many requests ask for it at the same time (they share the one result, or its
    error; errors are not cached).  A value larger than a quarter of the cache is returned but
    not kept.  ``max_bytes`` 0 keeps nothing.
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._pending: dict[Hashable, asyncio.Future[V]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """The cached value (now the most recently used), or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value``, evicting the least recently used entries to stay within bounds."""
        size = self._sizeof(value)
        if size * 4 > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    async def get_or_make(self, key: Hashable, make: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """The value of ``key`` and whether it was already there (cached, or being made for
        another request)."""
        found = self.get(key)
        if found is not None:
            self.hits += 1
            return found, True
        task = self._pending.get(key)
        shared = task is not None
        if task is None:
            self.misses += 1
            # a task of its own: a request that goes away does not cancel it for the others
            task = self._pending[key] = asyncio.ensure_future(make())
            task.add_done_callback(lambda done: self._settle(key, done))
        else:
            self.hits += 1
        return await asyncio.shield(task), shared

    def _settle(self, key: Hashable, task: asyncio.Future[V]) -> None:
        self._pending.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self.put(key, task.result())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                len(self._entries), self._bytes, self.max_bytes, self.hits, self.misses
            )
