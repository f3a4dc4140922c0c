"""Render once per stream, send once per stream.

One thread per process takes committed events off a queue (so a booking's HTTP response never
waits for rendering or for Redis), coalesces bursts, asks the apps' routers what they change,
finds the watched streams affected, and for each: takes the stream's next sequence number,
renders the fragment once, and sends the same bytes to every process watching it.

Durability: every event is also a row of the outbox (realtime.outbox), written in the writer's
transaction; this thread stamps the rows it sent, and a serving process's sweeper
(realtime.sweeper) sends any a dead or departed writer left. A process that exits at once (a
shell, a management command, cron) waits for this thread at interpreter exit.

Ordering: the sequence number is taken after the change committed and before the render, so a
message with a higher number always shows at least every change with a lower one; a client
that applies only increasing numbers converges on the database.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from realtime import hub, messages, metrics, outbox, streams
from realtime.events import Event, Note, route
from realtime.fragments import LiveFragment, parse, personal_kinds, push_order, resolve
from realtime.render_pass import one_pass
from realtime.store import Store, get_store

log = logging.getLogger(__name__)

MAX_BATCH = 200  # submissions merged into one pass when a burst queues up
EXIT_WAIT = 10.0  # seconds a departing process gives its publisher to send what it committed

# Events, toasts, their outbox rows, and when they were submitted (after COMMIT, for metrics).
Batch = tuple[list[Event], list[Note], list[int], float]


def send_on_commit(*events: Event) -> None:
    """Publish these events once the current transaction commits (at once in autocommit); a
    rollback, of the transaction or of the savepoint they were sent in, sends nothing. They are
    written to the outbox now, in the same transaction, so they outlive this process."""
    if events:
        ids = outbox.record(events)
        transaction.on_commit(lambda: get_publisher().submit(list(events), outbox_ids=ids))


class Publisher:
    def __init__(self, deliver: Callable[[str, str], None] | None = None) -> None:
        self._queue: queue.SimpleQueue[Batch] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._deliver = deliver
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._last_error_log = 0.0
        self._exit_hooked = False
        # This process runs a sweeper (it serves pages): see stamps_sent.
        self.serving = False

    # -- producer side (any thread, after COMMIT) --

    def submit(
        self,
        events: list[Event],
        notes: list[Note] | None = None,
        *,
        outbox_ids: list[int] | None = None,
    ) -> None:
        """Events to route, and toasts to send as they are (after everything submitted before);
        `outbox_ids`: the events' outbox rows, stamped once sent."""
        if not events and not notes:
            return
        self._idle.clear()
        self._queue.put((events, notes or [], outbox_ids or [], time.monotonic()))
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="courtside-publisher", daemon=True
            )
            self._thread.start()
            if not self._exit_hooked:
                # Daemon threads still run while atexit hooks do: a one-line shell that
                # committed sends before it goes (the sweepers catch whatever this misses).
                atexit.register(self.wait_idle, EXIT_WAIT)
                self._exit_hooked = True

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """For tests and benchmarks: wait until everything queued has been sent."""
        return self._idle.wait(timeout)

    # -- the publisher thread --

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._publish(batch)
                sent = [row for item in batch for row in item[2]]
                if sent and self.stamps_sent():
                    outbox.mark_sent(sent)
            except Exception:
                # Left unsent: a sweeper publishes those rows again once they are due.
                self._log_error("live update failed")
            finally:
                # Like a request's end: honour CONN_MAX_AGE (0 closes, as Django does per request).
                close_old_connections()
                if self._queue.empty():
                    if not connection.settings_dict.get("CONN_MAX_AGE"):
                        connection.close()
                    self._idle.set()

    def stamps_sent(self) -> bool:
        """Whether what this process sent reached every page. Over Redis, always. In memory, only
        where the pages are: a one-shot process (a shell beside `make demo`) has no hub, and
        leaves its rows to the serving process's sweeper."""
        return self._deliver is None or self.serving or hub._hub is not None

    def _publish(self, batch: list[Batch]) -> None:
        events = [event for item in batch for event in item[0]]
        committed = min(item[3] for item in batch)  # the burst's oldest change, for metrics
        store = get_store()
        watched = store.watched_shared()
        # Nobody watches anything (no page open anywhere): nothing to route or render.
        listened = bool(watched) or store.watches_personal()
        routing = route(events) if events and listened else None
        if events and routing is None:
            store.bump_access_all()  # not routed: no resumption ticket from before holds
        targets: dict[str, Any] = {}  # key -> the change to render it for (None: all of it)
        if routing is not None:
            shared = [f for f in map(parse, watched) if f is not None]
            for change in routing.changes:
                for fragment in _affected(shared, change):
                    # Two changes on one stream: push it whole rather than either's pieces.
                    targets[fragment.key] = None if fragment.key in targets else change
            personal = _personal(routing.changes)
        else:
            personal = {}
        notes = [*(routing.notes if routing else []), *(n for item in batch for n in item[1])]
        recheck = sorted(routing.recheck_user_ids) if routing else []
        store.bump_access(recheck)  # first: a ticket read after this no longer matches
        rechecks = {streams.user_stream(u) for u in recheck}
        # `recheck` also rides on this pass's fragments: over a sharded layer they may overtake
        # the user streams' re-checks (realtime.hub._recheck).
        noted = {streams.user_stream(n.user_id) for n in notes}
        # Of the personal streams these name, the ones a socket watches (none: nothing to send).
        listening = store.watched_among([*personal, *rechecks, *noted])
        targets.update({key: change for key, change in personal.items() if key in listening})
        for key in sorted(rechecks & listening):
            self._send(key, messages.ACCESS_CHECK)
        # People first: personal streams (a family's list) and the changes' own toasts are small
        # and reach one user each, so they go before the wide shared calendars. Toasts submitted
        # on their own still follow everything submitted before them.
        early = routing.notes if routing else []
        with one_pass():
            _prepare(targets)
            for key in sorted(targets, key=push_order):
                if early and not streams.is_personal(key):
                    self._send_notes(early, listening, committed)
                    early = []
                message = self._render(store, key, targets[key])
                if message is not None:
                    self._send(key, message, recheck)
                    metrics.published(key, committed)
        self._send_notes([*early, *(n for item in batch for n in item[1])], listening, committed)

    def _send_notes(self, notes: list[Note], listening: set[str], committed: float) -> None:
        for note in notes:
            key = streams.user_stream(note.user_id)
            if key in listening:
                self._send(key, messages.note(note.text, note.url))
                metrics.published(key, committed)

    def _render(self, store: Store, key: str, change: Any) -> str | None:
        """One stream's message, or None. A render that fails (the database refusing a
        connection) must not cost the other streams their updates, and its page must still
        learn it is behind: the stream's number moves on anyway, so the page's next heartbeat
        (pong) shows the gap and it resyncs over HTTP."""
        seq = None
        try:
            resolved = resolve(key)
            if resolved is None:
                return None  # what it showed no longer exists; the page resyncs on its own
            seq = store.next_seq(key)
            return messages.fragment(key, seq, resolved.render_change(change))
        except Exception:
            self._log_error(f"could not render {key}")
            if seq is None:
                with contextlib.suppress(Exception):
                    store.next_seq(key)
            return None

    def _send(self, key: str, text: str, recheck: list[int] | None = None) -> None:
        if self._deliver is not None:
            self._deliver(key, text)  # one process, one queue: the re-checks went first
            return
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        assert self._loop is not None
        message: dict[str, Any] = {"type": "live.message", "key": key, "text": text}
        if recheck:
            message["recheck"] = recheck
        for attempt in (1, 2):
            try:
                self._loop.run_until_complete(
                    asyncio.wait_for(
                        layer.group_send(streams.group_name(key), message), timeout=2.0
                    )
                )
                return
            except TimeoutError:
                raise
            except Exception:
                # After Redis restarted, the layer's pooled connection is dead: the first publish
                # fails on it ("Connection closed by server") and it is replaced. Once more, or
                # the first change after an outage reaches nobody. (A repeat is harmless: pages
                # ignore a sequence number they have seen.)
                if attempt == 2:
                    raise

    def _log_error(self, what: str) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 10:  # a Redis outage would otherwise flood the log
            self._last_error_log = now
            log.exception(what)


