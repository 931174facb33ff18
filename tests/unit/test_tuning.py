"""The embedded cluster's settings follow the machine (gis.store.tuning)."""

from __future__ import annotations

import pytest

from gis.store.tuning import MB, conf_text, settings_for

pytestmark = pytest.mark.unit

GB = 1024 * MB


@pytest.mark.parametrize(
    ("memory", "cores", "shared", "maintenance", "per_gather"),
    [
        (512 * MB, 1, "128MB", "64MB", "1"),  # a small VM: initdb's floor, not less
        (24 * GB, 2, "3072MB", "1024MB", "1"),  # this machine: an eighth, capped maintenance
        (256 * GB, 64, "4096MB", "1024MB", "32"),  # a big server: capped
    ],
)
def test_settings_follow_memory_and_cores(
    memory: int, cores: int, shared: str, maintenance: str, per_gather: str
) -> None:
    got = settings_for(memory, cores)
    assert got["shared_buffers"] == shared
    assert got["maintenance_work_mem"] == maintenance
    assert got["max_parallel_workers_per_gather"] == per_gather
    assert got["effective_cache_size"] == f"{max(memory // 2, 256 * MB) // MB}MB"
    assert got["jit"] == "off"
    assert got["wal_compression"] == "lz4"  # pglz cost a quarter of a bulk COPY's CPU


def test_conf_text_is_one_setting_a_line() -> None:
    lines = [line for line in conf_text(24 * GB, 2).splitlines() if not line.startswith("#")]
    assert len(lines) == len(settings_for(24 * GB, 2))
    assert "shared_buffers = '3072MB'" in lines
