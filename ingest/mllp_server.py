"""The MLLP listener: many feeds at once, each frame answered in order, ACKs only after commit.

Each connection reads frames and hands them to the `IngestionWorker` (the store is never touched
on the event loop), then writes the ACKs back in the order the frames came, each as soon as its
batch is committed; a sender may pipeline. A connection is closed, and only that one, when its
framing breaks (bytes outside a frame, an oversized or interrupted frame), when it stays idle with
nothing unanswered, or when the store fails: then the frames in flight get no ACK, so the sender
resends them, and receipts make the resend harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.archive import Arrival
from ingest.mllp import DEFAULT_MAX_FRAME_BYTES, FrameError, MllpDecoder, frame
from ingest.receiver import Reply
from ingest.worker import IngestionWorker

log = logging.getLogger(__name__)

_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class MllpLimits:
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    idle_timeout: float = 300.0  # seconds without a byte while nothing is waiting for an ACK
    max_connections: int = 256
    # Frames read ahead of their ACKs on one connection; then reading waits (backpressure).
    max_unanswered: int = 512


class ConnectionBroken(Exception):
    """Why a connection is closed without answering what it still has in flight."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer: str
    replies: asyncio.Queue[asyncio.Future[Reply] | None]
    unanswered: int = 0


class MllpServer:
    def __init__(self, worker: IngestionWorker, limits: MllpLimits | None = None) -> None:
        self.worker = worker
        self.limits = limits or MllpLimits()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, limit=_READ_SIZE)

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "start() first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop listening and drop every connection; what is in flight gets no ACK (the senders
        resend it, and receipts answer what was stored meanwhile)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in self._connections.values():
            writer.transport.abort()
        if self._connections:
            _, stuck = await asyncio.wait(self._connections, timeout=grace)
            for task in stuck:
                task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        if len(self._connections) >= self.limits.max_connections:
            log.warning("refused MLLP connection from %s: %d open", peer, len(self._connections))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None, "a connection is served by a task"
        self._connections[task] = writer
        connection = _Connection(
            reader, writer, peer, asyncio.Queue(maxsize=self.limits.max_unanswered)
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._read(connection))
                tasks.create_task(self._answer(connection))
        except* (ConnectionBroken, ConnectionError) as broken:
            log.warning("closed MLLP connection from %s: %s", peer, broken.exceptions[0])
            writer.transport.abort()
        except* Exception:  # a bug here must cost this connection only, never the listener
            log.exception("MLLP connection from %s failed", peer)
            writer.transport.abort()
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _read(self, connection: _Connection) -> None:
        """Submit frames until the stream ends or its framing breaks; what came before a broken
        frame is still answered, then the connection closes."""
        decoder = MllpDecoder(self.limits.max_frame_bytes)
        while data := await self._next_bytes(connection):
            for item in decoder.feed(data):
                if isinstance(item, FrameError):
                    log.warning("MLLP framing from %s broken: %s", connection.peer, item.reason)
                    await connection.replies.put(None)
                    return
                await self._submit(connection, item)
        await connection.replies.put(None)

    async def _next_bytes(self, connection: _Connection) -> bytes:
        """The next bytes, or b"" at end of stream or after an idle timeout with nothing owed."""
        while True:
            try:
                return await asyncio.wait_for(
                    connection.reader.read(_READ_SIZE), self.limits.idle_timeout
                )
            except TimeoutError:
                if connection.unanswered == 0:
                    log.info("closing idle MLLP connection from %s", connection.peer)
                    return b""

    async def _submit(self, connection: _Connection, payload: bytes) -> None:
        arrival = Arrival(payload, "mllp", connection.peer, datetime.now(UTC))
        connection.unanswered += 1
        await connection.replies.put(asyncio.wrap_future(self.worker.submit(arrival)))

    async def _answer(self, connection: _Connection) -> None:
        while (pending := await connection.replies.get()) is not None:
            try:
                reply = await pending
            except Exception as error:
                raise ConnectionBroken(f"the store failed, no ACK sent: {error}") from error
            connection.writer.write(frame(reply.ack_bytes))
            await connection.writer.drain()
            connection.unanswered -= 1


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
