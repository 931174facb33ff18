"""A job run in a process of its own (the index build of a large version) does not outlive
the process that started it: a server stopped mid-build leaves no build running beside the
next one's, nor an idle process holding its memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gis.query.lookup import PARENT_CHECK_S

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` and that run multiprocessing's spawned main."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_job_apart_exits_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from gis.query.lookup import run_apart; run_apart(time.sleep, 120)",
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while not (apart := _children(parent.pid)):
            assert parent.poll() is None and time.monotonic() < deadline, "no process apart"
            time.sleep(0.1)
        (child,) = apart
        time.sleep(1)  # the job is running
        assert _alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10 * PARENT_CHECK_S + 2
        while _alive(child):
            assert time.monotonic() < deadline, "the job apart outlived its parent"
            time.sleep(0.1)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
