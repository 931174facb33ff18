"""The compose topology (docker/ha.yaml) and the local one (gis.ha) follow the same rules:
the same Patroni cluster settings, the same HAProxy checks; every HAProxy file is valid to
HAProxy itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from gis.ha.configs import haproxy_config, patroni_config
from gis.ha.daemons import find_tool
from gis.ha.layout import Layout

DOCKER = Path(__file__).resolve().parents[2] / "docker"


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout.plan(tmp_path, tmp_path / "nodes", nodes=3, apps=2)


def test_the_compose_nodes_bootstrap_the_cluster_as_the_local_ones(layout: Layout) -> None:
    local = patroni_config(layout, "pg1", Path("/usr/lib/postgresql/15/bin"))["bootstrap"]
    composed = yaml.safe_load((DOCKER / "ha" / "patroni.yml").read_text())["bootstrap"]
    assert composed["dcs"] == local["dcs"]
    assert composed["initdb"] == local["initdb"]
    assert local["dcs"]["synchronous_mode"] and local["dcs"]["synchronous_node_count"] == 2
    assert local["dcs"]["postgresql"]["parameters"]["synchronous_commit"] == "remote_apply"


def _checks(config: str) -> dict[str, str]:
    """Each ``listen`` section's health check."""
    found, section = {}, None
    for line in config.splitlines():
        if line.startswith("listen "):
            section = line.split()[1]
        elif "option httpchk" in line and section:
            found[section] = line.split("httpchk", 1)[1].strip()
    return found


def test_haproxy_routes_writes_to_the_primary_reads_to_synchronous_standbys(
    layout: Layout, tmp_path: Path
) -> None:
    local = haproxy_config(layout)
    composed = (DOCKER / "ha" / "haproxy.cfg").read_text() + (
        DOCKER / "ha" / "front.cfg"
    ).read_text()
    expected = {"write": "GET /primary", "read": "GET /sync", "front": "GET /health/live"}
    assert _checks(local) == expected
    assert _checks(composed) == expected
    (tmp_path / "local.cfg").write_text(local)
    for path in [
        tmp_path / "local.cfg",
        DOCKER / "ha" / "haproxy.cfg",
        DOCKER / "ha" / "front.cfg",
    ]:
        checked = subprocess.run(
            [find_tool("haproxy"), "-c", "-f", str(path)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
