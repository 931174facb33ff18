"""``gridmap serve`` for real: its own cluster, the demo city, an outage, Ctrl-C, a restart.

While the cluster is down the app answers 503 ``database_unavailable``; it recovers by
itself once the cluster is back, with no restart of the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from gis.settings import Settings
from gis.store.cluster import Cluster
from tiles.layers import LAYERS

from support import GRIDMAP, answer, free_port


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Settings]:
    """Settings of an embedded cluster that does not exist yet; destroyed afterwards."""
    settings = Settings(database_url=None, home=tmp_path / ".gridmap", db_port=free_port())
    yield settings
    Cluster.from_settings(settings).destroy()


class Serve:
    """``gridmap serve`` in a subprocess, stopped with SIGINT as Ctrl-C would."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "GRIDMAP_HOME": str(settings.home),
            "GRIDMAP_DB_PORT": str(settings.db_port),
        }
        env.pop("GRIDMAP_DATABASE_URL", None)
        self.process = subprocess.Popen(
            [GRIDMAP, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def interrupt(self) -> str:
        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=60)
        return output

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def test_serve_outage_ctrl_c_and_restart(home: Settings) -> None:
    cluster = Cluster.from_settings(home)
    serve = Serve(home)
    grids = f"{serve.base}/api/v1/regions?level=grid&limit=1000"
    lookup = f"{serve.base}/api/v1/lookup?lon=118.318&lat=40.15"
    # made afresh each time: the boundary version from the watch, the centres' stamp and
    # the tiles through the tile pool
    tiles = [f"{serve.base}/tiles/{layer}/12/3394/1548.mvt?cache=off" for layer in LAYERS]
    try:
        assert len(answer(grids).json()["features"]) == 66
        assert httpx.get(f"{serve.base}/api/v1/versions").json()["current"] == 1
        assert httpx.get(lookup).json()["covered"] is True
        before = [httpx.get(url) for url in tiles]
        assert all(r.status_code == 200 for r in before), [r.text for r in before]

        assert cluster.stop()
        down = httpx.get(grids, timeout=10)
        assert down.status_code == 503
        assert down.json()["code"] == "database_unavailable"
        health = httpx.get(f"{serve.base}/health", timeout=10)
        assert (health.status_code, health.json()["code"]) == (503, "database_unavailable")
        # the lookup's version watch lost its connection: no answer it cannot vouch for
        lost = httpx.get(lookup, timeout=10)
        assert (lost.status_code, lost.json()["code"]) == (503, "database_unavailable")
        for url in tiles:
            down = httpx.get(url, timeout=10)
            assert (down.status_code, down.json()["code"]) == (503, "database_unavailable")

        assert cluster.start()
        assert len(answer(grids).json()["features"]) == 66
        assert answer(lookup).json()["version"] == 1
        assert answer(f"{serve.base}/health").json()["status"] == "ok"
        # the pool's connections died with the cluster: each tile is made on a new one
        assert [httpx.get(url).content for url in tiles] == [r.content for r in before]

        output = serve.interrupt()
        assert serve.process.returncode == 0, output
        assert f"{serve.base}/docs" in output
        assert "database cluster stopped" in output
        assert cluster.status() == "stopped"
    finally:
        serve.kill()

    again = Serve(home)
    try:
        body = answer(f"{again.base}/api/v1/versions").json()
        assert body["current"] == 1, "the demo city is loaded once; the data is reused"
        output = again.interrupt()
        assert "loaded the demo city" not in output
        assert cluster.status() == "stopped"
    finally:
        again.kill()
