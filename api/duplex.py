"""A request body read and an answer written at the same time, by blocking code in a thread.

A streamed batch lookup reads millions of rows and answers them as it goes: pyarrow's readers
and writers are blocking and run in a worker thread (:func:`run_duplex`), which reads the
body through :class:`Inbox` (a file-like fed by the event loop, one chunk at a time) and
writes through :class:`Outbox` (a file-like whose bytes the event loop sends: at most
:data:`MEMORY_BYTES` wait in memory, the rest in a temporary file, so a client that sends its
whole body before it reads the answer — most HTTP libraries do — never stalls the thread,
and memory does not grow).  :class:`DuplexResponse` sends the answer without Starlette's wait for a
disconnect, which would read (and lose) the body still arriving; a client that goes away
is noticed when a send fails, and the thread stops at its next read or write.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

CHUNK_BYTES = 1 << 20
"""Answer bytes gathered before they are sent."""
MEMORY_BYTES = 1 << 23
"""Answer bytes waiting in memory at most (8 MiB); more wait in a temporary file."""


class Gone(Exception):
    """The client went away: the thread stops."""


class Inbox(io.RawIOBase):
    """The request body as a blocking binary file (for the worker thread)."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.chunks, self.loop = chunks, loop
        self.pending = b""
        self.ended = False
        self.received = 0

    def readable(self) -> bool:
        return True

    async def _next(self) -> bytes | None:
        return await anext(self.chunks, None)

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` whole unless the body ends first (pyarrow takes a short read for
        the end of its input)."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self.pending:
                if self.ended:
                    break
                chunk = asyncio.run_coroutine_threadsafe(self._next(), self.loop).result()
                if chunk is None:
                    self.ended = True
                    continue
                self.pending = chunk
                self.received += len(chunk)
            n = min(len(view) - filled, len(self.pending))
            view[filled : filled + n] = self.pending[:n]
            self.pending = self.pending[n:]
            filled += n
        return filled


class Outbox(io.RawIOBase):
    """A blocking binary file whose bytes the event loop sends (see the module docstring):
    chunks wait in memory up to :data:`MEMORY_BYTES`, beyond that in a temporary file."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[int, int, bytes | None] | None] = asyncio.Queue()
        self.gathered: list[bytes] = []
        self.size = 0
        self.waiting = 0
        """Bytes queued in memory (the thread adds, the event loop takes off)."""
        self.lock = threading.Lock()
        self.spill: Any = None
        self.spilled = 0
        self.gone = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.gone:
            raise Gone
        data = bytes(data)
        self.gathered.append(data)
        self.size += len(data)
        if self.size >= CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self.gathered:
            return
        chunk, self.gathered, self.size = b"".join(self.gathered), [], 0
        with self.lock:
            in_memory = self.waiting + len(chunk) <= MEMORY_BYTES
            if in_memory:
                self.waiting += len(chunk)
        if in_memory:
            item = (0, 0, chunk)
        else:  # the client reads slower than we answer (or not yet): on disk meanwhile
            if self.spill is None:
                self.spill = tempfile.TemporaryFile(prefix="gridmap-answer-")  # noqa: SIM115
            os.pwrite(self.spill.fileno(), chunk, self.spilled)
            item = (self.spilled, len(chunk), None)
            self.spilled += len(chunk)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def finish(self) -> None:
        """The last bytes (unless the client is gone), then the end: called however the
        thread ends, so the sender never waits for bytes that will not come."""
        try:
            if not self.gone:
                self.flush()
        finally:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

    async def chunks(self, work: asyncio.Future[Any]) -> AsyncIterator[bytes]:
        """The answer's chunks until the thread ends (its error raised here: the answer is
        cut short, so the client sees a broken transfer, never a truncated success)."""
        try:
            while (item := await self.queue.get()) is not None:
                offset, length, chunk = item
                if chunk is None:
                    chunk = await asyncio.to_thread(os.pread, self.spill.fileno(), length, offset)
                else:
                    with self.lock:
                        self.waiting -= len(chunk)
                yield chunk
            await work
        finally:
            self.gone = True  # the thread stops at its next write
            await asyncio.wait([work])  # and writes nothing more to its file once closed
            if self.spill is not None:
                self.spill.close()


async def run_duplex(
    work: Callable[[Callable[[], None]], None],
) -> tuple[asyncio.Future[None], asyncio.Future[None]]:
    """Run ``work(ready)`` in a thread; ``ready()`` says the answer may begin.  Returns when
    it was called (or ``work`` ended first: its error raised here, before any answer) the
    future of ``ready`` and that of the thread."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        loop.call_soon_threadsafe(lambda: started.done() or started.set_result(None))

    thread = asyncio.ensure_future(asyncio.to_thread(work, ready))
    await asyncio.wait([started, thread], return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        thread.result()  # raises the thread's error
        started.set_result(None)
    return started, thread


class DuplexResponse(StreamingResponse):
    """A streamed answer sent while the request body may still be arriving; ``closed`` is
    called when it ends however it ends — sent, cut short, or never begun because the client
    went away first (the body's iterator then never runs, nor its ``finally``)."""

    def __init__(self, content: Any, *, closed: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.closed = closed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.closed()
