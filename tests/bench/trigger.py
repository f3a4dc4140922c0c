"""The trigger: real changes through bookings.services, timed to the commit.

Correlation. The change runs inside an outer transaction.atomic() whose first on_commit
callback (registered before the service runs, so before change capture's flush) records
t_commit = time.time() and then reads the current sequence number s_c of every watched stream
the change can affect. That callback runs right after COMMIT and before the change is handed to
the publisher, so every sequence number above s_c is taken after the commit (the publisher
takes it before rendering): the first pushed message with seq > s_c on that stream is the first
one that can show the change, and it does. Latency = client receipt time - t_commit.

The same trigger drives the two comparison paths by swapping this process's publisher
(realtime.publisher.get_publisher) for a subclass that sends differently:
- TextbookPublisher: the same rendered fragment, group_send to a per-stream group that every
  textbook consumer joined (one layer delivery and one handler per socket);
- NotifyPublisher: no render, a small {"t":"c","k":key,"s":seq} notice on hub key
  benchnote:<key>; clients then GET /live/<key>/.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import connection, transaction

import realtime.publisher as publisher_module
from bookings.errors import BookingError
from bookings.live.changes import Change
from bookings.models import Player, SessionReservation
from bookings.services import reservation_cancel, reservation_create
from realtime import fragments, messages
from realtime.events import route
from realtime.publisher import Publisher, affected_keys
from realtime.store import get_store
from realtime.streams import group_name
from scheduling.models import GroupSession
from tests.bench.consumers import NOTIFY_PREFIX, textbook_group
from tests.bench.data import World, trigger_pairs


class TextbookPublisher(Publisher):
    """Renders once like Courtside, then group_sends the fragment to the textbook group."""

    def _send(self, key: str, text: str, recheck: list[int] | None = None) -> None:
        if not text.startswith('{"t":"f"'):
            return  # toasts and access notices are not part of this comparison
        assert self._loop is not None
        layer = get_channel_layer()
        self._loop.run_until_complete(
            asyncio.wait_for(
                layer.group_send(textbook_group(key), {"type": "bench.fragment", "text": text}),
                timeout=5.0,
            )
        )


class NotifyPublisher(Publisher):
    """The seeds' notify-then-refetch: a stream's number is taken as usual, nothing is rendered,
    a small notice goes to the stream's viewers (through the hub, Courtside's fan-out)."""

    def _publish(self, batch: list[Any]) -> None:
        changes = route([event for item in batch for event in item[0]]).changes
        store = get_store()
        watched = [
            k[len(NOTIFY_PREFIX) :] for k in store.watched_shared() if k.startswith(NOTIFY_PREFIX)
        ]
        keys: set[str] = set()
        for change in changes:
            keys.update(affected_keys(watched, change))
        for key in sorted(keys):
            seq = store.next_seq(key)
            note = json.dumps({"t": "c", "k": key, "s": seq}, separators=(",", ":"))
            super()._send(NOTIFY_PREFIX + key, note)


_original_get_publisher = publisher_module.get_publisher
_publishers: dict[str, Publisher] = {}


def use_publisher(mode: str) -> Publisher:
    """Make change capture in this process publish the `mode` way (live, textbook, notify)."""
    if mode == "live":
        publisher = _original_get_publisher()
    else:
        if mode not in _publishers:
            _publishers[mode] = {"textbook": TextbookPublisher, "notify": NotifyPublisher}[mode]()
        publisher = _publishers[mode]
    publisher_module.get_publisher = lambda: publisher  # send_on_commit looks it up per commit
    return publisher


class Trigger:
    def __init__(self, world: World, pairs: int = 240) -> None:
        self.world = world
        self.store = get_store()
        self.pairs = trigger_pairs(world, pairs)
        self.players = Player.objects.in_bulk([p for p, _, _ in self.pairs])
        self.sessions = GroupSession.objects.in_bulk(world.day_sessions)
        self.actor = get_user_model().objects.get(pk=world.staff_users[0])
        self.state: dict[int, SessionReservation | None] = dict.fromkeys(range(len(self.pairs)))
        self.cursor = 0
        self.events: list[tuple[str, int, float]] = []  # (stream key, s_c, t_commit)
        self.changes: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self._affected: dict[int, list[str]] = {}
        self.watched: list[str] = []

    def watch(self, keys: list[str]) -> None:
        """The streams viewers of this phase watch: the ones whose s_c each change reads."""
        self.watched = sorted(set(keys))
        self._affected.clear()

    def _keys_for(self, i: int) -> list[str]:
        if i not in self._affected:
            player, session, guardian = self.pairs[i]
            change = Change(
                self.world.live_academy,
                days={self.world.day},
                coach_ids={self.world.session_coach[session]},
                player_ids={player},
                guardian_ids={guardian} if guardian else set(),
                group_sessions=True,
                session_ids={session},
                occupancy_only=True,  # what routing makes of a reservation
            )
            self._affected[i] = affected_keys(self.watched, change)
        return self._affected[i]

    def change(self, i: int | None = None) -> dict[str, Any]:
        """Reserve or cancel (alternately per pair) one spot, as the academy's staff."""
        if i is None:
            i = self.cursor % len(self.pairs)
            self.cursor += 1
        player, session, _ = self.pairs[i]
        keys = self._keys_for(i)
        mark: dict[str, Any] = {}

        def committed() -> None:
            mark["t"] = time.time()
            mark["seqs"] = self.store.current_seqs(keys) if keys else {}

        started = time.time()
        try:
            with transaction.atomic():
                transaction.on_commit(committed)  # first in line: before the change's events
                if self.state[i] is None:
                    self.state[i] = reservation_create(
                        player=self.players[player],
                        session=self.sessions[session],
                        actor=self.actor,
                    )
                    what = "reserve"
                else:
                    reservation_cancel(reservation=self.state[i], actor=self.actor)
                    self.state[i] = None
                    what = "cancel"
        except BookingError as exc:  # nothing committed, nothing published: not an event
            self.refused.append(exc.code)
            self.state[i] = SessionReservation.objects.filter(
                player_id=player, session_id=session, status=SessionReservation.Status.RESERVED
            ).first()
            return {"what": "refused", "code": exc.code}
        done = time.time()
        for key, seq in mark["seqs"].items():
            self.events.append((key, seq, mark["t"]))
        record = {"what": what, "start": started, "commit": mark["t"], "return": done}
        self.changes.append(record)
        return record

    def run(self, *, count: int, rate: float, threads: int = 1) -> dict[str, Any]:
        """`count` changes at `rate` per second, paced from the start (late ones do not wait).
        One booking takes tens of milliseconds, so a burst needs several threads (each with its
        own database connection, on pairs no other thread touches in this run)."""
        assert threads == 1 or count <= len(self.pairs)
        base = self.cursor
        self.cursor += count
        start = time.time()
        starts: list[float] = []
        lock = threading.Lock()
        taken = [0]
        failures: list[BaseException] = []

        def work() -> None:
            try:
                while True:
                    with lock:
                        n = taken[0]
                        taken[0] += 1
                    if n >= count or failures:
                        return
                    delay = start + n / rate - time.time()
                    if delay > 0:
                        time.sleep(delay)
                    starts.append(time.time())
                    self.change((base + n) % len(self.pairs))
            except BaseException as exc:
                failures.append(exc)
            finally:
                if threading.current_thread() is not threading.main_thread():
                    connection.close()

        if threads == 1:
            work()
        else:
            pool = [threading.Thread(target=work, name=f"trigger-{k}") for k in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
        if failures:
            raise failures[0]
        took = time.time() - start
        # Starts per second over the paced span (n changes take n - 1 intervals).
        span = max(starts) - start if starts else 0
        achieved = (count - 1) / span if count > 1 and span > 0 else rate
        return {"changes": count, "seconds": round(took, 3), "achieved_rate": achieved}

    def reset(self) -> None:
        self.events.clear()
        self.changes.clear()
        self.refused.clear()


class Injector:
    """Delivery capacity without rendering: pre-rendered fragments sent straight to a stream's
    group (as the publisher would), numbered by the real per-stream counter."""

    def __init__(self, key: str) -> None:
        fragment = fragments.resolve(key)
        assert fragment is not None
        self.key = key
        self.html = fragment.render(oob=True)
        self.store = get_store()
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.sent: list[tuple[int, float]] = []  # (seq, time sent)

    def run(self, *, rate: float, seconds: float) -> dict[str, Any]:
        count = max(1, int(rate * seconds))
        start = time.time()
        for n in range(count):
            delay = start + n / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            seq = self.store.next_seq(self.key)
            text = messages.fragment(self.key, seq, self.html)
            t = time.time()
            self.loop.run_until_complete(
                self.layer.group_send(
                    group_name(self.key), {"type": "live.message", "key": self.key, "text": text}
                )
            )
            self.sent.append((seq, t))
        took = time.time() - start
        return {"sent": count, "seconds": round(took, 3), "offered_rate": count / took}

    def close(self) -> None:
        self.loop.run_until_complete(self.layer.flush())  # closes this loop's Redis connections
        self.loop.close()
