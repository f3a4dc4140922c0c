"""A WebSocket proxy that loses frames: it forwards TCP both ways and drops a share of the
server's text frames (never the first of a connection, the socket's "ready"), as a lossy
network path or an overloaded intermediary would. Pages must notice by the numbers (a gap, the
heartbeat's pong, a reconnect's "ready") and resync."""

from __future__ import annotations

import asyncio
import contextlib
import random


class LossyProxy:
    def __init__(self, target_port: int, loss: float, seed: int = 0) -> None:
        self.target_port, self.loss = target_port, loss
        self.rng = random.Random(seed)
        self.dropped = 0
        self.forwarded = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer), self._frames(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Server to client: the HTTP upgrade answer, then frames (unmasked, RFC 6455)."""
        try:
            writer.write(await reader.readuntil(b"\r\n\r\n"))
            first = True
            while True:
                head = await reader.readexactly(2)
                length = head[1] & 0x7F
                extra = b""
                if length == 126:
                    extra = await reader.readexactly(2)
                    length = int.from_bytes(extra, "big")
                elif length == 127:
                    extra = await reader.readexactly(8)
                    length = int.from_bytes(extra, "big")
                payload = await reader.readexactly(length)
                text = head[0] == 0x81  # FIN and opcode 1: a whole text frame
                if text and not first and self.rng.random() < self.loss:
                    self.dropped += 1
                    continue
                first = first and not text
                self.forwarded += 1
                writer.write(head + extra + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
