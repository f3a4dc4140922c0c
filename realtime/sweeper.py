"""Each serving process's outbox sweeper: a thread that, every INTERVAL seconds, publishes the
outbox rows nobody sent in time (realtime.outbox) and, now and then, prunes old ones.

Why polling and no LISTEN/NOTIFY: the writer's own publisher sends right after COMMIT, so the
prompt path needs no wake-up; the sweeper only covers a writer that died or left, for which a
notification would come from the very process that failed to send. What bounds a lost event's
delay is the writer's grace (outbox.GRACE) plus INTERVAL, about 4 s; the idle cost is one
indexed EXISTS per second per process, and it works the same on SQLite.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from realtime import outbox
from realtime.publisher import get_publisher

log = logging.getLogger(__name__)

INTERVAL = 1.0
PRUNE_EVERY = 60.0

_started = threading.Lock()
_thread: threading.Thread | None = None


def start() -> None:
    """Start this process's sweeper (once). Called by the ASGI entry points, so every serving
    process runs one; `LIVE_OUTBOX_SWEEPER = False` turns it off (the test suite sweeps by
    hand, with `sweep`)."""
    global _thread
    if not getattr(settings, "LIVE_OUTBOX_SWEEPER", True):
        return
    with _started:
        if _thread is not None:
            return
        get_publisher().serving = True
        _thread = threading.Thread(target=_run, name="courtside-outbox-sweeper", daemon=True)
        _thread.start()


def sweep() -> int:
    """Claim and publish the due rows, once; how many. (A batch at a time: a backlog after an
    outage is published over a few passes, in commit order.)"""
    if not outbox.any_due():
        return 0
    events, ids = outbox.claim_due()
    if events:
        get_publisher().submit(events, outbox_ids=ids)
    return len(ids)


def _run() -> None:
    last_prune = 0.0
    last_error = 0.0
    while True:
        time.sleep(INTERVAL)
        try:
            if sweep():
                log.info("outbox: published events a writer left unsent")
            if time.monotonic() - last_prune > PRUNE_EVERY:
                last_prune = time.monotonic()
                outbox.prune()
        except Exception:
            if time.monotonic() - last_error > 10:  # a database outage would flood the log
                last_error = time.monotonic()
                log.exception("outbox sweep failed")
        finally:
            close_old_connections()
            if not connection.settings_dict.get("CONN_MAX_AGE"):
                connection.close()
