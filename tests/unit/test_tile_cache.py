"""The tile cache itself (tiles.cache.TileCache): bounded in bytes, least recently used out,
each entry made once however many ask for it at the same time."""

from __future__ import annotations

import asyncio

from tiles.cache import TileCache


def test_cache_is_bounded_and_makes_each_entry_once() -> None:
    cache: TileCache[bytes] = TileCache(1000, len)
    for i in range(10):
        cache.put(i, bytes(200))
    stats = cache.stats()
    assert stats.bytes <= 1000 and stats.entries == 5
    assert cache.get(0) is None and cache.get(9) == bytes(200)
    cache.get(5)
    cache.put("new", bytes(200))
    assert cache.get(5) is not None and cache.get(6) is None  # least recently used goes
    cache.put("huge", bytes(600))
    assert cache.get("huge") is None

    calls = []

    async def make() -> bytes:
        calls.append(1)
        await asyncio.sleep(0.05)
        return b"tile"

    async def many() -> list[tuple[bytes, bool]]:
        return await asyncio.gather(*(cache.get_or_make("k", make) for _ in range(20)))

    results = asyncio.run(many())
    assert len(calls) == 1
    assert [r for r, _ in results] == [b"tile"] * 20
    assert sum(not shared for _, shared in results) == 1
