"""Render once per stream, send once per stream.

One thread per process takes committed changes off a queue (so a booking's HTTP response never
waits for rendering or for Redis), coalesces bursts, finds the watched streams a change
affects, and for each: takes the stream's next sequence number, renders the fragment once, and
sends the same bytes to every process watching it.

Ordering: the sequence number is taken after the change committed and before the render, so a
message with a higher number always shows at least every change with a lower one; a client
that applies only increasing numbers converges on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from realtime import fragments
from realtime.changes import Change, merge_all
from realtime.store import get_store

log = logging.getLogger(__name__)

MAX_BATCH = 200  # changes merged into one pass when a burst queues up


def group_name(key: str) -> str:
    """Channel-layer group names allow letters, digits, hyphens, underscores and periods."""
    return "live." + key.replace(":", ".")


def fragment_message(key: str, seq: int, html: str) -> str:
    return json.dumps({"t": "f", "k": key, "s": seq, "h": html}, separators=(",", ":"))


def note_message(text: str) -> str:
    return json.dumps({"t": "n", "text": text}, separators=(",", ":"))


class Publisher:
    def __init__(self, deliver: Callable[[str, str], None] | None = None) -> None:
        self._queue: queue.SimpleQueue[tuple[list[Change], list[tuple[int, str]]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._deliver = deliver
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._last_error_log = 0.0

    # -- producer side (any thread, after COMMIT) --

    def submit(self, changes: list[Change], notes: list[tuple[int, str]]) -> None:
        if not changes and not notes:
            return
        self._idle.clear()
        self._queue.put((changes, notes))
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="courtside-publisher", daemon=True
            )
            self._thread.start()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """For tests and benchmarks: wait until everything queued has been sent."""
        return self._idle.wait(timeout)

    # -- the publisher thread --

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        while True:
            item = self._queue.get()
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._publish(batch)
            except Exception:
                self._log_error("live update failed")
            finally:
                # Like a request's end: honour CONN_MAX_AGE (0 closes, as Django does per request).
                close_old_connections()
                if self._queue.empty():
                    if not connection.settings_dict.get("CONN_MAX_AGE"):
                        connection.close()
                    self._idle.set()

    def _publish(self, batch: list[Any]) -> None:
        changes = merge_all(change for item in batch for change in item[0])
        notes = [note for item in batch for note in item[1]]
        store = get_store()
        shared = store.watched_shared()
        # One change per academy, and a key belongs to one academy: each key has one change.
        affected: dict[str, Change] = {}
        personal: dict[str, Change] = {}
        access: set[str] = set()
        for change in changes:
            affected.update(dict.fromkeys(fragments.affected_keys(shared, change), change))
            personal.update(dict.fromkeys(fragments.personal_keys(change), change))
            access.update(f"access:u{uid}" for uid in change.user_ids)
        notify = {f"notify:u{user_id}" for user_id, _ in notes}
        # Of the personal streams these name, the ones a socket watches (none: nothing to send).
        listening = store.watched_among([*personal, *access, *notify])
        affected.update({key: c for key, c in personal.items() if key in listening})
        for key in sorted(access & listening):
            self._send(key, json.dumps({"t": "access"}))
        with fragments.one_pass():
            for key in sorted(affected, key=fragments.push_order):
                message = self._render(store, key, affected[key])
                if message is not None:
                    self._send(key, message)
        for user_id, text in notes:
            if f"notify:u{user_id}" in listening:
                self._send(f"notify:u{user_id}", note_message(text))

    def _render(self, store: Any, key: str, change: Change) -> str | None:
        """One stream's message, or None. A render that fails (the database refusing a
        connection) must not cost the other streams their updates, and its page must still
        learn it is behind: the stream's number moves on anyway, so the page's next heartbeat
        (pong) shows the gap and it resyncs over HTTP."""
        seq = None
        try:
            fragment = fragments.resolve(key)
            if fragment is None:
                return None  # what it showed no longer exists; the page resyncs on its own
            seq = store.next_seq(key)
            return fragment_message(key, seq, fragments.render_change(fragment, change))
        except Exception:
            self._log_error(f"could not render {key}")
            if seq is None:
                with contextlib.suppress(Exception):
                    store.next_seq(key)
            return None

    def _send(self, key: str, text: str) -> None:
        if self._deliver is not None:
            self._deliver(key, text)
            return
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        assert self._loop is not None
        for attempt in (1, 2):
            try:
                self._loop.run_until_complete(
                    asyncio.wait_for(
                        layer.group_send(
                            group_name(key), {"type": "live.message", "key": key, "text": text}
                        ),
                        timeout=2.0,
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


@cache
def get_publisher() -> Publisher:
    if getattr(settings, "REDIS_URL", ""):
        return Publisher()
    # One process, in-memory layer: hand messages straight to this process's hub, on its loop.
    from realtime.hub import deliver_local

    return Publisher(deliver=deliver_local)
