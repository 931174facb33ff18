"""Long-running processes of a local topology: started in their own session, logged to a
file, stopped with SIGTERM and, past a grace period, SIGKILL (the whole process group —
not PostgreSQL under Patroni, which Patroni detaches: ``gis.ha.topology`` stops it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gis.errors import ClusterError


class Daemon:
    """One process: its command, log file and (when we are root) the user it runs as."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        *,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.user = user if os.geteuid() == 0 else None
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (its output appended to the log)."""
        argv = ["runuser", "-u", self.user, "--", *self.argv] if self.user else self.argv
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self._process is not None and self._process.poll() is None

    @property
    def state(self) -> str:
        """``running``, ``exited N`` or ``killed by SIGNAME`` (for diagnostics)."""
        code = None if self._process is None else self._process.poll()
        if self._process is None or code is None:
            return "running" if self._process else "not started"
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process's group (it and its children)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, sig)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s`` seconds; waits until the group is gone."""
        if self._process is None:
            return
        self.signal_group(signal.SIGTERM)
        try:
            self._process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self._process.wait()
        self.signal_group(signal.SIGKILL)  # children left behind by the leader
        self._process = None

    def tail(self, chars: int = 2000) -> str:
        """The end of the log (for error messages)."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


PACKAGES = {"etcd": "etcd-server", "patroni": "patroni", "haproxy": "haproxy"}
"""Each tool of the topology and the Debian package that carries it."""


def find_tool(name: str) -> str:
    """The path of ``etcd``, ``patroni`` or ``haproxy`` (``/usr/sbin`` is searched too: not
    every user has it on PATH); ClusterError naming the package when it is missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise ClusterError(
            f"{name} 未安装 ({name} is not installed): run `make bootstrap` "
            f"(Debian: apt-get install {PACKAGES[name]})"
        )
    return found


def http_get(url: str, timeout: float = 2.0) -> tuple[int | None, bytes]:
    """Status and body of a GET to ``url`` (None and nothing when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ValueError):
        return None, b""


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET to ``url`` (None when nothing answers)."""
    return http_get(url, timeout)[0]


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float, *, watch: Daemon) -> None:
    """Poll ``ready`` until it holds; ClusterError (with the daemon's log) after ``timeout_s``
    or when the daemon has died."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not watch.alive:
            raise ClusterError(f"{watch.name} exited while waiting for {what}:\n{watch.tail()}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{what}: not ready after {timeout_s:g} s:\n{watch.tail()}")
        time.sleep(0.2)
