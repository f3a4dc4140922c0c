"""One process's fan-out: one subscription per stream per process, the same bytes to every
local socket of that stream.

The textbook Channels path gives every socket its own consumer in the channel-layer group, so a
message to 1,000 viewers is 1,000 layer deliveries and 1,000 handler dispatches
(shared/reference/fanout-baseline.md: 120-230 us per socket). Here the process's hub is the one
member of the group; it receives a message once and writes the pre-encoded text straight to
each local socket's ASGI send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from realtime import framing, metrics, periodic
from realtime.messages import ACCESS_CHECK
from realtime.presence import PresenceTracker
from realtime.store import WATCH_TTL, get_store
from realtime.streams import group_name

log = logging.getLogger(__name__)

Delivery = tuple[str, str, dict[str, str] | None]  # key, text, variants (in-memory mode)
HEALTH_INTERVAL = 2.0  # seconds between checks that Redis still answers
LAYER_TIMEOUT = 2.0


class Socket(Protocol):
    user_id: int  # whose socket it is (its access is re-checked by user id)
    push_send: Any  # the ASGI server's send for this socket (see routing.KeepServerSend)
    variants: dict[str, str]  # stream key -> which variant of a varied message it gets

    async def access_changed(self) -> None: ...
    async def live_down(self) -> None: ...


class Hub:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.layer = get_channel_layer()
        self.sockets: dict[str, set[Socket]] = {}
        self.joining: dict[str, asyncio.Future[None]] = {}
        self.channel: str | None = None
        self.healthy = True
        self._tasks: list[asyncio.Task[None]] = []
        self.uses_layer = bool(settings.REDIS_URL)
        self._background: set[asyncio.Task[Any]] = set()
        self.presence = PresenceTracker(self)

    async def start(self) -> None:
        if self.uses_layer:
            self.channel = await asyncio.wait_for(self.layer.new_channel(), LAYER_TIMEOUT)
            self._tasks.append(asyncio.create_task(self._read()))
        else:
            self.inbox: asyncio.Queue[Delivery] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._read_local()))
        self._tasks.append(asyncio.create_task(self._keep_watching()))
        self._tasks.append(asyncio.create_task(self.presence.keep_alive()))
        self._tasks.append(asyncio.create_task(periodic.keep_pushing(self)))

    # -- sockets joining and leaving --

    async def subscribe(self, socket: Socket, keys: list[str]) -> None:
        new = []
        for key in keys:
            members = self.sockets.setdefault(key, set())
            members.add(socket)
            if key not in self.joining:
                self.joining[key] = asyncio.ensure_future(self._join(key))
                new.append(key)
        metrics.socket_joined(len(keys), len(self.sockets))
        if new:
            await sync_to_async(get_store().watch, thread_sensitive=False)(new)
        # A socket is live only once the process listens on each of its streams.
        await asyncio.gather(*(asyncio.shield(self.joining[key]) for key in keys))

    async def _join(self, key: str) -> None:
        if self.uses_layer:
            await asyncio.wait_for(
                self.layer.group_add(group_name(key), self.channel), LAYER_TIMEOUT
            )

    def unsubscribe(self, socket: Socket, keys: list[str]) -> None:
        self.presence.leave(socket)
        gone = []
        for key in keys:
            members = self.sockets.get(key)
            if members is None:
                continue
            members.discard(socket)
            if not members:
                del self.sockets[key]
                self.joining.pop(key, None)
                gone.append(key)
        metrics.socket_left(len(keys), len(self.sockets))
        if gone:
            get_store().unwatch(gone)
            if self.uses_layer and self.healthy:
                for key in gone:
                    self.background(self._leave(key))

    async def _leave(self, key: str) -> None:
        with contextlib.suppress(Exception):
            if key not in self.sockets:
                await asyncio.wait_for(
                    self.layer.group_discard(group_name(key), self.channel), LAYER_TIMEOUT
                )

    def background(self, coroutine: Any) -> None:
        """Run a coroutine on the hub's loop, holding a reference so it is not collected."""
        task = self.loop.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- delivery --

    async def broadcast(self, key: str, text: str, variants: dict[str, str] | None = None) -> None:
        """From this process to every socket of a stream in every process (presence, holds)."""
        if self.uses_layer:
            message = {"type": "live.message", "key": key, "text": text, "variants": variants}
            await asyncio.wait_for(self.layer.group_send(group_name(key), message), LAYER_TIMEOUT)
        else:
            self.inbox.put_nowait((key, text, variants))

    async def deliver(self, key: str, text: str, variants: dict[str, str] | None = None) -> None:
        """The same text to every local socket of the stream; a varied message (presence) gives
        each socket the variant it was admitted to, and the plain text to the rest."""
        members = self.sockets.get(key)
        if not members:
            return
        if text == ACCESS_CHECK:  # for the sockets, not the browsers: re-check access
            for socket in list(members):
                await socket.access_changed()
            return
        metrics.delivered(key, len(members), len(text))  # once per message, not per socket
        texts = {"": text, **(variants or {})}
        frames: dict[str, bytes] = {}  # built on first use: one encode per text, not per socket
        for socket in list(members):
            if socket not in members:
                continue  # it left (closed) while an earlier socket was being written to
            name = socket.variants.get(key, "") if variants else ""
            which = texts.get(name, text)
            if which is text:
                name = ""
            data = frames.get(name)
            if data is None:
                data = frames[name] = framing.frame(which)
            send = socket.push_send
            if framing.write(send, data):
                continue
            try:
                await send({"type": "websocket.send", "text": which})
            except Exception:  # a socket closing under us; its disconnect cleans up
                members.discard(socket)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)
                continue
            if message.get("recheck"):
                await self._recheck(message["key"], message["recheck"])
            await self._deliver_safely(message["key"], message["text"], message.get("variants"))

    async def _recheck(self, key: str, user_ids: list[int]) -> None:
        """A message from a pass that changed these users' access: their sockets on this stream
        re-check it before it is written. The same pass's `access` messages on the users' own
        streams do it too, but over a layer sharded across Redis servers only one stream's
        messages keep their order, and this one may arrive first."""
        for socket in list(self.sockets.get(key, ())):
            if getattr(socket, "user_id", None) in user_ids:
                await socket.access_changed()

    async def _read_local(self) -> None:
        """In-memory mode: the publisher's messages one at a time, in the order it sent them (as
        _read does for the layer), so a socket's access re-check ends before the next message."""
        while True:
            key, text, variants = await self.inbox.get()
            await self._deliver_safely(key, text, variants)

    async def _deliver_safely(
        self, key: str, text: str, variants: dict[str, str] | None = None
    ) -> None:
        try:
            await self.deliver(key, text, variants)
        except Exception:  # one bad message must not stop this process's deliveries
            log.exception("live delivery failed for %s", key)

    # -- staying watched, and noticing Redis going away --

    async def _keep_watching(self) -> None:
        store = get_store()
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            alive = await _check_redis(store)
            if not alive:
                await self._lost()
                return
            if self.sockets and self._due_refresh():
                with contextlib.suppress(Exception):
                    await sync_to_async(store.watch, thread_sensitive=False)(list(self.sockets))

    _last_refresh = 0.0

    def _due_refresh(self) -> bool:
        now = self.loop.time()
        if now - self._last_refresh >= WATCH_TTL / 3:
            self._last_refresh = now
            return True
        return False

    async def _lost(self) -> None:
        """Redis stopped answering: whatever it would have carried is lost, so every socket is
        told (and closed); pages poll over HTTP and reconnect when Redis is back."""
        global _hub
        self.healthy = False
        if _hub is self:
            _hub = None
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        sockets = {socket for members in self.sockets.values() for socket in members}
        self.sockets.clear()
        self.joining.clear()
        metrics.hub_lost()
        for socket in sockets:
            with contextlib.suppress(Exception):
                await socket.live_down()
        if self.uses_layer:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.layer.flush(), LAYER_TIMEOUT)
        _recovery.add(self.loop.create_task(_until_redis_answers()))


