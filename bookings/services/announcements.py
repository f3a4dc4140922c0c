"""Announcements (seed 004's broadcast): a coach to the people of one of their sessions, the
front desk to a session, a day or the whole academy. Each recipient gets an inbox copy in the
same transaction; those with a page open get a toast after COMMIT (bookings.live.routing)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from bookings import emails
from bookings.access import Principal, may_announce
from bookings.dates import within_range
from bookings.errors import BookingError
from bookings.live.capture import announced, inbox_changed
from bookings.models import (
    Announcement,
    GuardianLink,
    InboxItem,
    IndividualBooking,
    Player,
    SessionReservation,
)
from bookings.selectors import day_range
from scheduling.models import Academy, Coach, GroupSession, StaffAssignment, StaffMember

PER_HOUR = 10  # announcements one sender may send in an hour


def announcement_send(
    *,
    actor: User,
    academy: Academy,
    text: str,
    session: GroupSession | None = None,
    day: date | None = None,
    now: datetime | None = None,
) -> Announcement:
    """To the people of `session`, or of `day`, or (neither) the whole academy."""
    text = text.strip()
    if not text:
        raise BookingError("empty_message")
    if len(text) > Announcement.MAX_TEXT:
        raise BookingError(
            "message_too_long",
            f"That message is too long ({len(text)} of at most "
            f"{Announcement.MAX_TEXT} characters).",
        )
    if session is not None and session.academy_id != academy.pk:
        raise BookingError("wrong_academy")
    if not may_announce(Principal.load(actor), academy.pk, session):
        raise BookingError("not_allowed")
    if day is not None and not within_range(day):
        raise BookingError("bad_day")
    now = now or timezone.now()
    with transaction.atomic():
        recent = Announcement.objects.filter(sender=actor, created_at__gte=now - timedelta(hours=1))
        if recent.count() >= PER_HOUR:
            raise BookingError("too_many_messages")
        if session is not None:
            audience = Announcement.Audience.SESSION
            recipients = _family_users(_session_players(session)) | _session_coach_users(
                [session.pk]
            )
        elif day is not None:
            audience = Announcement.Audience.DAY
            players, coaches = _day_people(academy, day)
            recipients = _family_users(players) | coaches
        else:
            audience = Announcement.Audience.ACADEMY
            recipients = _academy_people(academy)
        recipients.discard(actor.pk)
        announcement = Announcement.objects.create(
            academy=academy, sender=actor, audience=audience, session=session, day=day, text=text
        )
        InboxItem.objects.bulk_create(
            [InboxItem(announcement=announcement, user_id=uid) for uid in sorted(recipients)]
        )
        announced(announcement)  # bulk_create sends no signal: say what happened
        emails.announcement(  # to those who want announcements by email too
            announcement_id=announcement.pk,
            academy_id=academy.pk,
            recipient_ids=recipients,
            subject=f"A message from {academy.name}",
            text=text,
            link=f"{reverse('inbox')}#announcement-{announcement.pk}",
            author=actor,
        )
    return announcement


def family_notice(*, session: GroupSession, player: Player, text: str) -> Announcement:
    """A notice from the academy itself (no sender) to the family of one player about one
    session, filed in their inboxes, inside the caller's transaction: a place from the waiting
    list. No toast or email of its own: the caller's change is told live already (its row's
    event, bookings.live.notes) and queues its own email."""
    recipients = _family_users(Player.objects.filter(pk=player.pk))
    announcement = Announcement.objects.create(
        academy_id=session.academy_id,
        sender=None,
        audience=Announcement.Audience.FAMILY,
        session=session,
        text=text,
    )
    InboxItem.objects.bulk_create(
        [InboxItem(announcement=announcement, user_id=uid) for uid in sorted(recipients)]
    )
    for uid in sorted(recipients):
        inbox_changed(uid)  # their badges; bulk_create sends no signal
    return announcement


def inbox_mark_read(*, actor: User, now: datetime | None = None) -> int:
    """Mark every unread item of the actor's inbox as read; how many there were."""
    with transaction.atomic():
        count = InboxItem.objects.filter(user=actor, read_at__isnull=True).update(
            read_at=now or timezone.now()
        )
        if count:
            inbox_changed(actor.pk)  # QuerySet.update sends no signal
    return count


def _session_players(session: GroupSession) -> QuerySet[Player]:
    return Player.objects.filter(
        reservations__session=session, reservations__status=SessionReservation.Status.RESERVED
    )


def _session_coach_users(session_ids: list[int]) -> set[int]:
    return set(
        StaffAssignment.objects.filter(session_id__in=session_ids).values_list(
            "coach__user_id", flat=True
        )
    )


def _day_people(academy: Academy, day: date) -> tuple[QuerySet[Player], set[int]]:
    """Everyone booked on a day (group sessions and lessons), and the coaches teaching it."""
    start, end = day_range(academy, day)
    sessions = list(
        GroupSession.objects.filter(
            academy=academy,
            status=GroupSession.Status.SCHEDULED,
            starts_at__lt=end,
            ends_at__gt=start,
        ).values_list("id", flat=True)
    )
    lessons = IndividualBooking.objects.filter(
        academy=academy,
        status=IndividualBooking.Status.BOOKED,
        starts_at__lt=end,
        ends_at__gt=start,
    )
    players = Player.objects.filter(
        Q(
            reservations__session_id__in=sessions,
            reservations__status=SessionReservation.Status.RESERVED,
        )
        | Q(pk__in=lessons.values("player_id"))
    ).distinct()
    coaches = _session_coach_users(sessions) | set(lessons.values_list("coach__user_id", flat=True))
    return players, coaches


def _academy_people(academy: Academy) -> set[int]:
    """Everyone of the academy: players with a login, guardians, coaches, the front desk."""
    coaches = Coach.objects.filter(academy=academy, is_active=True).values_list(
        "user_id", flat=True
    )
    staff = StaffMember.objects.filter(academy=academy).values_list("user_id", flat=True)
    return _family_users(Player.objects.filter(academy=academy)) | set(coaches) | set(staff)


def _family_users(players: QuerySet[Player]) -> set[int]:
    """The users who act for these players: their own logins and their guardians."""
    ids = list(players.values_list("id", flat=True))
    own = set(
        Player.objects.filter(pk__in=ids, user__isnull=False).values_list("user_id", flat=True)
    )
    guardians = set(
        GuardianLink.objects.filter(player_id__in=ids).values_list("guardian_id", flat=True)
    )
    return own | guardians
