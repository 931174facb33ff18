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

from gis.query.apart import PARENT_CHECK_S

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
            "import time; from gis.query.apart import run_apart; run_apart(time.sleep, 120)",
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


SCENARIO = """
import sys, time
import numpy as np
from gis.query.apart import lean_heap

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

def churn():
    np.ones(2 << 20)  # a 16 MB block freed: glibc's threshold for pages of their own rises
    pieces, pins = [], []
    for _ in range(1500):  # 900 MB in 600 KB blocks, a small live one after each
        pieces.append(np.ones(75_000))
        pins.append(np.ones(8))
    before = rss()
    del pieces
    time.sleep(1)
    return before - rss()

if sys.argv[1] == "lean":
    with lean_heap(every=0.2):
        print(churn())
else:
    print(churn())
"""


def test_a_lean_heap_gives_freed_blocks_back() -> None:
    """Inside ``lean_heap``, 900 MB freed in pieces among live ones go back to the system;
    without it (glibc's defaults, after a large block was freed) they stay."""
    given = {}
    for mode in ("lean", "plain"):
        done = subprocess.run(
            [sys.executable, "-c", SCENARIO, mode], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        given[mode] = int(done.stdout.split()[-1])
    assert given["lean"] > 800 * 2**20
    assert given["plain"] < 100 * 2**20
