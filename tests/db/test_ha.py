"""The local high-availability topology (gis.ha): etcd, three Patroni PostgreSQL+PostGIS nodes,
HAProxy and two gridmap nodes, real processes on loopback ports.

Read-your-writes across nodes: an upload through node A, then at once a lookup, the versions
list and a tile through node B — which reads from a synchronous standby and names the primary
by another host, so it shares no versions board with node A (as on two machines) — answer the
new version, every round.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest
from shapely.geometry import shape
from sqlalchemy import create_engine, text

from gis.access.auth import create_key
from gis.ha.layout import Layout
from gis.ha.topology import LocalTopology
from gis.store.watch import conninfo

from support import features, renamed_grid_file, tile_at, upload, upload_renamed_grid

pytestmark = pytest.mark.ha

ROUNDS = 8
GRID = "130227001002001"
READ_TIMEOUT_S = 15
PROMOTION_BOUND_S = 30
"""The leader key's TTL (10 s) plus Patroni's loops and HAProxy's checks, with room."""


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTopology]:
    """The topology with the demo city, its gridmap nodes one worker each."""
    running = LocalTopology(tmp_path_factory.mktemp("ha"), nodes=3, apps=2, demo=True)
    layout = running.up()
    try:
        yield running
    finally:
        running.destroy()
    assert not processes_of(layout.data), "every PostgreSQL of the topology stopped"


def processes_of(folder: Path) -> list[int]:
    """The processes whose command line names ``folder`` (its PostgreSQL servers)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(folder).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
    return found


def editor_key(layout: Layout) -> str:
    engine = create_engine(layout.write_url)
    try:
        with engine.begin() as conn:
            return create_key(conn, role="editor", name="ha-test")
    finally:
        engine.dispose()


def replica_sessions(layout: Layout, topology: LocalTopology) -> int:
    """gridmap's connections on the standbys (not the leader), asked of each node directly."""
    leader = topology.leader()
    count = 0
    for name, port in zip(layout.names, layout.postgres, strict=True):
        if name == leader:
            continue
        url = conninfo(layout.url(port, "postgres"))
        with psycopg.connect(url) as conn:
            count += conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'gridmap' "
                "AND application_name LIKE 'gridmap%%'"
            ).fetchone()[0]
    return count


def test_an_upload_through_one_node_is_read_at_once_through_the_other(
    topology: LocalTopology, demo_grids: dict, tmp_path: Path
) -> None:
    layout = topology.layout
    assert layout is not None
    node_a, node_b = (f"http://127.0.0.1:{port}" for port in layout.apps)
    members = topology.members()
    assert sorted(m["role"] for m in members) == ["leader", "sync_standby", "sync_standby"]

    feature = next(f for f in demo_grids["features"] if f["properties"]["code"] == GRID)
    inside = shape(feature["geometry"]).representative_point()
    z, x, y = tile_at(inside.x, inside.y, 15)
    key = editor_key(layout)
    with httpx.Client(timeout=30) as b:
        first = b.get(f"{node_b}/api/v1/lookup", params={"lon": inside.x, "lat": inside.y})
        assert first.status_code == 200, first.text
        b.get(f"{node_b}/tiles/grids/{z}/{x}/{y}.mvt")  # cached for the version before
        for round_ in range(ROUNDS):
            suffix = f"（第{round_ + 1}轮）"
            upload_renamed_grid(node_a, demo_grids, feature, key, tmp_path, suffix)
            name = feature["properties"]["name"] + suffix
            lookup = b.get(f"{node_b}/api/v1/lookup", params={"lon": inside.x, "lat": inside.y})
            versions = b.get(f"{node_b}/api/v1/versions", params={"limit": 1})
            tile = b.get(f"{node_b}/tiles/grids/{z}/{x}/{y}.mvt")
            newest = versions.json()["versions"][0]["number"]
            assert newest == first.json()["version"] + round_ + 1, versions.text
            assert (lookup.json()["version"], lookup.json()["grid"]["name"]) == (newest, name)
            assert tile.headers["X-Boundary-Version"] == str(newest)
            assert name in {f["properties"].get("name") for f in features(tile.content, "grids")}
    assert replica_sessions(layout, topology) > 0  # node B read from the standbys


@dataclass
class Load:
    """What a bounded load of reads and uploads saw."""

    reads: int = 0
    read_errors: Counter[str] = field(default_factory=Counter)
    uploads_refused: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[int, str] = field(default_factory=dict)
    """Version number → the grid name that upload gave."""


def read_load(base: str, paths: list[str], load: Load, stop: threading.Event) -> None:
    """GET the paths in turn until ``stop``; a status other than 200, or no answer within
    READ_TIMEOUT_S (a hang), is an error."""
    with httpx.Client(timeout=READ_TIMEOUT_S) as client:
        for path in itertools.cycle(paths):
            if stop.is_set():
                return
            try:
                status = client.get(f"{base}{path}").status_code
            except httpx.HTTPError as error:
                load.reads += 1
                load.read_errors[type(error).__name__] += 1
                continue
            load.reads += 1
            if status != 200:
                load.read_errors[str(status)] += 1
            time.sleep(0.01)


def readers(
    base: str, paths: list[str], load: Load, stop: threading.Event
) -> list[threading.Thread]:
    """Three reading threads (not started)."""
    return [threading.Thread(target=read_load, args=(base, paths, load, stop)) for _ in range(3)]


