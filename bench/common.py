"""Helpers shared by the benchmarks: what machine and code a run measured, and memory."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from gis.settings import Settings
from gis.store.cluster import Cluster
from gis.store.db import database_url

ROOT = Path(__file__).resolve().parent.parent


def git_state(root: Path = ROOT) -> str:
    """The commit measured, and whether gridmap's code had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("log", "-1", "--format=%h")
    if not head:
        return f"{root} (not a git checkout)"
    dirty = git("status", "--porcelain", "--", "gis", "api", "tiles")
    return f"commit {head}" + (" with uncommitted changes in gis/api/tiles" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def vm_kib(key: str) -> int:
    """A memory figure of this process from /proc/self/status (e.g. VmRSS, VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def spaced(n: float) -> str:
    """A count with thin thousands separators, as the results print them: 1 000 000."""
    return f"{n:,.0f}".replace(",", " ")


def descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (e.g. uvicorn's workers, PostgreSQL's backends), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        out += children
        todo += children
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds of processes, with their reaped children's (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone: its time is in its parent's children's time
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick


def bench_database(settings: Settings, name: str) -> tuple[str, bool]:
    """The URL of a throw-away database ``bench_<name>_<pid>`` on gridmap's server (the
    embedded cluster started first if gridmap owns one), and whether this call started it."""
    started = settings.embedded and Cluster.from_settings(settings).start()
    url = make_url(database_url(settings)).set(database=f"bench_{name}_{os.getpid()}")
    return url.render_as_string(hide_password=False), bool(started)


def server_versions(url: str) -> str:
    """ "PostgreSQL x, PostGIS y" of the server at ``url``, for a benchmark's machine notes."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            pg = conn.scalar(text("SHOW server_version"))
            postgis = conn.scalar(text("SELECT postgis_lib_version()"))
    finally:
        engine.dispose()
    return f"PostgreSQL {pg}, PostGIS {postgis}"
