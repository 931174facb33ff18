"""``gridmap ha`` — the high-availability topology on this machine (``gis.ha``): etcd, Patroni
PostgreSQL+PostGIS nodes, HAProxy and gridmap nodes on loopback ports."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console
from gis.errors import InvalidInput
from gis.ha.layout import Layout
from gis.ha.topology import LocalTopology, members
from gis.settings import get_settings

ha_app = typer.Typer(
    help="高可用拓扑 (high availability): Patroni + etcd + HAProxy on this machine.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="State directory (default: <GRIDMAP_HOME>/ha).")
]


def _dir(given: Path | None) -> Path:
    return given if given is not None else get_settings().home / "ha"


def describe(layout: Layout) -> str:
    """The topology's addresses, one per line (passwords are in layout.json, mode 600)."""
    lines = [
        f"  前端 (front, gridmap nodes): http://127.0.0.1:{layout.front}",
        *(f"  gridmap 节点 app{i + 1}: http://127.0.0.1:{p}" for i, p in enumerate(layout.apps)),
        f"  写端口 (write, primary): 127.0.0.1:{layout.write}",
        f"  读端口 (read, synchronous standbys): 127.0.0.1:{layout.read}",
        f"  HAProxy 统计 (stats): http://127.0.0.1:{layout.stats}/",
        f"  etcd: http://127.0.0.1:{layout.etcd_client}",
    ]
    return "\n".join(lines)


@ha_app.command("up")
def ha_up(
    directory: DirOption = None,
    nodes: Annotated[int, typer.Option(min=1, max=9, help="Patroni nodes.")] = 3,
    apps: Annotated[int, typer.Option(min=1, max=9, help="gridmap nodes.")] = 2,
    workers: Annotated[int, typer.Option(min=1, help="Workers per gridmap node.")] = 1,
    demo: Annotated[bool, typer.Option(help="Load the demo city into an empty database.")] = True,
) -> None:
    """Start the whole topology and keep it running; Ctrl-C stops every part."""
    topology = LocalTopology(
        _dir(directory), nodes=nodes, apps=apps, app_workers=workers, demo=demo
    )
    with console.status("starting etcd, Patroni, HAProxy and gridmap …"):
        layout = topology.up()
    try:
        console.print("高可用拓扑已启动 (the topology is up):", markup=False)
        console.print(describe(layout), markup=False, highlight=False)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        with console.status("stopping …"):
            topology.down()
        console.print("已停止 (stopped)")


@ha_app.command("status")
def ha_status(directory: DirOption = None) -> None:
    """Each Patroni node's role and state, and the topology's addresses."""
    layout = Layout.load(_dir(directory))
    if layout is None:
        raise InvalidInput(
            f"{_dir(directory)} 中没有高可用拓扑 (no topology there): run `gridmap ha up` first",
            code="no_topology",
        )
    found = members(layout)
    if not found:
        console.print("没有 Patroni 节点应答 (no Patroni node answers): the topology is down")
    for member in found:
        lag = member.get("lag", "")
        console.print(
            f"  {member['name']}: {member.get('role')} {member.get('state')} "
            f"(127.0.0.1:{member.get('port')}) lag={lag}",
            markup=False,
        )
    console.print(describe(layout), markup=False, highlight=False)
