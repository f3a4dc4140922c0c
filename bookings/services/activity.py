"""The activity log (bookings.models.Activity): each service records what it did, in its own
transaction, so the log holds exactly what committed, with who did it. It stays bounded: every
PRUNE_EVERY-th row deletes its academy's rows older than Activity.KEEP_DAYS (an indexed delete
of about that many old rows, amortised over the writes)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bookings.models import Activity

PRUNE_EVERY = 256

Verb = Activity.Verb


def record(
    *,
    verb: Activity.Verb,
    academy_id: int,
    actor_id: int | None,
    at: datetime,
    player_id: int | None = None,
    session_id: int | None = None,
    lesson_id: int | None = None,
    detail: str = "",
) -> Activity:
    row = Activity.objects.create(
        academy_id=academy_id,
        verb=verb,
        actor_id=actor_id,
        at=at,
        player_id=player_id,
        session_id=session_id,
        lesson_id=lesson_id,
        detail=detail,
    )
    if row.pk % PRUNE_EVERY == 0:
        prune(academy_id=academy_id, now=at)
    return row


def prune(*, academy_id: int, now: datetime) -> int:
    """Forget an academy's activity older than Activity.KEEP_DAYS; returns how many rows went."""
    old = Activity.objects.filter(
        academy_id=academy_id, at__lt=now - timedelta(days=Activity.KEEP_DAYS)
    )
    return old.delete()[0]
