"""The one WebSocket of a live page.

On connect it checks, in order: the Origin is ours, a user is logged in, the page's signed
stream token is theirs, and every stream in it passes the access rules now. Any failure closes
the socket with a code and sends nothing. Then the socket joins its streams through the
process hub, which writes pushed fragments to it directly; this consumer only answers pings.

Close codes: 4400 malformed frame, 4401 not logged in or bad token, 4403 forbidden stream or
foreign Origin, 4503 live updates unavailable (Redis down), 1009 frame too large, 1003 binary
frame.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from realtime import fragments, messages
from realtime.ephemeral import HOLD_TTL, get_ephemeral
from realtime.fragments import Presence, Resolved
from realtime.hub import Hub, get_hub
from realtime.presence import NAMES, Seat
from realtime.ratelimit import TokenBucket
from realtime.store import get_store
from realtime.streams import user_stream
from realtime.tokens import verify_streams
from realtime.viewers import viewer_of

log = logging.getLogger(__name__)

MAX_FRAME = 1024  # the client only ever sends small frames (pings, presence, holds)
ITEM = re.compile(r"[A-Za-z0-9:_.+-]{1,60}")  # what a hold names: a session id, a slot's time


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Same idea as channels' AllowedHostsOriginValidator, but answered with a close code."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return False
    host = urlparse(origin).hostname or ""
    allowed = settings.ALLOWED_HOSTS or (
        ["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else []
    )
    return validate_host(host, allowed)


@dataclass(frozen=True)
class Admission:
    """What a socket was let in to: its fragments, and its place in presence if any."""

    resolved: list[Resolved]
    presence: tuple[str, Presence] | None  # the first of its fragments that has presence


def admit(user: Any, keys: list[str]) -> Admission | None:
    """Every stream must name something that exists and that this user may read now."""
    viewer = viewer_of(user)
    resolved = fragments.resolve_allowed(keys, viewer)
    if len(resolved) != len(set(keys)):
        return None
    for r in resolved:
        view = r.fragment.presence(viewer, r.rows)
        if view is not None:
            return Admission(resolved, (r.key, view))
    return Admission(resolved, None)


def authorize(user: Any, keys: list[str]) -> bool:
    return admit(user, keys) is not None


class LiveConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel of its own: the process hub is the one member of each stream's
    # group and writes to this socket directly. A layer alias that names no layer makes
    # channels skip the per-socket channel, its receive task and buffer (memory per idle
    # socket: docs/benchmarks.md).
    channel_layer_alias = "courtside-no-layer-per-socket"
    hub: Hub | None = None
    keys: list[str]
    fragment_keys: list[str]

    async def connect(self) -> None:
        self.keys, self.fragment_keys = [], []
        self.variants: dict[str, str] = {}
        self.hold_keys: set[str] = set()
        self.holding: set[tuple[str, str]] = set()
        self.tag = secrets.token_urlsafe(6)  # this socket, to others: never a name
        self.bucket = TokenBucket()
        await self.accept()
        if not origin_allowed(self.scope):
            await self.close(code=4403)
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        token = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("t", [""])[0]
        keys = verify_streams(token, user.pk)
        if keys is None:
            await self.close(code=4401)
            return
        admission = await database_sync_to_async(admit)(user, keys)
        if admission is None:
            await self.close(code=4403)
            return
        self.user = user
        self.fragment_keys = keys
        self.hold_keys = {r.key for r in admission.resolved if r.fragment.holds}
        self.push_send = self.scope.get("server_send") or self.base_send
        ready: dict[str, Any] = {"t": "ready", "you": {"u": user.pk, "tag": self.tag}}
        try:
            self.hub = await get_hub()
            self.keys = [*keys, user_stream(user.pk)]
            await self.hub.subscribe(self, self.keys)
            if admission.presence is not None:
                key, view = admission.presence
                if view.sees_names:
                    self.variants[key] = NAMES
                await self.hub.presence.join(self, Seat(key, view, user.pk, self.tag))
                ready["presence"] = {"k": key, "place": view.place, "names": view.sees_names}
            ready["epoch"], ready["seqs"] = await sync_to_async(
                get_store().snapshot, thread_sensitive=False
            )(keys)
            if self.hold_keys:
                ready["holds"] = await sync_to_async(self._holds, thread_sensitive=False)()
        except Exception:
            log.warning("live updates unavailable for a new socket", exc_info=True)
            await self.close(code=4503)
            return
        await self.send(text_data=json.dumps(ready))

    def _holds(self) -> dict[str, dict[str, str]]:
        store = get_ephemeral()
        return {key: store.holds(key) for key in sorted(self.hold_keys)}

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.close(code=1003)  # binary: the client only speaks JSON text
            return
        if len(text_data) > MAX_FRAME:
            await self.close(code=1009)
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self.close(code=4400)
            return
        kind = message.get("t") if isinstance(message, dict) else None
        if kind == "ping":
            await self._pong()
        elif kind in ("presence", "hold", "unhold"):
            # What reaches other people is rate-limited; a flood closes only this socket.
            if not self.bucket.take():
                await self.close(code=4429)
            elif kind == "presence":
                await self._presence(message)
            else:
                await self._hold(message, on=kind == "hold")
        else:
            await self.close(code=4400)

    async def _pong(self) -> None:
        try:
            epoch, seqs = await sync_to_async(get_store().snapshot, thread_sensitive=False)(
                self.fragment_keys
            )
        except Exception:
            await self.close(code=4503)
            return
        await self.send(text_data=json.dumps({"t": "pong", "epoch": epoch, "seqs": seqs}))

    async def _presence(self, message: dict[str, Any]) -> None:
        away = message.get("away")
        if not isinstance(away, bool):
            await self.close(code=4400)
        elif self.hub is not None:
            await self.hub.presence.set_away(self, away)

    async def _hold(self, message: dict[str, Any], *, on: bool) -> None:
        """ "Someone is booking this": only on a stream of this socket whose kind has holds, for
        an item of a plausible shape. Advisory: the database still decides."""
        key, item = message.get("k"), message.get("i")
        if key not in self.hold_keys or not isinstance(item, str) or not ITEM.fullmatch(item):
            await self.close(code=4400)
            return
        store = get_ephemeral()
        change = store.hold if on else store.release
        if not await sync_to_async(change, thread_sensitive=False)(key, item, self.tag):
            return  # someone else holds it, or it was not ours to release
        if on:
            self.holding.add((key, item))
        else:
            self.holding.discard((key, item))
        if self.hub is not None:
            await self.hub.broadcast(key, messages.hold(key, item, self.tag, on, HOLD_TTL))

    async def _release_holds(self, hub: Hub) -> None:
        store = get_ephemeral()
        for key, item in sorted(self.holding):
            with contextlib.suppress(Exception):
                if await sync_to_async(store.release, thread_sensitive=False)(key, item, self.tag):
                    await hub.broadcast(key, messages.hold(key, item, self.tag, False, HOLD_TTL))
        self.holding.clear()

    async def disconnect(self, code: int) -> None:
        self._leave_streams()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # Leave the streams before closing: the client's disconnect comes later, and until then
        # the hub would go on writing pushes to this socket (after a 4403, what it may not read).
        self._leave_streams()
        await super().close(code=code, reason=reason)

    def _leave_streams(self) -> None:
        if self.hub is not None:
            if self.holding:
                self.hub.background(self._release_holds(self.hub))
            self.hub.unsubscribe(self, self.keys)
            self.hub = None

    # -- called by the hub --

    async def access_changed(self) -> None:
        """The user's roles or family changed: keep the socket only if every stream still passes."""
        try:
            allowed = await database_sync_to_async(authorize)(self.user, self.fragment_keys)
        except Exception:
            # Unknown is not allowed: close; the page reconnects and is checked afresh.
            log.warning("could not re-check a socket's access", exc_info=True)
            await self.close(code=4503)
            return
        if not allowed:
            await self.close(code=4403)

    async def live_down(self) -> None:
        self.hub = None
        await self.close(code=4503)
