"""Pre-framed pushes (realtime.framing): the bytes are a valid server text frame, and a socket
the direct write cannot serve safely falls back to the ASGI send."""

from __future__ import annotations

import functools
import pprint
import socket
from typing import Any
from unittest import mock

import pytest
from autobahn.websocket.protocol import WebSocketProtocol
from websockets.frames import Frame, Opcode

from realtime import framing


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 300_000])
def test_frame_matches_a_reference_encoder(size: int) -> None:
    text = ("é" + "x" * size)[:size]
    assert framing.frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class Protocol:
    STATE_OPEN = WebSocketProtocol.STATE_OPEN
    SEND_STATE_GROUND = WebSocketProtocol.SEND_STATE_GROUND

    def __init__(self) -> None:
        self.state = self.STATE_OPEN
        self.send_state = self.SEND_STATE_GROUND
        self._perMessageCompress: Any = None
        self.send_queue: list[Any] = []
        self.transport = Transport()
        self.maxMessagePayloadSize = 1 << 20


class Server:
    """Daphne's server as far as its send goes: `partial(server.handle_reply, protocol)`."""

    def __init__(self) -> None:
        self.connections: dict[Any, dict[str, Any]] = {}

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        raise AssertionError("the direct write should have been used")


def test_an_open_daphne_socket_gets_the_bytes_directly() -> None:
    server, protocol = Server(), Protocol()
    server.connections[protocol] = {}
    data = framing.frame("hello")
    assert framing.write(functools.partial(server.handle_reply, protocol), data)
    assert protocol.transport.written == [data]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda s, p: s.connections.pop(p),
        lambda s, p: s.connections[p].update(disconnected=True),
        lambda s, p: setattr(p, "state", WebSocketProtocol.STATE_CLOSING),
        lambda s, p: setattr(p, "send_state", WebSocketProtocol.SEND_STATE_INSIDE_MESSAGE),
        lambda s, p: setattr(p, "_perMessageCompress", object()),
        lambda s, p: p.send_queue.append(b"x"),
        lambda s, p: setattr(p, "maxMessagePayloadSize", 3),
    ],
)
def test_anything_unusual_falls_back_to_the_asgi_send(spoil: Any) -> None:
    server, protocol = Server(), Protocol()
    server.connections[protocol] = {}
    spoil(server, protocol)
    assert not framing.write(functools.partial(server.handle_reply, protocol), b"\x81\x05hello")
    assert protocol.transport.written == []


def test_another_server_falls_back() -> None:
    async def send(message: dict[str, Any]) -> None: ...

    assert not framing.write(send, b"\x81\x00")


class Reactor:
    """What a Twisted transport asks of its reactor when it has to wait to write."""

    def __init__(self) -> None:
        self.writers: list[Any] = []

    def addWriter(self, writer: Any) -> None:
        if writer not in self.writers:  # a set, as real reactors keep
            self.writers.append(writer)

    def removeWriter(self, writer: Any) -> None:
        if writer in self.writers:
            self.writers.remove(writer)


@pytest.fixture
def tcp():  # type: ignore[no-untyped-def]
    from twisted.internet.tcp import Connection

    a, b = socket.socketpair()
    a.setblocking(False)
    reactor = Reactor()
    conn = Connection(a, None, reactor=reactor)
    conn.connected = 1
    yield conn, b, reactor
    a.close()
    b.close()


def test_an_idle_transport_is_written_straight_to_its_socket(tcp) -> None:  # type: ignore[no-untyped-def]
    conn, peer, reactor = tcp
    framing._send_now(conn, b"hello")
    assert peer.recv(100) == b"hello"
    assert reactor.writers == []  # no writability round trip


def test_queued_data_keeps_its_place_in_line(tcp) -> None:  # type: ignore[no-untyped-def]
    conn, peer, reactor = tcp
    conn.write(b"first ")  # waits for writability
    framing._send_now(conn, b"second")
    assert reactor.writers == [conn]
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing overtook the queued bytes
    conn.doWrite()
    assert peer.recv(100) == b"first second"


def test_what_the_kernel_does_not_take_is_buffered(tcp) -> None:  # type: ignore[no-untyped-def]
    conn, peer, reactor = tcp
    big = b"x" * 8_000_000
    framing._send_now(conn, big)
    assert reactor.writers == [conn]  # the rest waits for writability
    got = bytearray()
    while len(got) < len(big):
        got += peer.recv(1 << 20)
        if conn.dataBuffer or conn._tempDataBuffer:
            conn.doWrite()
    assert bytes(got) == big


def test_autobahn_formats_its_options_only_for_a_line_it_writes() -> None:
    """A new socket's debug line of protocol options is not pretty-printed unless logged."""
    from autobahn.websocket import protocol

    options = [("autoPingInterval", 0, "WebSocketServerFactory")] * 29
    expected = pprint.pformat(options)
    framing.quiet_connection_debug_log()
    with mock.patch.object(pprint, "pformat", wraps=pprint.pformat) as made:
        lazy = protocol.pformat(options)
        assert made.call_count == 0
        assert f"\n{lazy}" == "\n" + expected  # when the line is written
        assert made.call_count == 1
