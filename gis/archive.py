"""Unpacking uploaded archives (zip, kmz) safely: no path tricks, no zip bombs."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from gis.errors import InvalidInput, TooLarge

ZIP_MAGIC = b"PK\x03\x04"
ARCHIVE_SUFFIXES = (".zip", ".kmz")


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
    paths (``unsafe_archive_path``) and archives that unpack to more than ``max_bytes``
    or ``max_entries`` (``archive_too_large``) — counting the bytes actually written,
    not the sizes the archive claims.
    """
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
            f"压缩包解压后超过 {max_bytes // 1_000_000} MB 或 {max_entries} 个文件 "
            f"(the archive unpacks to more than {max_bytes} bytes or {max_entries} files)",
            code="archive_too_large",
            details={"max_bytes": max_bytes, "max_entries": max_entries},
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