def _affected(shared: list[LiveFragment], change: Any) -> list[LiveFragment]:
    return [fragment for fragment in shared if fragment.affected_by(change)]


def _prepare(keys: Iterable[str]) -> None:
    by_kind: dict[type[LiveFragment], list[LiveFragment]] = defaultdict(list)
    for fragment in filter(None, map(parse, keys)):
        by_kind[type(fragment)].append(fragment)
    for kind, fragments in by_kind.items():
        kind.prepare(fragments)


def _personal(changes: list[Any]) -> dict[str, Any]:
    """The personal fragments these changes name (watched or not), with the change for each."""
    found: dict[str, Any] = {}
    for change in changes:
        for kind in personal_kinds():
            for fragment in kind.personal_for(change):
                found[fragment.key] = None if fragment.key in found else change
    return found


def affected_keys(keys: list[str], change: Any) -> list[str]:
    """The keys among these whose fragment this change may alter (the bench uses it too)."""
    return [f.key for f in map(parse, keys) if f is not None and f.affected_by(change)]


@cache
def get_publisher() -> Publisher:
    if getattr(settings, "REDIS_URL", ""):
        return Publisher()
    # One process, in-memory layer: hand messages straight to this process's hub, on its loop.
    return Publisher(deliver=hub.deliver_local)
