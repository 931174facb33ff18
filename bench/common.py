"""Helpers shared by the benchmarks: what machine and code a run measured, and memory."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

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