def upload_load(
    nodes: list[str], key: str, demo_grids: dict, folder: Path, load: Load, stop: threading.Event
) -> None:
    """Upload renamed grids through the nodes in turn until ``stop``; each refused upload
    (503 ``database_unavailable``) is sent again until it is acknowledged."""
    feature = next(f for f in demo_grids["features"] if f["properties"]["code"] == GRID)
    clients = [httpx.Client(base_url=node, timeout=60) for node in nodes]
    try:
        for round_ in itertools.count(1):
            suffix = f"（切换第{round_}次）"
            path = renamed_grid_file(demo_grids, feature, folder, suffix)
            while not stop.is_set():
                client = clients[round_ % len(clients)]
                try:
                    answer = upload(client, path, key, level="grid", dry_run=False)
                except httpx.HTTPError as error:  # counted (and asserted) as a refusal
                    load.uploads_refused[type(error).__name__] += 1
                else:
                    if answer.status_code == 201:
                        version = answer.json()["version"]
                        load.acknowledged[version] = feature["properties"]["name"] + suffix
                        break
                    refusal = f"{answer.status_code} {answer.json().get('code')}"
                    load.uploads_refused[refusal] += 1
                time.sleep(0.5)
            if stop.is_set():
                return
            time.sleep(0.5)
    finally:
        for client in clients:
            client.close()


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``check`` holds (AssertionError after ``timeout_s``)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.2)
    return time.monotonic() - start


def test_the_primary_dies_under_load_and_no_acknowledged_version_is_lost(
    topology: LocalTopology, demo_grids: dict, tmp_path: Path
) -> None:
    """kill -9 the leader's Patroni and PostgreSQL (its machine dies) under lookups, tiles
    and uploads through both nodes: a standby is promoted, reads go on answering (errors
    ≤ 1 %, each a clean 503), uploads get 503 ``database_unavailable`` until they succeed,
    every acknowledged version is there afterwards, and the old primary rejoins as a
    standby.  Then a gridmap node dies: the front routes around it, no request hangs."""
    layout = topology.layout
    assert layout is not None
    nodes = [f"http://127.0.0.1:{port}" for port in layout.apps]
    front = f"http://127.0.0.1:{layout.front}"
    feature = next(f for f in demo_grids["features"] if f["properties"]["code"] == GRID)
    centre = shape(feature["geometry"]).representative_point()
    paths = [
        f"/api/v1/lookup?lon={centre.x + dx:.6f}&lat={centre.y + dy:.6f}"
        for dx in (-0.02, 0.0, 0.02)
        for dy in (-0.01, 0.0, 0.01)
    ]
    paths += ["/tiles/grids/{}/{}/{}.mvt".format(*tile_at(centre.x, centre.y, z)) for z in (12, 14)]
    paths += ["/api/v1/versions?limit=1", "/api/v1/regions?level=street"]  # read from SQL
    key = editor_key(layout)
    before = versions_on_primary(layout)

    load, stop = Load(), threading.Event()
    threads = [
        threading.Thread(target=read_load, args=(front, paths, load, stop)) for _ in range(3)
    ]
    threads.append(
        threading.Thread(target=upload_load, args=(nodes, key, demo_grids, tmp_path, load, stop))
    )
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        old = topology.leader()
        assert old is not None
        topology.kill_node(old)
        promotion_s = wait_until(
            lambda: topology.leader() not in (None, old), 60, "a standby promoted"
        )
        acknowledged_at_promotion = len(load.acknowledged)
        wait_until(
            lambda: len(load.acknowledged) > acknowledged_at_promotion, 60, "an upload after"
        )
        time.sleep(2)
    except AssertionError:
        print(f"{load}\n{topology.members()}\n{topology.tails()}")
        raise
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    print(f"promotion {promotion_s:.1f} s; {load}")
    assert promotion_s < PROMOTION_BOUND_S
    assert load.reads > 500
    assert set(load.read_errors) <= {"503"}, load.read_errors
    assert sum(load.read_errors.values()) <= load.reads / 100
    assert set(load.uploads_refused) <= {"503 database_unavailable"}, load.uploads_refused
    after = versions_on_primary(layout)
    assert set(load.acknowledged) <= after and before <= after
    for number, name in load.acknowledged.items():
        answer = httpx.get(
            f"{front}/api/v1/lookup",
            params={"lon": centre.x, "lat": centre.y, "as_of": number},
        ).json()
        assert answer["grid"]["name"] == name

    topology.start_node(old)  # the old primary comes back: pg_rewind, then a standby
    wait_until(
        lambda: (
            {m["name"]: m["role"] for m in topology.members()}.get(old)
            in ("replica", "sync_standby")
        ),
        120,
        "the old primary rejoined as a standby",
    )
    topology.wait_replicated()

    load, stop = Load(), threading.Event()
    threads = [
        threading.Thread(target=read_load, args=(front, paths, load, stop)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        topology.apps[0].signal_group(signal.SIGKILL)
        time.sleep(5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    print(f"a gridmap node killed: {load}")
    assert load.reads > 200
    assert not {kind for kind in load.read_errors if not kind.isdigit()}, load.read_errors
    assert sum(load.read_errors.values()) <= load.reads / 100


def versions_on_primary(layout: Layout) -> set[int]:
    engine = create_engine(layout.write_url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT number FROM boundary_versions")))
    finally:
        engine.dispose()
