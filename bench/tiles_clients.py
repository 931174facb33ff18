"""How the tile benchmark asks for tiles and meters it: client threads (warm-ups, the SQL
floor) and wrk, the CPU each party spends per tile, and where the processes run (placements:
shared cores, or PostgreSQL pinned to its own)."""

from __future__ import annotations

import argparse
import gzip
import http.client
import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import wrk
from meters import descendants

# --------------------------------------------------------------------------- the client


@dataclass
class Pass:
    """One run over the tile list: tiles served, seconds, latency, errors, CPU per tile."""

    label: str
    tiles: int
    seconds: float
    p: dict[str, float]
    """Latency percentiles (ms), by ``%g`` of the percentile."""
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per tile, by who spent them (PostgreSQL, server, client)."""

    @property
    def rate(self) -> float:
        return self.tiles / self.seconds

    def pct(self, p: float) -> float:
        return self.p[f"{p:g}"]


def thread_pass(
    label: str,
    n: int,
    concurrency: int,
    make_worker: Callable[[], Callable[[int], bool]],
    seconds: float | None = None,
) -> Pass:
    """Requests over ``concurrency`` threads, each thread's worker doing request ``i``: the
    ``n`` requests once, or (``seconds`` given) round and round the ``n`` for that long."""
    latencies: list[float] = []
    errors = [0]
    counter = itertools.count()
    lock = threading.Lock()
    workers = [make_worker() for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)
    deadline = [math.inf]

    def loop(work: Callable[[int], bool]) -> None:
        barrier.wait()
        mine = []
        while True:
            with lock:
                i = next(counter)
            if (seconds is None and i >= n) or time.perf_counter() > deadline[0]:
                break
            t0 = time.perf_counter()
            if not work(i % n):
                with lock:
                    errors[0] += 1
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    if seconds is not None:
        deadline[0] = t0 + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    p = {f"{q:g}": float(np.percentile(latencies, q)) for q in wrk.PERCENTILES}
    run = Pass(label, len(latencies), elapsed, p, errors[0])
    print(
        f"{label}: {run.tiles} tiles in {run.seconds:.2f} s = {run.rate:.0f} tiles/s, "
        f"p50 {run.pct(50):.1f} ms, p99 {run.pct(99):.1f} ms, errors {run.errors}",
        flush=True,
    )
    return run


def http_worker(port: int, paths: list[str]) -> Callable[[], Callable[[int], bool]]:
    def make() -> Callable[[int], bool]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def work(i: int) -> bool:
            conn.request("GET", paths[i], headers={"Accept-Encoding": "gzip"})
            r = conn.getresponse()
            r.read()
            return r.status in (200, 204)

        return work

    return make


def http_tile(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        body = r.read()
        if r.status not in (200, 204):
            raise RuntimeError(f"{path}: HTTP {r.status} {body[:300]!r}")
        if r.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body
    finally:
        conn.close()


def wrk_pass(label: str, port: int, paths: list[str], args: argparse.Namespace) -> Pass:
    """wrk cycling through ``paths`` for ``args.duration`` s (each thread starts elsewhere)."""
    run = wrk.run_paths(
        label,
        f"http://127.0.0.1:{port}",
        paths,
        threads=2,
        connections=args.concurrency,
        duration=args.duration,
        timeout="30s",
        options=("-H", "Accept-Encoding: gzip"),
    )
    out = Pass(
        label,
        run.requests,
        run.requests / run.requests_per_s,
        {k: v / 1000 for k, v in run.latency_us.items()},
        run.failures,
    )
    print(
        f"{label} (wrk): {run.requests} tiles = {out.rate:.0f} tiles/s, p50 {out.pct(50):.1f} ms, "
        f"p99 {out.pct(99):.1f} ms, errors {out.errors}",
        flush=True,
    )
    return out


def metered(run: Callable[[], Pass], meters: dict[str, Callable[[], float]]) -> Pass:
    """``run()``, with the CPU each meter's processes spent on it, per tile."""
    before = {name: meter() for name, meter in meters.items()}
    out = run()
    out.cpu = {
        name: (meter() - before[name]) * 1000 / max(out.tiles, 1) for name, meter in meters.items()
    }
    print("  CPU ms/tile: " + ", ".join(f"{k} {v:.3f}" for k, v in out.cpu.items()), flush=True)
    return out


# --------------------------------------------------------------------------- the floor


def floor_worker(
    conninfo: str, sql: str, params: Callable[[int], dict], conns: list
) -> Callable[[], Callable[[int], bool]]:
    """One connection per thread; the statement run as gridmap runs it (psycopg's default
    preparing, results in binary)."""

    def make() -> Callable[[int], bool]:
        conn = psycopg.connect(conninfo, autocommit=True)
        conns.append(conn)

        def work(i: int) -> bool:
            conn.execute(sql, params(i), binary=True).fetchone()
            return True

        return work

    return make


# --------------------------------------------------------------------------- where it runs


def pin(pids: list[int], cpus: set[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.sched_setaffinity(pid, cpus)


@contextmanager
def placement(name: str, root: int | None) -> Iterator[str]:
    """``shared``: everything on every core.  ``split``: PostgreSQL (``root`` and below) on
    the first half of this process's cores, this process and what it starts (servers, wrk,
    the floor's threads) on the other half.  Yields a description."""
    every = os.sched_getaffinity(0)
    if name == "shared":
        yield f"PostgreSQL, servers and clients share all {len(every)} cores"
        return
    assert root is not None
    cpus = sorted(every)
    db, rest = set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])
    try:
        pin([root, *descendants(root)], db)  # new backends inherit the postmaster's
        os.sched_setaffinity(0, rest)
        yield (
            f"PostgreSQL pinned to core(s) {sorted(db)}; servers, wrk and the floor's client "
            f"to {sorted(rest)}"
        )
    finally:
        os.sched_setaffinity(0, every)
        pin([root, *descendants(root)], every)


def autogroup() -> str:
    """Whether the kernel schedules each session as a group (``kernel.sched_autogroup_enabled``):
    then the cluster, started in a session of its own, gets half the CPU when both are busy."""
    try:
        return (
            "on"
            if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
            else "off"
        )
    except OSError:
        return "unknown"


def can_pin(root: int | None) -> str | None:
    """Why the split placement cannot run here (None when it can)."""
    if root is None:
        return "the database does not run on this machine"
    if len(os.sched_getaffinity(0)) < 2:
        return "one core"
    try:
        os.sched_setaffinity(root, os.sched_getaffinity(root))
    except PermissionError:
        return "no permission to set PostgreSQL's CPU affinity (run as root or its owner)"
    return None
