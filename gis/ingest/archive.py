"""Unpacking uploaded archives (zip, kmz) safely: no path tricks, no zip bombs."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from gis.errors import InvalidInput, TooLarge

ZIP_MAGIC = b"PK\x03\x04"
ARCHIVE_SUFFIXES = (".zip", ".kmz")
MAX_RATIO = 100
"""An archive unpacks to at most this many times its own size (or ``RATIO_FREE_BYTES``):
shapefiles, GeoJSON and KML deflate 2–20×; a zip bomb 1 000× and more — and what it
unpacks to is then read whole by GDAL (a 0.6 MB zip of a 605 MB GeoJSON took 1.2 GB)."""
RATIO_FREE_BYTES = 16_000_000
"""Up to this many unpacked bytes any ratio is accepted (tiny, repetitive files)."""


def is_archive(path: Path, filename: str) -> bool:
    """Whether the upload is (or claims to be) a zip archive."""
    with path.open("rb") as f:
        magic = f.read(4)
    return magic == ZIP_MAGIC or filename.lower().endswith(ARCHIVE_SUFFIXES)


def _unsafe(name: str) -> bool:
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    return (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or ".." in posix.parts
        or ".." in windows.parts
    )


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's real name: zips made on Chinese Windows store GBK names without a flag."""
    if info.flag_bits & 0x800:  # declared UTF-8
        return info.filename
    raw = info.filename.encode("cp437")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def unpack(path: Path, dest: Path, *, max_bytes: int, max_entries: int) -> list[Path]:
    """Extract the zip at ``path`` into ``dest``; return the files extracted.

    Refuses corrupt archives (``corrupt_archive``), entries with absolute or ``..``
    paths (``unsafe_archive_path``) and archives that unpack to more than ``max_bytes``,
    ``MAX_RATIO`` times their own size or ``max_entries`` files (``archive_too_large``) —
    counting the bytes as they stream out, 1 MB at a time, never trusting the sizes the
    archive claims.
    """
    max_bytes = min(max_bytes, max(RATIO_FREE_BYTES, MAX_RATIO * path.stat().st_size))
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InvalidInput(
            f"压缩包已损坏或不是 zip 文件 (the archive is corrupt or not a zip file: {error})",
            code="corrupt_archive",
        ) from error
    with archive:
        entries = [i for i in archive.infolist() if not i.is_dir()]
        unsafe = [entry_name(i) for i in archive.infolist() if _unsafe(entry_name(i))]
        if unsafe:
            raise InvalidInput(
                "压缩包含有绝对路径或 .. 路径，已拒绝 "
                "(the archive has entries with absolute or '..' paths)",
                code="unsafe_archive_path",
                details={"entries": unsafe[:20]},
            )
        too_large = TooLarge(
            f"压缩包解压后超过 {max_bytes // 1_000_000} MB（至多为压缩包的 {MAX_RATIO} 倍）"
            f"或 {max_entries} 个文件 (the archive unpacks to more than {max_bytes} bytes — "
            f"at most {MAX_RATIO} times its size — or {max_entries} files)",
            code="archive_too_large",
            details={"max_bytes": max_bytes, "max_ratio": MAX_RATIO, "max_entries": max_entries},
        )
        if len(entries) > max_entries or sum(i.file_size for i in entries) > max_bytes:
            raise too_large
        written = 0
        files = []
        try:
            for info in entries:
                target = dest / entry_name(info)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, target.open("wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > max_bytes:
                            raise too_large
                        out.write(chunk)
                files.append(target)
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as error:
            raise InvalidInput(
                f"压缩包已损坏 (the archive is corrupt: {error})", code="corrupt_archive"
            ) from error
    return files
