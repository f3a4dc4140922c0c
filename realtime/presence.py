"""Who else is here: one process's share of presence (seed 004's "presence", Phoenix Presence's
idea of one entry per socket and a summary per topic).

Each socket on a fragment kind with presence (`LiveFragment.presence`) adds one entry to the
stream's presence (realtime.ephemeral), as the viewer is shown to others. The process keeps its
entries alive, sweeps entries whose process died, and after any join, leave or sweep broadcasts
a summary of the stream's presence on the stream itself, coalesced, and one process at a time
(a page load of 1,000 viewers is a few summaries, not 1,000): one person with several tabs
counts once.

The summary goes in two variants: with names and roles for viewers who may see them (the
kind's rule, from the access rules), and as a count for everyone else. Each socket gets the
variant it was admitted to; a count never carries a name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from asgiref.sync import sync_to_async

from realtime import messages
from realtime.ephemeral import PRESENCE_TTL, get_ephemeral
from realtime.fragments import Presence


class Hub(Protocol):
    """What presence needs of its process's hub (realtime.hub), which owns the tracker."""

    loop: asyncio.AbstractEventLoop

    def background(self, coroutine: Coroutine[Any, Any, Any]) -> None: ...
    async def broadcast(
        self, key: str, text: str, variants: dict[str, str] | None = None
    ) -> None: ...


Socket = Any  # a consumer (realtime.hub.Socket); presence only tells them apart

log = logging.getLogger(__name__)

COALESCE = 0.15  # seconds between a change and its summary (within 1 s of arriving or leaving)
TURN = 0.3  # at most one summary of a stream per TURN seconds, across processes
# ... and per CROWDED_TURN where a process has CROWD viewers of it: each summary is a message
# to every one of them, and while thousands of viewers connected the summaries were most of
# the workers' writes (docs/benchmarks.md). Either way a change is said within
# COALESCE + turn + SLACK (< 1 s).
CROWD = 100
CROWDED_TURN = 0.7
SLACK = 0.02  # after the turn another process holds ends
REFRESH = PRESENCE_TTL / 3  # seconds between pushes of this process's entries' expiry
MAX_NAMES = 12  # names in a summary; the count says how many more
NAMES = "names"  # the variant of sockets that may see who the others are


@dataclass
class Seat:
    """One socket's place in one stream's presence."""

    key: str
    presence: Presence
    user_id: int
    tag: str  # the socket's own random id, so a user's tabs are told apart
    away: bool = False

    @property
    def entry(self) -> str:
        p = self.presence
        return json.dumps([self.user_id, self.tag, p.name, p.role, self.away])


def summarize(key: str, version: int, entries: Iterable[str]) -> tuple[str, str]:
    """The count and the names variants of a stream's presence."""
    people: dict[int, dict[str, Any]] = {}
    for raw in entries:
        user_id, _tag, name, role, away = json.loads(raw)
        person = people.setdefault(
            user_id, {"u": user_id, "name": name, "role": role, "away": True}
        )
        person["away"] = person["away"] and away  # away only if every tab is
    who = sorted(people.values(), key=lambda p: (p["away"], p["name"].lower()))[:MAX_NAMES]
    return (
        messages.presence(key, version, len(people)),
        messages.presence(key, version, len(people), who),
    )


class PresenceTracker:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.store = get_ephemeral()
        self.seats: dict[Socket, Seat] = {}
        self._pending: set[str] = set()
        self._changed: dict[str, float] = {}  # loop time of each pending stream's last change
        self._audience: Counter[str] = Counter()  # this process's seats per stream

    async def join(self, socket: Socket, seat: Seat) -> None:
        self.seats[socket] = seat
        self._audience[seat.key] += 1
        await sync_to_async(self.store.presence_join, thread_sensitive=False)(seat.key, seat.entry)
        self._schedule(seat.key)

    async def set_away(self, socket: Socket, away: bool) -> None:
        seat = self.seats.get(socket)
        if seat is None or seat.away == away:
            return
        old = seat.entry
        seat.away = away
        await sync_to_async(self._replace, thread_sensitive=False)(seat.key, old, seat.entry)
        self._schedule(seat.key)

    def _replace(self, key: str, old: str, new: str) -> None:
        self.store.presence_leave(key, old)
        self.store.presence_join(key, new)

    def leave(self, socket: Socket) -> None:
        """A socket closed: it leaves at once (in the background: closing must not wait)."""
        seat = self.seats.pop(socket, None)
        if seat is not None:
            self._audience[seat.key] -= 1
            if self._audience[seat.key] <= 0:
                del self._audience[seat.key]
            self.hub.background(self._leave(seat))

    async def _leave(self, seat: Seat) -> None:
        with contextlib.suppress(Exception):
            await sync_to_async(self.store.presence_leave, thread_sensitive=False)(
                seat.key, seat.entry
            )
        self._schedule(seat.key)

    def _schedule(self, key: str) -> None:
        self._changed[key] = self.hub.loop.time()
        if key not in self._pending:
            self._pending.add(key)
            self._later(key, COALESCE, None)

    def _later(self, key: str, delay: float, failed_at: float | None) -> None:
        self.hub.loop.call_later(delay, lambda: self.hub.background(self._turn(key, failed_at)))

    async def _turn(self, key: str, failed_at: float | None) -> None:
        """Summarize the stream's presence if this process gets the stream's turn; else try
        again when the turn ends. A turn taken after this process's last failed try read the
        entries after it, so it covered every change here until that try: no change goes
        unsaid, and a stream gets one summary per turn whichever processes its viewers join."""
        now = self.hub.loop.time()
        try:
            seconds = CROWDED_TURN if self._audience[key] >= CROWD else TURN
            turn = await sync_to_async(self.store.presence_turn, thread_sensitive=False)(
                key, seconds
            )
            if turn.left == 0:
                count, names = summarize(key, turn.version, turn.entries)
                await self.hub.broadcast(key, count, {NAMES: names})
        except Exception:
            log.warning("could not broadcast the presence of %s", key, exc_info=True)
            self._pending.discard(key)  # the next join, leave or sweep tries again
            return
        covered = now if turn.left == 0 else failed_at
        if covered is not None and self._changed.get(key, now) <= covered:
            self._pending.discard(key)
            self._changed.pop(key, None)
        elif turn.left == 0:
            self._later(key, COALESCE, None)  # changed while it was said
        else:
            self._later(key, turn.left + SLACK, now)

    async def keep_alive(self) -> None:
        """Push this process's entries' expiry forward, and sweep the streams it serves of
        entries whose process stopped doing so (killed): their viewers leave everyone's page
        within PRESENCE_TTL + REFRESH."""
        while True:
            await asyncio.sleep(REFRESH)
            mine: dict[str, list[str]] = {}
            for seat in list(self.seats.values()):
                mine.setdefault(seat.key, []).append(seat.entry)
            try:
                await sync_to_async(self.store.presence_refresh, thread_sensitive=False)(mine)
                swept = await sync_to_async(self.store.presence_sweep, thread_sensitive=False)(
                    list(mine)
                )
            except Exception:
                continue  # Redis away: the hub notices and closes its sockets
            for key in swept:
                self._schedule(key)
