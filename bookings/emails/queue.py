"""Queue emails inside the transaction of the change that causes them.

The services call these after their writes, in the same transaction: a rollback queues
nothing, and nothing is sent before COMMIT because the sender (bookings.emails.deliver, another
process) cannot see the rows until then. Each call is one read (who, with an address and the
topic on) and one insert; the reading of what the email says waits for the sender.

Who is told is the caller's decision where only it knows (a cancellation by the family itself
is news to nobody); these functions add the rest: the family of a player is the player's own
login and their guardians, users without an address or who turned the topic off are left
out, and the one who acted is never told of their own action.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from bookings.models import (
    EmailTopic,
    GuardianLink,
    IndividualBooking,
    OutgoingEmail,
    Player,
    SessionReservation,
    WaitlistEntry,
)
from scheduling.models import GroupSession

Kind = OutgoingEmail.Kind

TOPIC_OF = {
    Kind.RESERVATION_CANCELLED: EmailTopic.CANCELLATIONS,
    Kind.LESSON_CANCELLED: EmailTopic.CANCELLATIONS,
    Kind.SESSION_CANCELLED: EmailTopic.CANCELLATIONS,
    Kind.WAITLIST_PROMOTION: EmailTopic.PROMOTIONS,
    Kind.WAITLIST_OFFER: EmailTopic.PROMOTIONS,
    Kind.ANNOUNCEMENT: EmailTopic.ANNOUNCEMENTS,
    Kind.SESSION_REMINDER: EmailTopic.REMINDERS,
    Kind.LESSON_REMINDER: EmailTopic.REMINDERS,
}


def cause(row_id: int, moment: datetime | None = None) -> str:
    """What happened, as the unique key says it: the row, and when (to the second) for what can
    happen to one row more than once."""
    if moment is None:
        return str(row_id)
    return f"{row_id}@{moment.astimezone(UTC).isoformat(timespec='seconds')}"


def family_of(player_ids: Iterable[int] | QuerySet[Any]) -> Q:
    """The users who act for these players: their own logins and their guardians (as a
    condition, for one query; `families` says the same per player)."""
    if not isinstance(player_ids, QuerySet):
        player_ids = list(player_ids)
    own = Player.objects.filter(pk__in=player_ids, user__isnull=False).values("user_id")
    guardians = GuardianLink.objects.filter(player_id__in=player_ids).values("guardian_id")
    return Q(pk__in=own) | Q(pk__in=guardians)


def families(player_ids: Iterable[int]) -> dict[int, set[int]]:
    """Player id -> the users who act for them: their own login and their guardians."""
    ids = list(player_ids)
    found: dict[int, set[int]] = defaultdict(set)
    own = Player.objects.filter(pk__in=ids, user__isnull=False).values_list("pk", "user_id")
    links = GuardianLink.objects.filter(player_id__in=ids).values_list("player_id", "guardian_id")
    for player_id, user_id in [*own, *links]:
        found[player_id].add(user_id)
    return found


def addressable(users: Q, topic: str, *, leave_out: Iterable[int] = ()) -> list[int]:
    """Of these users, the ids of those an email of this topic may go to (one query)."""
    return list(
        get_user_model()
        .objects.filter(users, is_active=True)
        .exclude(email="")
        .exclude(pk__in=list(leave_out))
        .exclude(email_opt_outs__topic=topic)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def put(
    kind: OutgoingEmail.Kind,
    *,
    cause: str,
    about_id: int,
    recipients: Iterable[int],
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Queue one email per recipient; a (kind, cause, recipient) already queued is left as it
    is. Returns how many rows were offered."""
    due = now or timezone.now()
    rows = [
        OutgoingEmail(
            kind=kind,
            cause=cause,
            about_id=about_id,
            recipient_id=user_id,
            data=data or {},
            due_at=due,
        )
        for user_id in recipients
    ]
    # ON CONFLICT DO NOTHING: a repeat is not an error, and it does not abort the transaction.
    OutgoingEmail.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# -- what the services call ---------------------------------------------------------------------


def reservation_cancelled(*, reservation: SessionReservation, actor: User) -> None:
    """A reservation was cancelled by someone other than its family (a coach, the front desk):
    tell the family. Call it after the cancellation is saved."""
    topic = TOPIC_OF[Kind.RESERVATION_CANCELLED]
    put(
        Kind.RESERVATION_CANCELLED,
        cause=cause(reservation.pk, reservation.cancelled_at),
        about_id=reservation.pk,
        recipients=addressable(family_of([reservation.player_id]), topic, leave_out=[actor.pk]),
    )


def lesson_cancelled(*, booking: IndividualBooking, actor: User) -> None:
    """A lesson was cancelled by someone other than its family: tell the family."""
    topic = TOPIC_OF[Kind.LESSON_CANCELLED]
    put(
        Kind.LESSON_CANCELLED,
        cause=cause(booking.pk),  # a lesson is cancelled once: it is never reactivated
        about_id=booking.pk,
        recipients=addressable(family_of([booking.player_id]), topic, leave_out=[actor.pk]),
    )


def session_cancelled(*, session: GroupSession, actor: User) -> None:
    """A group session was cancelled (by its coach, the front desk or an admin): tell every
    family whose reservation it cancelled, one email per user however many of their children
    were in it. Call it after the session and its reservations are saved."""
    cancelled_with_it = SessionReservation.objects.filter(
        session=session,
        status=SessionReservation.Status.CANCELLED,
        cancelled_at=session.cancelled_at,
    ).values("player_id")
    topic = TOPIC_OF[Kind.SESSION_CANCELLED]
    put(
        Kind.SESSION_CANCELLED,
        cause=cause(session.pk),  # a session is cancelled once
        about_id=session.pk,
        recipients=addressable(family_of(cancelled_with_it), topic, leave_out=[actor.pk]),
    )


def waitlist_promotion(*, reservation: SessionReservation) -> None:
    """A player moved up from the waiting list into a reservation (issue 13): tell the
    family, all of it (nobody in it asked for this place just now). Call it after the
    reservation is saved, in the same transaction."""
    topic = TOPIC_OF[Kind.WAITLIST_PROMOTION]
    put(
        Kind.WAITLIST_PROMOTION,
        cause=cause(reservation.pk, reservation.updated_at),
        about_id=reservation.pk,
        recipients=addressable(family_of([reservation.player_id]), topic),
    )


def waitlist_offer(*, entry: WaitlistEntry) -> None:
    """A spot held for a waiting player until a time (issue 13): tell the family, who must
    take it before then. Call it after the entry is saved as offered, in the same transaction."""
    put(
        Kind.WAITLIST_OFFER,
        cause=cause(entry.pk, entry.offered_until),
        about_id=entry.pk,
        recipients=addressable(family_of([entry.player_id]), TOPIC_OF[Kind.WAITLIST_OFFER]),
    )


def announcement(
    *,
    announcement_id: int,
    academy_id: int,
    recipient_ids: Iterable[int],
    subject: str,
    text: str,
    link: str = "",
    author: User | None = None,
) -> None:
    """An announcement (issue 11) to these users, for those who want announcements. The
    caller chooses the audience; the words are kept on each row, as they were when sent.
    `link` is a path on this site where the announcement can be read."""
    topic = TOPIC_OF[Kind.ANNOUNCEMENT]
    put(
        Kind.ANNOUNCEMENT,
        cause=cause(announcement_id),
        about_id=announcement_id,
        recipients=addressable(
            Q(pk__in=list(recipient_ids)), topic, leave_out=[author.pk] if author else []
        ),
        data={"academy": academy_id, "subject": subject, "text": text, "link": link},
    )
