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

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from realtime import fragments
from realtime.hub import Hub, get_hub
from realtime.store import get_store
from realtime.streams import user_stream
from realtime.tokens import verify_streams
from realtime.viewers import viewer_of

log = logging.getLogger(__name__)

MAX_FRAME = 1024  # the client only ever sends tiny pings


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


def authorize(user: Any, keys: list[str]) -> bool:
    """Every stream must name something that exists and that this user may read now."""
    return len(fragments.resolve_allowed(keys, viewer_of(user))) == len(set(keys))


class LiveConsumer(AsyncWebsocketConsumer):
    hub: Hub | None = None
    keys: list[str]
    fragment_keys: list[str]

    async def connect(self) -> None:
        self.keys, self.fragment_keys = [], []
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
        if not await database_sync_to_async(authorize)(user, keys):
            await self.close(code=4403)
            return
        self.user = user
        self.fragment_keys = keys
        self.push_send = self.scope.get("server_send") or self.base_send
        try:
            self.hub = await get_hub()
            self.keys = [*keys, user_stream(user.pk)]
            await self.hub.subscribe(self, self.keys)
            epoch, seqs = await sync_to_async(get_store().snapshot, thread_sensitive=False)(keys)
        except Exception:
            log.warning("live updates unavailable for a new socket", exc_info=True)
            await self.close(code=4503)
            return
        await self.send(text_data=json.dumps({"t": "ready", "epoch": epoch, "seqs": seqs}))

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
        if not isinstance(message, dict) or message.get("t") != "ping":
            await self.close(code=4400)
            return
        try:
            epoch, seqs = await sync_to_async(get_store().snapshot, thread_sensitive=False)(
                self.fragment_keys
            )
        except Exception:
            await self.close(code=4503)
            return
        await self.send(text_data=json.dumps({"t": "pong", "epoch": epoch, "seqs": seqs}))

    async def disconnect(self, code: int) -> None:
        self._leave_streams()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # Leave the streams before closing: the client's disconnect comes later, and until then
        # the hub would go on writing pushes to this socket (after a 4403, what it may not read).
        self._leave_streams()
        await super().close(code=code, reason=reason)

    def _leave_streams(self) -> None:
        if self.hub is not None:
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
