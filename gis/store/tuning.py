"""PostgreSQL settings for the machine the embedded cluster runs on.

initdb's defaults (128 MB of shared buffers, 1 GB of WAL between checkpoints, JIT on) suit a
laptop running anything; gridmap's cluster serves one service and may hold a province
(1 000 000 grids, 10 000 000 addresses).  The settings follow the machine's memory and
cores, the usual rules of thumb, and a budget: PostgreSQL's own memory stays near a quarter
of the machine's, so the service (PostgreSQL + 2 workers) serving a province fits in 8 GB on
a 24 GB machine.

- ``shared_buffers`` an eighth of memory (128 MB – 4 GB): the hot part of a province's
  regions and indexes; the rest is the operating system's page cache
  (``effective_cache_size`` half of memory, which only informs the planner).
- ``work_mem`` 32 MB (sorts and hashes of one query step; a validation's neighbourhood is
  small), ``maintenance_work_mem`` a sixteenth of memory (64 MB – 1 GB: index builds after a
  bulk load).
- ``max_wal_size`` 4 GB: a province-sized upload checkpoints a few times instead of dozens.
- ``wal_compression = lz4``: full-page images in the WAL compressed by lz4, not ``on``'s
  pglz — pglz was a quarter of the server's CPU while 300 000 grids were COPYed into
  ``regions`` (each index page's first change after a checkpoint is logged whole); lz4 took
  20–38 % off that COPY (as little CPU as no compression, with less WAL to ship to a replica).
- ``jit = off``: JIT compiles a plan in ~50–200 ms, longer than any of gridmap's statements run.
- ``random_page_cost = 1.1``, ``effective_io_concurrency = 200``: SSDs.
- parallel workers: one per two cores for a query, all cores in all.

The values are written to ``gridmap-tuning.conf`` in the data directory at each start (so a
cluster follows a machine that grew) and included from ``postgresql.conf``.  An operator's
``ALTER SYSTEM`` overrides them (``postgresql.auto.conf`` is read last).
"""

from __future__ import annotations

import os

CONF_NAME = "gridmap-tuning.conf"
INCLUDE_LINE = f"include_if_exists = '{CONF_NAME}'"
MB = 1 << 20


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def settings_for(memory: int, cores: int) -> dict[str, str]:
    """The settings for a machine with ``memory`` bytes and ``cores`` cores."""
    cores = max(cores, 1)
    return {
        "shared_buffers": f"{_clamp(memory // 8, 128 * MB, 4096 * MB) // MB}MB",
        "effective_cache_size": f"{max(memory // 2, 256 * MB) // MB}MB",
        "work_mem": "32MB",
        "maintenance_work_mem": f"{_clamp(memory // 16, 64 * MB, 1024 * MB) // MB}MB",
        "max_wal_size": "4GB",
        "checkpoint_completion_target": "0.9",
        "wal_compression": "lz4",
        "jit": "off",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "max_worker_processes": str(max(cores, 8)),
        "max_parallel_workers": str(cores),
        "max_parallel_workers_per_gather": str(max(cores // 2, 1)),
        "max_parallel_maintenance_workers": str(max(cores // 2, 1)),
    }


def conf_text(memory: int, cores: int) -> str:
    """The file ``gridmap-tuning.conf`` for such a machine."""
    lines = [
        "# written by gridmap at each start of its embedded cluster (gis/store/tuning.py);",
        f"# machine: {memory // MB} MB, {cores} cores. Override with ALTER SYSTEM.",
    ]
    lines += [f"{key} = '{value}'" for key, value in settings_for(memory, cores).items()]
    return "\n".join(lines) + "\n"
