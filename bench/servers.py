"""The servers a benchmark loads: apps under uvicorn on a free port, and PostgreSQL's
processes (to meter their CPU or pin them to cores)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from meters import descendants
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of ``GET http://127.0.0.1:<port><path>``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class Server:
    """A running uvicorn and what it runs on."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def workers(self) -> list[int]:
        return descendants(self.proc.pid)

    def loaded(self) -> dict[str, bool]:
        """Whether the workers loaded uvloop and httptools (from their memory maps)."""
        maps = ""
        for pid in self.workers():
            with suppress(OSError):
                maps += Path(f"/proc/{pid}/maps").read_text()
        return {name: f"/{name}/" in maps for name in ("uvloop", "httptools")}


@contextmanager
def uvicorn_server(
    uvicorn: Path,
    app: list[str],
    *,
    workers: int,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    health: str,
    timeout: float = 60,
) -> Iterator[Server]:
    """``uvicorn`` serving ``app`` (its arguments) with ``workers`` workers on a free port, up
    once ``health`` answers 200; stopped on exit (SIGTERM, its supervisor stops the workers;
    then SIGKILL to all of them if that takes over 20 s)."""
    port = free_port()
    command = [
        str(uvicorn),
        *app,
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[1]} exited ({proc.returncode}):\n{log.read_text()}")
            with suppress(OSError):
                if http_get(port, health, timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy after {timeout:g} s:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in reversed(server.pids()):
                    with suppress(ProcessLookupError):
                        os.kill(pid, 9)
                proc.wait(timeout=10)


@contextmanager
def serve_gridmap(
    db_url: str, app_dir: Path, workers: int, extra: list[str], workdir: Path
) -> Iterator[Server]:
    """gridmap (``api.app:create_app`` of ``app_dir``) under uvicorn with ``workers`` workers
    on a free port, up once /health answers 200."""
    with uvicorn_server(
        Path(sys.executable).parent / "uvicorn",
        ["--factory", "api.app:create_app", "--app-dir", str(app_dir), *extra],
        workers=workers,
        env={**os.environ, "GRIDMAP_DATABASE_URL": db_url},
        cwd=app_dir,
        log=workdir / "uvicorn.log",
        health="/health",
    ) as server:
        yield server


@contextmanager
def serve_floor(workdir: Path, workers: int, extra: list[str]) -> Iterator[Server]:
    """The lookup's floor (``bench/lookup_floor.py``) under uvicorn with ``workers`` workers
    and gridmap's flags, answering ``workdir/floor.json`` (a real lookup answer) to every
    request."""
    with uvicorn_server(
        Path(sys.executable).parent / "uvicorn",
        ["--factory", "lookup_floor:create_app", "--app-dir", str(Path(__file__).parent), *extra],
        workers=workers,
        env={**os.environ, "FLOOR_BODY": str(workdir / "floor.json")},
        cwd=Path(__file__).parent.parent,
        log=workdir / "floor.log",
        health="/health",
    ) as server:
        yield server


# --------------------------------------------------------------------------- PostgreSQL


def backends(admin_url: str, dbname: str) -> list[int]:
    """The PIDs of the backends connected to database ``dbname`` (not this query's)."""
    engine = create_engine(admin_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(
                conn.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = :d "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"d": dbname},
                )
            )
    finally:
        engine.dispose()


def postmaster(conninfo: str) -> int | None:
    """The PID of the PostgreSQL serving ``conninfo`` if it runs on this machine (the parent
    of the connection's backend), else None."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            stat = Path(f"/proc/{backend}/stat").read_text()
        except OSError:
            return None
        if "(postgres)" not in stat:
            return None
        parent = int(stat.rsplit(")", 1)[1].split()[1])
    return parent if "(postgres)" in Path(f"/proc/{parent}/stat").read_text() else None
