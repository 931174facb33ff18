"""What processes spend while a benchmark runs: CPU time and resident memory, from /proc."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- processes


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int:
    """The parent of ``pid`` (0 if it is gone)."""
    try:
        return int(_stat(pid)[1])
    except (OSError, IndexError, ValueError):
        return 0


def descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (e.g. uvicorn's workers, PostgreSQL's backends), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (ppid := parent_pid(int(entry.name))):
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        out += children
        todo += children
    return out


# --------------------------------------------------------------------------- CPU


def process_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone); with
    ``reaped_children``, those of its children that have exited instead (the postmaster's:
    backends that connected and disconnected)."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    first = 13 if reaped_children else 11  # utime stime, or cutime cstime
    return (int(fields[first]) + int(fields[first + 1])) / CLK_TCK


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds of processes, with their reaped children's (a process that
    is gone counts 0: its time is in its parent's children's time)."""
    return sum(process_cpu(p) + process_cpu(p, reaped_children=True) for p in pids)


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (e.g. wrk, once it has finished)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds of this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (from /proc/stat), in seconds."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / CLK_TCK


# --------------------------------------------------------------------------- memory


def vm_kib(key: str, pid: int | str = "self") -> int:
    """A memory figure of a process from /proc/<pid>/status (e.g. VmRSS, VmHWM), in KiB;
    0 once the process has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """Peak RSS (KiB) of this Python process inside the block, and its RSS before it.

    Resets the kernel's high-water mark (``/proc/self/clear_refs``) first; without that,
    falls back to ``getrusage`` (the peak since the process started). A child's peak is
    ``vm_kib("VmHWM", pid)`` sampled while it runs: its own ``ru_maxrss`` is useless, since
    a child forked from this process inherits this process's high-water mark.
    """
    out: dict[str, int] = {"before": vm_kib("VmRSS")}
    try:
        Path("/proc/self/clear_refs").write_text("5")
        exact = True
    except OSError:
        exact = False
    yield out
    out["peak"] = vm_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
