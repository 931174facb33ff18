"""``gridmap db …`` manages an embedded cluster of its own, placed where ``postgres`` can reach."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from gis.settings import Settings
from gis.store.cluster import SYSTEM_ROOT, Cluster
from gis.store.db import make_engine
from gis.store.tuning import machine_memory, settings_for

from support import GRIDMAP, free_port


def _gridmap(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [GRIDMAP, *args], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout.strip()


def test_db_commands_manage_their_own_cluster(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)  # as root: not traversable by the postgres user
    home = private / "checkout" / ".gridmap"
    settings = Settings(database_url=None, home=home, db_port=free_port())
    env = {**os.environ, "GRIDMAP_HOME": str(home), "GRIDMAP_DB_PORT": str(settings.db_port)}
    env.pop("GRIDMAP_DATABASE_URL", None)
    cluster = Cluster.from_settings(settings)
    try:
        assert _gridmap(env, "db", "status").startswith("absent")
        assert _gridmap(env, "db", "start").startswith("started")
        assert _gridmap(env, "db", "status").startswith("running")
        assert _gridmap(env, "db", "start").startswith("already running")
        if os.geteuid() == 0:
            assert cluster.data_dir.is_relative_to(SYSTEM_ROOT)
            assert cluster.data_dir.stat().st_uid != 0
        else:
            assert cluster.data_dir.is_relative_to(home)
        assert (home / "db-password").stat().st_mode & 0o077 == 0

        engine = make_engine(_gridmap(env, "db", "url"))
        with engine.connect() as conn:
            ctype = conn.scalar(text("SELECT datctype FROM pg_database WHERE datname = 'gridmap'"))
            postgis = conn.scalar(text("SELECT postgis_lib_version()"))
            tuned = {
                k: conn.scalar(text(f"SHOW {k}"))
                for k in ("shared_buffers", "jit", "wal_compression")
            }
            tables = set(
                conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            )
        engine.dispose()
        assert ctype == "C.UTF-8"
        assert postgis.startswith("3.")
        wanted = settings_for(machine_memory(), os.cpu_count() or 1)
        assert tuned == {
            "shared_buffers": wanted["shared_buffers"],
            "jit": "off",
            "wal_compression": "lz4",
        }
        assert {"regions", "boundary_versions", "alembic_version"} <= tables

        assert _gridmap(env, "db", "stop") == "stopped"
        assert _gridmap(env, "db", "status").startswith("stopped")
        assert _gridmap(env, "db", "stop") == "not running"

        # a fresh clone at the same path: the old cluster is orphaned and replaced
        shutil.rmtree(home)
        assert _gridmap(env, "db", "status").startswith("absent")
        assert _gridmap(env, "db", "start").startswith("started")
        assert _gridmap(env, "db", "status").startswith("running")
    finally:
        cluster.destroy()
    assert not cluster.data_dir.exists()


def test_db_commands_refuse_an_external_database() -> None:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run([GRIDMAP, "db", "status"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "not_embedded" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="placement only differs when running as root")
def test_reachable_home_keeps_the_cluster_inside(tmp_path: Path) -> None:
    open_dir = Path("/var/tmp") / f"gridmap-test-{os.getpid()}"
    open_dir.mkdir(mode=0o755)
    settings = Settings(database_url=None, home=open_dir / ".gridmap", db_port=free_port())
    cluster = Cluster.from_settings(settings)
    try:
        cluster.init()
        assert cluster.data_dir == open_dir / ".gridmap" / "cluster" / "pgdata"
    finally:
        cluster.destroy()
        open_dir.rmdir()
