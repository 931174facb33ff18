"""gridmap's temporary folders: one prefix, and the sweep of those a killed worker left."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "gridmap-"
"""Every temporary folder gridmap makes is named ``gridmap-<purpose>-…`` in the temp dir."""

LOOKUP_PREFIX = PREFIX + "lookup-"
"""The lookup index folders (``gis.store.board.lookup_folder``): a cache the workers of the
machine share across restarts, never swept as a dead worker's leftovers."""


def remove_stale(max_age_s: float, root: Path | None = None) -> list[Path]:
    """Remove ``gridmap-*`` folders in ``root`` (the temp dir) untouched for ``max_age_s``,
    but not the lookup index folders (``LOOKUP_PREFIX``: their files are mapped by running
    workers and rebuilding one of a province takes minutes).

    A worker killed mid-upload never runs its clean-up; its folders are swept at the next
    start-up. Files are left alone (the versions board may live in the temp dir), and a
    folder another worker removes at the same moment is no error.
    """
    root = root or Path(tempfile.gettempdir())
    cutoff = time.time() - max_age_s
    removed = []
    for path in root.glob(PREFIX + "*"):
        if path.name.startswith(LOOKUP_PREFIX):
            continue
        try:
            stale = path.is_dir() and not path.is_symlink() and path.stat().st_mtime < cutoff
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
