"""The version watch (gis.store.watch) when its listening connection is cut — as HAProxy cuts
every gridmap node's at a failover (``on-marked-down shutdown-sessions``).

The server runs on uvloop (uvicorn picks it when installed).  Once, a request that found the
listener's socket readable read it itself; libpq, finding the connection dead, closed the
socket under the receiver's registered reader, and the next socket given the same descriptor
made libuv abort the whole process (SIGABRT: a gridmap node of the HA topology died at a
failover, a 1-in-3 failure of its test).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import asyncio, os, socket, threading, time
import psycopg, uvloop
from sqlalchemy import make_url
from gis.store.versions import VERSIONS_CHANNEL
from gis.store.watch import VersionWatch, conninfo


class Cutter:
    '''A TCP relay to PostgreSQL whose connections can be cut at once, as HAProxy does.'''

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.relay, args=(a, b), daemon=True).start()

    @staticmethod
    def relay(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        for s in self.sockets:
            s.shutdown(socket.SHUT_RDWR)
        self.sockets = []


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(100):
        writer.write(data)
        await writer.drain()


async def main(url: str) -> None:
    direct = make_url(url)
    cutter = Cutter(direct.host, direct.port)
    relayed = direct.set(port=cutter.port).render_as_string(hide_password=False)
    watch = VersionWatch(relayed)
    print("before", await watch.current())
    listener = watch._conn.pgconn.socket
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    cutter.cut()
    time.sleep(0.3)  # the end is in the listener's socket; the event loop has not run
    await watch.current()  # a request served before the loop sees the socket readable
    reused = False
    for _ in range(4):  # clients come and go, as an HTTP server's do
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        reused |= writer.get_extra_info("socket").fileno() == listener
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 2) == b"ping"
        writer.close()
    print("reused", reused)
    for _ in range(50):  # the watch listens again (a call reconnects it)
        await watch.current()
        if watch.listening:
            break
        await asyncio.sleep(0.1)
    with psycopg.connect(conninfo(url), autocommit=True) as other:
        other.execute(f"SELECT pg_notify('{VERSIONS_CHANNEL}', '7')")
    await asyncio.sleep(0.5)
    print("after", await watch.current())
    await watch.close()

uvloop.run(main(os.environ["WATCH_TEST_URL"]))
"""


def test_a_cut_listener_neither_kills_the_process_nor_stops_the_watch(fresh_db_url: str) -> None:
    """A call that finds the cut first lets the descriptor go only once the loop no longer
    watches it: the next client takes that descriptor and is served (before, the event loop
    hung there), the process lives, and the watch listens again (a notice sent after the cut
    is answered; before, it never was)."""
    env = {**os.environ, "WATCH_TEST_URL": fresh_db_url}  # not in argv: errors print argv
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the event loop hung: {hung.stdout!r}")
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-3000:])
    assert done.stdout.split() == ["before", "1", "reused", "True", "after", "7"], done.stdout