_recovery: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak references


async def _until_redis_answers() -> None:
    """A lost hub's process keeps checking Redis until it answers again, so the live metrics
    read "Down" only while it is: a worker that no page reconnects to would otherwise keep its
    last failed check for good (a new hub, started by the next socket, checks for itself)."""
    store = get_store()
    try:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            if await _check_redis(store):
                return
    finally:
        _recovery.discard(asyncio.current_task())  # type: ignore[arg-type]


async def _check_redis(store: Any) -> bool:
    """One health check of Redis, recorded in the live metrics."""
    started = time.perf_counter()
    alive: bool = await sync_to_async(store.ping, thread_sensitive=False)()
    metrics.redis_checked(alive, time.perf_counter() - started)
    return alive


_hub: Hub | None = None
_starting: asyncio.Task[Hub] | None = None


async def get_hub() -> Hub:
    """This process's hub, started on first use in the server's event loop."""
    global _starting
    loop = asyncio.get_running_loop()
    hub = _hub
    if hub is not None and hub.loop is loop and hub.healthy:
        return hub
    if _starting is None or _starting.get_loop() is not loop or _starting.done():
        _starting = loop.create_task(_start_hub())
    return await asyncio.shield(_starting)


async def _start_hub() -> Hub:
    global _hub
    if not await sync_to_async(get_store().ping, thread_sensitive=False)():
        raise ConnectionError("live updates are unavailable (Redis does not answer)")
    hub = Hub()
    await hub.start()
    _hub = hub
    return hub


def deliver_local(key: str, text: str) -> None:
    """From the publisher thread, in-memory mode: hand a message to this process's hub."""
    hub = _hub
    if hub is None:
        return  # no socket in this process
    hub.loop.call_soon_threadsafe(hub.inbox.put_nowait, (key, text, None))
