"""The versions board: a database's newest committed boundary version, for this machine's
processes, in a small memory-mapped file.

``NOTIFY gridmap_versions`` (``gis.store.watch``) reaches every worker, on any machine, but a moment
after the commit: the database's listening backend has to be scheduled to send it.  Under CPU
contention that moment can outlast the round trip of an upload's answer and the client's next
request to another worker.  So every commit of a version (``gis.store.versions.commit_version``,
the one commit path) also writes its number here, after the commit and before the committer
answers; each worker reads it (one memory load) with every
``VersionWatch.current()`` — a worker on this machine never answers from an older version than
the newest one committed here.  Writers are best effort: a file that cannot be written (a
read-only or foreign temp directory) leaves NOTIFY to do the job alone.

The file is named after the database's server, name and OID (a dropped and recreated database
gets a new OID, so a new board) and lives in ``/dev/shm`` (memory), else the temp directory.
Only its creator may write it (mode 0644), and a board owned by another user (say, planted by
a local user before the service started) is neither read nor written.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import tempfile
from pathlib import Path

from sqlalchemy import URL, Connection, make_url, text

from gis.store.tempfiles import LOOKUP_PREFIX

log = logging.getLogger("gridmap.board")

OID_SQL = "SELECT oid FROM pg_database WHERE datname = current_database()"
_NUMBER = struct.Struct("<q")


def database_key(url: str | URL, oid: int) -> str:
    """What names the database at ``url`` (its OID ``oid``) in this machine's files: server,
    name and OID."""
    parsed = make_url(url)
    return f"{parsed.host or ''}:{parsed.port or ''}/{parsed.database or ''}#{oid}"


def _hashed(url: str | URL, oid: int) -> str:
    return hashlib.sha256(database_key(url, oid).encode()).hexdigest()[:24]


def board_path(url: str | URL, oid: int) -> Path:
    """Where the board of the database at ``url`` (its OID ``oid``) lives."""
    shm = Path("/dev/shm")
    folder = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return folder / f"gridmap-versions-{_hashed(url, oid)}"


def lookup_folder(url: str | URL, oid: int) -> Path:
    """Where the lookup index files of the database live (``gis.query.lookup_file``): on
    disk, in the temp directory (the page cache shares them; they may be large)."""
    return Path(tempfile.gettempdir()) / f"{LOOKUP_PREFIX}{_hashed(url, oid)}"


def _open(path: Path, flags: int) -> int:
    """The board's file, created if missing; PermissionError if another user owns it."""
    fd = os.open(path, flags | os.O_CREAT, 0o644)
    try:
        owner = os.fstat(fd).st_uid
        if owner not in (os.getuid(), 0):
            raise PermissionError(f"{path} belongs to uid {owner}")
        if os.fstat(fd).st_size < _NUMBER.size and flags & os.O_RDWR:
            os.ftruncate(fd, _NUMBER.size)
    except BaseException:
        os.close(fd)
        raise
    return fd


def connection_board(conn: Connection) -> Path:
    """The board of the database ``conn`` is connected to."""
    return board_path(conn.engine.url, int(conn.scalar(text(OID_SQL))))


def publish(path: Path, number: int | None) -> None:
    """Raise the board's number to ``number`` (None: no new version, nothing to do).  Called
    by ``gis.store.versions.commit_version`` after the version's commit."""
    if number is None:
        return
    try:
        fd = _open(path, os.O_RDWR)
    except OSError as error:
        log.warning("versions board %s not writable (%s): NOTIFY alone tells workers", path, error)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        (current,) = _NUMBER.unpack(os.pread(fd, _NUMBER.size, 0))
        if number > current:
            os.pwrite(fd, _NUMBER.pack(number), 0)
    finally:
        os.close(fd)


class Board:
    """A read-only view of one board, kept mapped (``OSError`` if it cannot be)."""

    def __init__(self, path: Path) -> None:
        fd = _open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, _NUMBER.size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self.path = path

    def read(self) -> int:
        """The newest version published (0: none)."""
        return _NUMBER.unpack_from(self._map)[0]

    def close(self) -> None:
        self._map.close()
