"""A pushed message framed once and written as the same bytes to every local socket.

Writing a text message through the ASGI send costs, per socket: daphne's `handle_reply`
coroutine, a UTF-8 encode of the text, and autobahn's `sendMessage` (argument asserts, traffic
counters, frame header assembly, and a debug log call whose arguments are formatted even when
debug is off). At a thousand sockets per push that was most of a worker's CPU per socket
message (docs/benchmarks.md). A server-to-client frame is never masked, so its bytes are the
same for every socket: the hub builds them once per message and hands them straight to each
socket's transport. A socket this path cannot serve safely (not daphne, not open, mid-message,
compressing, or with queued data) gets the ordinary ASGI send instead.

The transport is written as asyncio's own transports do: straight to the socket when nothing
is queued before it, buffering only what the kernel does not take. Twisted's `write` always
buffers and registers the socket for writability, then unregisters it once sent: two epoll
calls and a loop round per socket per message.
"""

from __future__ import annotations

import functools
import pprint
import struct
from typing import Any

from twisted.internet.tcp import Connection

TEXT = 0x81  # FIN + opcode 1 (text)


def frame(text: str) -> bytes:
    """One unmasked, unfragmented, uncompressed text frame (RFC 6455 section 5.2)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", TEXT, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", TEXT, 126, n)
    else:
        header = struct.pack("!BBQ", TEXT, 127, n)
    return header + payload


def protocol_of(send: Any) -> Any:
    """The daphne WebSocket protocol behind a socket's server send, or None (another server).
    Daphne's send is `partial(server.handle_reply, protocol)`."""
    if type(send) is functools.partial and getattr(send.func, "__name__", "") == "handle_reply":
        owner = getattr(send.func, "__self__", None)
        if owner is not None and hasattr(owner, "connections") and send.args:
            return send.args[0]
    return None


def write(send: Any, data: bytes) -> bool:
    """Write a pre-built frame to the socket behind this send if that is safe; False: use the
    ordinary send (which also raises for a closed socket, as the hub expects)."""
    protocol = protocol_of(send)
    if protocol is None:
        return False
    owner = send.func.__self__
    state = owner.connections.get(protocol)
    if (
        state is None
        or state.get("disconnected")
        or protocol.state != protocol.STATE_OPEN
        or protocol.send_state != protocol.SEND_STATE_GROUND
        or protocol._perMessageCompress is not None
        or protocol.send_queue
        or protocol.transport is None
        or 0 < protocol.maxMessagePayloadSize < len(data)
    ):
        return False
    _send_now(protocol.transport, data)
    return True


def _send_now(transport: Any, data: bytes) -> None:
    """As much of `data` as the socket takes now, the rest through the transport's buffer (in
    order: only when nothing is queued before it)."""
    if (
        not isinstance(transport, Connection)
        or transport.TLS
        or not transport.connected
        or transport.disconnecting
        or transport._writeDisconnected
        or transport._tempDataBuffer
        or len(transport.dataBuffer) > transport.offset
    ):
        transport.write(data)
        return
    try:
        sent = transport.socket.send(data)
    except OSError:
        # Full (the rest waits in the buffer) or lost (the transport's own write finds out).
        sent = 0
    if sent < len(data):
        transport.write(data[sent:])


class _Formatted:
    """pprint.pformat's text, made only if a log line is ever written with it."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __str__(self) -> str:
        return pprint.pformat(self.obj)

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def quiet_connection_debug_log() -> None:
    """Autobahn pretty-prints its 29 protocol options for a debug line on every new
    WebSocket (`WebSocketProtocol._connectionMade`), formatted even when debug is off: about
    0.2 ms of a worker's CPU per socket, paid again by every page of a reconnection storm.
    Its module's `pformat` becomes a lazy one: the text is made only if the line is logged.
    (The module's other use, `Timings.__str__`, serves `trackTimings`, which daphne leaves
    off.)"""
    from autobahn.websocket import protocol

    protocol.pformat = _Formatted  # type: ignore[assignment]
