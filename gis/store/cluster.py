"""The embedded PostgreSQL+PostGIS cluster that gridmap starts and owns.

PostgreSQL refuses to run as root, so when we are root every server command runs as
the ``postgres`` user, and the data directory is put where that user can reach it:
under ``<home>/cluster`` when every directory above it is traversable by ``postgres``,
otherwise under ``/var/lib/gridmap/<hash of home>`` (a checkout under ``/root``, or a
CI clone anywhere).  The server listens on 127.0.0.1 only, with no Unix socket, and
authenticates with a generated password kept in ``<home>/db-password`` (mode 600).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from gis.errors import ClusterError
from gis.settings import Settings
from gis.store import tuning

SUPERUSER = "gridmap"
SYSTEM_ROOT = Path("/var/lib/gridmap")
SERVICE_USER = "postgres"


def _is_root() -> bool:
    return os.geteuid() == 0


def find_bindir(preferred: Path | None = None) -> Path:
    """Directory of the PostgreSQL server binaries whose version has PostGIS installed."""
    if preferred is not None:
        if not (preferred / "initdb").exists():
            raise ClusterError(f"no initdb in GRIDMAP_PG_BINDIR={preferred}")
        return preferred
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    for initdb in candidates:
        version = initdb.parent.parent.name
        if Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
            return initdb.parent
    raise ClusterError(
        "PostgreSQL with PostGIS is not installed: run `make bootstrap` "
        "(Debian: apt-get install postgresql-15-postgis-3) or set GRIDMAP_DATABASE_URL."
    )


def _reachable_by_service_user(path: Path) -> bool:
    """Whether the ``postgres`` user can traverse every directory down to ``path``."""
    result = subprocess.run(
        ["runuser", "-u", SERVICE_USER, "--", "test", "-x", str(path)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def service_dir(local: Path, key: str) -> Path:
    """A directory owned by ``postgres`` for a server's data (we are root): ``local`` when
    ``postgres`` can traverse every directory down to it, else ``/var/lib/gridmap/<hash of
    key>`` (a checkout under ``/root``, or a CI clone anywhere)."""
    local.mkdir(parents=True, exist_ok=True)
    shutil.chown(local, SERVICE_USER, SERVICE_USER)
    if _reachable_by_service_user(local):
        return local
    chosen = SYSTEM_ROOT / hashlib.sha1(key.encode()).hexdigest()[:12]
    SYSTEM_ROOT.mkdir(parents=True, exist_ok=True)
    chosen.mkdir(exist_ok=True)
    shutil.chown(chosen, SERVICE_USER, SERVICE_USER)
    local.rmdir()
    return chosen


@dataclass(frozen=True)
class Cluster:
    """One embedded cluster: where it lives, how to reach it, and how to run it."""

    home: Path
    port: int
    dbname: str
    bindir_hint: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Cluster:
        """The cluster configured by ``settings`` (which must be in embedded mode)."""
        return cls(
            home=settings.home.resolve(),
            port=settings.db_port,
            dbname=settings.db_name,
            bindir_hint=settings.pg_bindir,
        )

    # --- places -----------------------------------------------------------------------
    @property
    def root(self) -> Path:
        """Directory holding ``pgdata/`` and ``server.log``."""
        local = self.home / "cluster"
        if not _is_root():
            return local
        pointer = self.home / "cluster-location"
        if pointer.exists():
            return Path(pointer.read_text().strip())
        return local

    @property
    def data_dir(self) -> Path:
        """The PostgreSQL data directory (PGDATA)."""
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        """The server log."""
        return self.root / "server.log"

    @property
    def password_file(self) -> Path:
        """File holding the superuser's generated password."""
        return self.home / "db-password"

    def url(self, dbname: str | None = None) -> str:
        """SQLAlchemy URL (psycopg 3) of a database in this cluster."""
        password = self.password_file.read_text().strip() if self.password_file.exists() else None
        return URL.create(
            "postgresql+psycopg",
            username=SUPERUSER,
            password=password,
            host="127.0.0.1",
            port=self.port,
            database=dbname or self.dbname,
        ).render_as_string(hide_password=False)

    # --- commands ---------------------------------------------------------------------
    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        bindir = find_bindir(self.bindir_hint)
        cmd = [str(bindir / args[0]), *args[1:]]
        if _is_root():
            cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise ClusterError(
                f"{args[0]} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        return result

    def _choose_root(self) -> Path:
        """Pick (when root) and remember where the cluster lives."""
        self.home.mkdir(parents=True, exist_ok=True)
        if not _is_root():
            return self.root
        chosen = service_dir(self.home / "cluster", str(self.home))
        (self.home / "cluster-location").write_text(f"{chosen}\n")
        return chosen

    def initialised(self) -> bool:
        """Whether the data directory has been created by initdb."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (UTF-8, C.UTF-8 ctype, password auth) if it does not exist."""
        if self.initialised():
            return
        root = self._choose_root()
        root.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists():
            # orphaned: its .gridmap/ (and password) was deleted, or initdb failed half-way
            self._run(["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate"], check=False)
            shutil.rmtree(self.data_dir)
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        pwfile = root / "initdb-password"
        pwfile.write_text(password + "\n")
        if _is_root():
            shutil.chown(pwfile, SERVICE_USER, SERVICE_USER)
        pwfile.chmod(0o600)
        try:
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# gridmap embedded cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                f"port = {self.port}\n"
                f"{tuning.INCLUDE_LINE}\n"
            )

    def running(self) -> bool:
        """Whether the server of this cluster is up."""
        if not self.initialised():
            return False
        return (
            self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False).returncode == 0
        )

    def status(self) -> str:
        """``absent``, ``stopped`` or ``running``."""
        if not self.initialised():
            return "absent"
        return "running" if self.running() else "stopped"

    def start(self, timeout: int = 60) -> bool:
        """Initialise if needed and start the server; True if this call started it."""
        self.init()
        if self.running():
            return False
        self.tune()
        self._run(
            [
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(timeout),
                "-o",
                f"-p {self.port}",
            ]
        )
        return True

    def tune(self) -> None:
        """Write the settings for this machine (:mod:`gis.store.tuning`), read at the next
        start; a cluster made before the file existed gets the line that includes it."""
        conf = self.data_dir / "postgresql.conf"
        if tuning.INCLUDE_LINE not in conf.read_text():
            with conf.open("a") as f:
                f.write(f"{tuning.INCLUDE_LINE}\n")
        target = self.data_dir / tuning.CONF_NAME
        target.write_text(tuning.conf_text(tuning.machine_memory(), os.cpu_count() or 1))
        if _is_root():
            shutil.chown(target, SERVICE_USER, SERVICE_USER)

    def stop(self) -> bool:
        """Stop the server (fast shutdown); True if it was running."""
        if not self.running():
            return False
        self._run(["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        return True

    def destroy(self) -> None:
        """Stop the server and delete the cluster and its state (used by tests)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)
