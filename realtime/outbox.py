"""The transactional outbox: every published event is a row written in its writer's
transaction, so a committed change is never lost by a writer that dies or exits before
it publishes, and a rolled-back one leaves nothing.

The life of a row (realtime.models.OutboxEvent):

1. `record` inserts it inside the writer's transaction, due GRACE seconds later.
2. After COMMIT the writer's own publisher routes and sends it (the prompt path, as before the
   outbox) and `mark_sent` stamps it.
3. A row still unsent when due (the writer was SIGKILLed after COMMIT, a one-shot script exited
   before its publisher finished, Redis refused the send) is claimed by the sweeper of some
   serving process (`claim_due`: FOR UPDATE SKIP LOCKED, so two sweepers never take one row),
   which pushes its due time LEASE seconds on and publishes it; if that process dies too, the
   lease runs out and another takes it.
4. `prune` deletes sent rows after KEEP_SENT, and gives up on unsent ones after KEEP_UNSENT
   (pages have long since resynced over HTTP).

Delivery is at least once: a row is published again only if its publisher was slower than
GRACE (or died after sending but before stamping). That is harmless: an event carries no state,
its message is rendered from the database after it takes the stream's next number, so a second
delivery shows the same committed state under a newer number, and the same message twice is
dropped by the page (it applies only increasing numbers).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from realtime.events import Event
from realtime.models import OutboxEvent

GRACE = timedelta(seconds=3)  # the writer's publisher normally sends within milliseconds
LEASE = timedelta(seconds=30)  # a sweeper's claim: time to route, render and send a batch
KEEP_SENT = timedelta(hours=1)
KEEP_UNSENT = timedelta(days=1)
CLAIM_BATCH = 200


def record(events: Iterable[Event]) -> list[int]:
    """Write these events in the current transaction (one INSERT); their row ids."""
    now = timezone.now()
    rows = OutboxEvent.objects.bulk_create(
        OutboxEvent(name=e.name, data=e.data, created_at=now, due_at=now + GRACE) for e in events
    )
    return [row.pk for row in rows if row.pk is not None]


def mark_sent(ids: Iterable[int]) -> None:
    OutboxEvent.objects.filter(pk__in=list(ids), sent_at__isnull=True).update(
        sent_at=timezone.now()
    )


def any_due(now: datetime | None = None) -> bool:
    """One cheap, lock-free look (the partial index) before claiming anything."""
    due = OutboxEvent.objects.filter(sent_at__isnull=True, due_at__lte=now or timezone.now())
    return due.exists()


def claim_due(now: datetime | None = None) -> tuple[list[Event], list[int]]:
    """Take the rows whose writer did not send them in time, in commit order, for LEASE."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, due_at__lte=now)
            .order_by("id")[:CLAIM_BATCH]
        )
        if not rows:
            return [], []
        ids = [row.pk for row in rows]
        OutboxEvent.objects.filter(pk__in=ids).update(due_at=now + LEASE)
    return [Event(row.name, row.data) for row in rows], ids


def prune(now: datetime | None = None) -> int:
    now = now or timezone.now()
    sent, _ = OutboxEvent.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    lost, _ = OutboxEvent.objects.filter(
        sent_at__isnull=True, due_at__lt=now - KEEP_UNSENT
    ).delete()
    return sent + lost
