"""Fragments pushed on a clock: a kind with `every = N` seconds (the live metrics page) is
rendered and pushed every N seconds while someone watches it, and never otherwise.

Each process's hub runs `keep_pushing`: for each stream of such a kind that one of its own
sockets watches, once per period, it asks the store for the period's turn (a Redis SET NX with
an expiry just under the period); the one process that gets it takes the stream's next number,
renders once and broadcasts to every process, like a change's push. One render per period for
the whole deployment, and the numbers stay gapless, so pages never resync over it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from channels.db import database_sync_to_async

from realtime import messages
from realtime.fragments import KINDS, resolve
from realtime.store import get_store

log = logging.getLogger(__name__)

TICK = 0.5  # seconds between looks at this process's streams
TURN = 0.9  # a turn lasts this share of the period: the next one is free when it is due


class Hub(Protocol):
    sockets: dict[str, Any]

    async def broadcast(
        self, key: str, text: str, variants: dict[str, str] | None = None
    ) -> None: ...


def periods() -> dict[str, float]:
    """Kind name -> seconds, for the kinds pushed on a clock."""
    return {name: kind.every for name, kind in KINDS.items() if kind.every > 0}


async def keep_pushing(hub: Hub) -> None:
    kinds = periods()
    if not kinds:
        return
    loop = asyncio.get_running_loop()
    last: dict[str, float] = {}
    while True:
        await asyncio.sleep(TICK)
        now = loop.time()
        watched = [key for key in hub.sockets if key.partition(":")[0] in kinds]
        for key in list(last):
            if key not in hub.sockets:
                del last[key]
        for key in watched:
            every = kinds[key.partition(":")[0]]
            if now - last.get(key, 0.0) < every:
                continue
            last[key] = now
            try:
                text = await database_sync_to_async(render_turn)(key, every)
                if text is not None:
                    await hub.broadcast(key, text)
            except Exception:
                log.warning("could not push %s", key, exc_info=True)


def render_turn(key: str, every: float) -> str | None:
    """The stream's message if this process has the period's turn, else None."""
    store = get_store()
    if not store.claim(f"periodic:{key}", every * TURN):
        return None
    resolved = resolve(key)
    if resolved is None:
        return None
    seq = store.next_seq(key)  # before the render, as for a change
    return messages.fragment(key, seq, resolved.render(oob=True))
