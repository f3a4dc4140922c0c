"""Bench-only consumers for the two paths Courtside is compared with (routed by tests.bench.asgi).

Both check the socket exactly as realtime.consumers.LiveConsumer does (Origin, login, signed
stream token, access rules), so connecting costs the same; they differ only in delivery.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from realtime.consumers import authorize, load_user, origin_allowed
from realtime.hub import Hub, get_hub
from realtime.tokens import verify_streams

NOTIFY_PREFIX = "benchnote:"


def textbook_group(key: str) -> str:
    return "benchtb." + key.replace(":", ".")


class _Checked(AsyncWebsocketConsumer):
    keys: list[str]

    async def checked_keys(self) -> list[str] | None:
        """Accept, then the same checks as the live consumer; None (and closed) on failure."""
        self.keys = []
        await self.accept()
        if not origin_allowed(self.scope):
            await self.close(code=4403)
            return None
        user = await load_user(self.scope)
        if not user.is_authenticated:
            await self.close(code=4401)
            return None
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        keys = verify_streams(query.get("t", [""])[0], user.pk)
        if keys is None:
            await self.close(code=4401)
            return None
        if not await database_sync_to_async(authorize)(user, keys):
            await self.close(code=4403)
            return None
        return keys

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass  # the bench clients never send


class TextbookConsumer(_Checked):
    """The Channels docs' way: every socket's consumer joins the stream's group and gets each
    rendered fragment as a group_send message, which its handler writes to its socket."""

    async def connect(self) -> None:
        keys = await self.checked_keys()
        if keys is None:
            return
        for key in keys:
            await self.channel_layer.group_add(textbook_group(key), self.channel_name)
        self.keys = keys
        await self.send(text_data=json.dumps({"t": "ready", "seqs": {}}))

    async def bench_fragment(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

    async def disconnect(self, code: int) -> None:
        for key in self.keys:
            await self.channel_layer.group_discard(textbook_group(key), self.channel_name)


class NotifyConsumer(_Checked):
    """The seeds' way (Supabase postgres_changes, then refetch): a small "stream changed"
    notice, delivered here through Courtside's own hub (its best case); the client then GETs
    /live/<key>/. The notices ride hub keys `benchnote:<key>`, which no fragment kind claims."""

    hub: Hub | None = None

    async def connect(self) -> None:
        keys = await self.checked_keys()
        if keys is None:
            return
        self.push_send = self.scope.get("server_send") or self.base_send  # as LiveConsumer
        self.hub = await get_hub()
        self.keys = [NOTIFY_PREFIX + key for key in keys]
        await self.hub.subscribe(self, self.keys)
        await self.send(text_data=json.dumps({"t": "ready", "seqs": {}}))

    async def disconnect(self, code: int) -> None:
        if self.hub is not None:
            self.hub.unsubscribe(self, self.keys)
            self.hub = None

    async def access_changed(self) -> None:
        pass

    async def live_down(self) -> None:
        self.hub = None
        await self.close(code=4503)
