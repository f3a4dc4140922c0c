"""The day-before reminders: `manage.py send_reminders`, or each minute of `send_mail`'s loop.

Due for every active reservation (in a scheduled session) and every booked lesson that starts
within the next 24 hours and was booked before its 24-hour mark: a booking made later had no
"day before" (it was made in it) and needs no reminding. One email per (session, user) however
many of the user's family are in it, and per (lesson, user). Running it again, or in two
processes at once, queues nothing new: the rows are unique per (kind, cause, recipient), and the
cause names the start, so a session moved to another time is reminded of again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from bookings.emails.queue import TOPIC_OF, addressable, cause, families, put
from bookings.models import IndividualBooking, OutgoingEmail, SessionReservation
from scheduling.models import GroupSession

LEAD = timedelta(hours=24)
Kind = OutgoingEmail.Kind


def queue_reminders(*, now: datetime | None = None) -> int:
    """Queue the reminders due now that are not queued yet; returns how many (five queries,
    whatever the number)."""
    now = now or timezone.now()
    sessions = SessionReservation.objects.filter(
        status=SessionReservation.Status.RESERVED,
        session__status=GroupSession.Status.SCHEDULED,
        session__starts_at__gt=now,
        session__starts_at__lte=now + LEAD,
        updated_at__lte=F("session__starts_at") - LEAD,  # (re)activated before its mark
    ).values_list("session_id", "session__starts_at", "player_id")
    lessons = IndividualBooking.objects.filter(
        status=IndividualBooking.Status.BOOKED,
        starts_at__gt=now,
        starts_at__lte=now + LEAD,
        created_at__lte=F("starts_at") - LEAD,
    ).values_list("pk", "starts_at", "player_id")

    # (kind, row id, start) -> the players it is about
    due: dict[tuple[OutgoingEmail.Kind, int, datetime], set[int]] = defaultdict(set)
    for session_id, starts_at, player_id in sessions:
        due[Kind.SESSION_REMINDER, session_id, starts_at].add(player_id)
    for lesson_id, starts_at, player_id in lessons:
        due[Kind.LESSON_REMINDER, lesson_id, starts_at].add(player_id)
    if not due:
        return 0

    family = families({p for players in due.values() for p in players})
    everyone = {user for users in family.values() for user in users}
    wanting = set(addressable(Q(pk__in=everyone), TOPIC_OF[Kind.SESSION_REMINDER]))
    causes = {cause(row_id, starts_at) for _, row_id, starts_at in due}
    queued = set(
        OutgoingEmail.objects.filter(
            kind__in=[Kind.SESSION_REMINDER, Kind.LESSON_REMINDER], cause__in=causes
        ).values_list("kind", "cause", "recipient_id")
    )
    added = 0
    for (kind, row_id, starts_at), players in sorted(due.items()):
        key = cause(row_id, starts_at)
        users = {u for p in players for u in family.get(p, ())} & wanting
        new = sorted(u for u in users if (kind, key, u) not in queued)
        if new:
            added += put(kind, cause=key, about_id=row_id, recipients=new, now=now)
    return added
