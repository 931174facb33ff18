"""What every benchmark shares: the machine and code a run measured, its throw-away databases,
and how its figures are printed."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from gis.settings import Settings
from gis.store.cluster import Cluster
from gis.store.db import database_url, drop_database

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


def machine() -> dict[str, str]:
    """The machine notes every section opens with: cores, CPU model, Python."""
    return {"nproc": str(os.cpu_count()), "cpu": cpu_model(), "python": platform.python_version()}


def package_version(dist: str, missing: str = "not installed") -> str:
    """The installed version of the distribution ``dist``, or ``missing``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return missing


def phase_seconds(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    """Seconds per phase from a progress callback's marks (phase, ``perf_counter`` at its
    start): each phase lasts until the next one starts, the last until ``end``."""
    ends = [t for _, t in marks[1:]] + [end]
    return {step: t1 - t0 for (step, t0), t1 in zip(marks, ends, strict=True)}


def heading(title: str, command: str) -> list[str]:
    """A results section's first lines: its title, then the command that printed it."""
    return [f"## {title}", "", "```", command, "```", ""]


def load_average() -> str:
    """The machine's load averages (1, 5, 15 minutes), as each results section prints them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def publish(lines: list[str], results: Path | None) -> None:
    """Print a results section and, with ``results``, append it to that file."""
    out = "\n".join(lines) + "\n"
    print(out)
    if results:
        with results.open("a", encoding="utf-8") as f:
            f.write("\n" + out)


def spaced(n: float) -> str:
    """A count with thin thousands separators, as the results print them: 1 000 000."""
    return f"{n:,.0f}".replace(",", " ")


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


def drop_databases(urls: list[str]) -> None:
    """Drop the benchmark's databases, newest first; a failure is reported and the others
    are still dropped."""
    for url in reversed(urls):
        try:
            drop_database(url)
        except Exception as error:  # keep cleaning up the others
            print(f"could not drop {make_url(url).database}: {error}", file=sys.stderr)


def plan_nodes(plan: str) -> str:
    """An ``EXPLAIN`` plan as one line of its nodes, outermost first: "A ← B ← C"."""
    lines = plan.splitlines()
    nodes = [
        line.split("(cost")[0].replace("->", "").strip()
        for i, line in enumerate(lines)
        if i == 0 or "->" in line
    ]
    return " ← ".join(n for n in nodes if n)


def print_page_costs(http: list[tuple[str, str, float]]) -> None:
    """The markdown table of page requests (list, request, median ms), each list's rows as a
    ratio to its first row (page 1)."""
    print("| list | request | median ms | ratio to page 1 |\n|---|---|---:|---:|")
    first: dict[str, float] = {}
    for name, case, ms in http:
        first.setdefault(name, ms)
        print(f"| {name} | {case} | {ms:.1f} | {ms / first[name]:.2f}× |")


def print_index_effect(subject: str, migration: str, indexes: list[tuple]) -> None:
    """The markdown tables of queries timed without and with ``migration``'s indexes: rows of
    (name, ms without, ms with, plan without, plan with)."""
    print(f"\n| {subject} (SQL) | without {migration} ms | with ms | ratio |\n|---|---:|---:|---:|")
    for name, without, with_index, *_ in indexes:
        print(f"| {name} | {without:.1f} | {with_index:.1f} | {without / with_index:.1f}× |")
    print(f"\n| {subject} | plan without {migration} | plan with |\n|---|---|---|")
    for name, *_, without_plan, with_plan in indexes:
        print(f"| {name} | {without_plan} | {with_plan} |")
