"""Killing the server in the middle of a commit leaves the previous version intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import numpy as np
import shapely
from sqlalchemy import Engine, make_url, text

from support import answer, free_port, state, wait_until, write_layer

COMMITTING = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = :db AND application_name = 'gridmap' AND xact_start IS NOT NULL
      AND query ILIKE '%staged%'
"""


def _big_layer(path: Path, n: int) -> Path:
    """``n`` seamless Voronoi cells (densified: heavy rows) as county-level regions."""
    rng = np.random.default_rng(7)
    points = shapely.points(rng.uniform((118.0, 40.0), (118.6, 40.4), size=(n, 2)))
    box = shapely.box(118.0, 40.0, 118.6, 40.4)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=box))
    cells = [shapely.segmentize(shapely.intersection(c, box), 0.0005) for c in cells]
    rows = [{"code": f"{900000 + i}", "name": f"测试区县{i}"} for i in range(len(cells))]
    return write_layer(path, rows, [shapely.MultiPolygon([c]) for c in cells])


def test_kill_during_commit_leaves_previous_version(
    fresh_db_url: str, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    layer = _big_layer(tmp_path / "big.gpkg", 6000)
    key = make_key("editor")
    before = state(fresh_engine)
    port = free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    outcome: dict[str, object] = {}

    def send() -> None:
        try:
            with layer.open("rb") as f:
                outcome["response"] = httpx.post(
                    f"{base}/api/v1/uploads",
                    files={"file": (layer.name, f)},
                    data={"level": "county", "dry_run": "false"},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=300,
                )
        except httpx.TransportError as error:
            outcome["error"] = error

    db = make_url(fresh_db_url).database
    try:
        answer(f"{base}/health", timeout=30)
        sender = threading.Thread(target=send)
        sender.start()
        with fresh_engine.connect() as conn:

            def committing_or_ended() -> str | None:
                if not sender.is_alive():
                    return "ended"
                row = conn.execute(text(COMMITTING), {"db": db}).first()
                conn.rollback()
                return "committing" if row else None

            seen = wait_until(committing_or_ended, "the commit to run", timeout=120, every=0.005)
        if seen == "committing":
            server.send_signal(signal.SIGKILL)
        sender.join(timeout=60)
        assert seen == "committing", f"the commit was never seen running: {outcome}"
        assert "error" in outcome, "the request must die with the server"
    finally:
        server.kill()
        server.wait()

    # the server's backend notices the lost client and rolls back
    with fresh_engine.connect() as conn:

        def session_ended() -> bool:
            open_ = conn.execute(
                text(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = :db "
                    "AND application_name = 'gridmap' AND xact_start IS NOT NULL "
                    "AND pid <> pg_backend_pid()"
                ),
                {"db": db},
            ).first()
            conn.rollback()
            return open_ is None

        wait_until(session_ended, "the killed server's session to end", every=0.1)
    assert state(fresh_engine) == before
    with fresh_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM regions WHERE valid_from > 1")) == 0
        assert conn.scalar(text("SELECT count(*) FROM regions WHERE valid_to IS NOT NULL")) == 0
