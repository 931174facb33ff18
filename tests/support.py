"""Small helpers shared by tests that run gridmap as a real process."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

GRIDMAP = str(Path(sys.executable).parent / "gridmap")
"""The ``gridmap`` console command of the running virtualenv."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
