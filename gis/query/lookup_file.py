"""One lookup index file per boundary version per machine, mapped by every process.

Each uvicorn worker used to build its own in-process index of every version it served: the
same hundreds of megabytes per worker at a province's size, and the first request after a
commit waited for the build.  Here the index of a version is a set of flat numpy arrays
(``gis.query.lookup.IndexArrays``) in one file that ONE process of the machine writes (under
an exclusive ``flock`` of the version's lock file; the others wait for it, then map what it
wrote) and every process maps read-only: the pages are shared, each worker keeps only what
it decodes.

The file: ``MAGIC``, the header's length (8 bytes, little-endian), a JSON header (format,
database, version, each array's name, dtype, shape and offset, the payload's size and
CRC-32), then the arrays, 64-byte aligned.  It is written to a temporary name and renamed,
so a reader sees a whole file or none.  It is not synced to the disk: a cache that every
reader checks (size, CRC-32), so a crash that leaves it torn or zeroed makes it be built again,
and a build does not wait for the disk (syncing 2.4 GB took 2–17 s at 1 000 000 grids).
A file is used only if it is ours (owner our uid, a regular file not writable by others, in
a folder of mode 0700 that is ours — never a file another local user planted), names this
database and version, has exactly the size the header says and its CRC matches; anything
else is refused (``IndexFileError``) and the file is built again.

The folder is per database, named like the versions board (``gis.store.board``: server, name
and OID) under the temp directory, and removed with the database (``gis.store.db``); the
newest ``keep`` versions' files stay.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import mmap
import os
import stat
import struct
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger("gridmap.lookup")

MAGIC = b"GMLKIDX\x01"
FORMAT = 3
ALIGN = 64
_LENGTH = struct.Struct("<Q")


class IndexFileError(ValueError):
    """An index file that must not be used (foreign, truncated, corrupt, another version)."""


def index_folder(folder: Path) -> Path:
    """``folder`` (``gis.store.board.lookup_folder``), created mode 0700 if missing;
    ``PermissionError`` when it is not ours or others may write in it."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} is not a private folder of uid {os.getuid()}")
    return folder


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def write(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, object]) -> None:
    """Write ``arrays`` and ``meta`` to ``path`` atomically (temporary file, rename; not
    synced: see the module)."""
    layout, offset = [], 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        layout.append([name, array.dtype.str, list(array.shape), offset])
        offset = _aligned(offset + array.nbytes)
    crc = 0
    for array in arrays.values():
        crc = zlib.crc32(np.ascontiguousarray(array).data, crc)
    header = json.dumps(
        {
            "format": FORMAT,
            **meta,
            "built_by": os.getpid(),
            "arrays": layout,
            "payload": offset,
            "crc": crc,
        }
    ).encode()
    start = _aligned(len(MAGIC) + _LENGTH.size + len(header))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with tmp.open("wb") as f:
        f.write(MAGIC + _LENGTH.pack(len(header)) + header)
        for (_, _, _, at), array in zip(layout, arrays.values(), strict=True):
            f.seek(start + at)
            f.write(np.ascontiguousarray(array).data)
        f.truncate(start + offset)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read(path: Path, meta: Mapping[str, object]) -> dict[str, np.ndarray]:
    """The arrays of the file at ``path``, mapped read-only; ``FileNotFoundError`` when
    there is none, ``IndexFileError`` when it must not be used (see the module)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise IndexFileError(f"{path}: not a file of uid {os.getuid()} writable only by it")
        if info.st_size < len(MAGIC) + _LENGTH.size:
            raise IndexFileError(f"{path}: truncated")
        mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    buffer = memoryview(mapped)
    if bytes(buffer[: len(MAGIC)]) != MAGIC:
        raise IndexFileError(f"{path}: not a gridmap lookup index")
    (length,) = _LENGTH.unpack_from(buffer, len(MAGIC))
    begin = len(MAGIC) + _LENGTH.size
    try:
        header = json.loads(bytes(buffer[begin : begin + length]))
    except ValueError as error:
        raise IndexFileError(f"{path}: unreadable header") from error
    want = {"format": FORMAT, **meta}
    if {k: header.get(k) for k in want} != want:
        raise IndexFileError(f"{path}: made for {header.get('database')} v{header.get('version')}")
    start = _aligned(begin + length)
    if len(buffer) != start + header["payload"]:
        raise IndexFileError(f"{path}: {len(buffer)} bytes, not {start + header['payload']}")
    arrays, crc = {}, 0
    for name, dtype, shape, at in header["arrays"]:
        count = int(np.prod(shape))
        array = np.frombuffer(buffer, dtype=np.dtype(dtype), count=count, offset=start + at)
        crc = zlib.crc32(array.data, crc)
        arrays[name] = array.reshape(shape)
    if crc != header["crc"]:
        raise IndexFileError(f"{path}: checksum mismatch")
    return arrays


def obtain(
    folder: Path,
    version: int,
    meta: Mapping[str, object],
    make: Callable[[Path], None],
    *,
    keep: int,
) -> dict[str, np.ndarray]:
    """The mapped arrays of ``version``'s file in ``folder``, made first by ``make(path)``
    (which writes it with :func:`write`) unless a sound one is there.  One process of the
    machine makes it: the others wait on the lock, then map the file it wrote.  After a
    build, files of all but the newest ``keep`` versions are removed."""
    path = folder / f"v{version}.idx"
    try:
        return read(path, meta)
    except FileNotFoundError:
        pass
    except IndexFileError as error:
        log.warning("lookup index refused, building it again: %s", error)
    lock = os.open(folder / f"v{version}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return read(path, meta)  # another process built it while this one waited
        except (FileNotFoundError, IndexFileError):
            pass
        started = time.perf_counter()
        make(path)
        log.info(
            "lookup index of version %s made in %.1f s: %s",
            version,
            time.perf_counter() - started,
            path,
        )
    finally:
        os.close(lock)
    prune(folder, keep, version)
    return read(path, meta)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(folder: Path, keep: int, version: int) -> None:
    """Remove the files of all but the newest ``keep`` versions and ``version`` (a process
    that still maps one keeps its pages until it lets go), and the half-written files of
    builders that died (``.v<N>.idx.<pid>.part`` whose process is gone)."""
    for part in folder.glob(".v*.idx.*.part"):
        pid = part.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            part.unlink(missing_ok=True)
    numbers = sorted(int(p.stem[1:]) for p in folder.glob("v*.idx") if p.stem[1:].isdigit())
    for number in numbers[:-keep]:
        if number == version:
            continue
        for suffix in (".idx", ".lock"):
            (folder / f"v{number}{suffix}").unlink(missing_ok=True)
