"""Check-in on the coach's tablet: marking an attendee present, late or absent, and adding a
walk-in on the spot.

A group session's marks are written under the session's lock (which covers its reservations,
bookings.locks), a lesson's under its coach's, so a mark never lands on a reservation being
cancelled at that moment. A walk-in takes a spot like a booking (the player's and the session's
locks, the same capacity rule and waiting list, bookings.services.reservations.take_spot),
during the session as well, which families cannot.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from bookings.access import Principal, adds_walk_in, marks_lesson, marks_session
from bookings.errors import BookingError
from bookings.locks import lock
from bookings.models import Attendance, IndividualBooking, Player, SessionReservation
from bookings.services.activity import Verb, record
from bookings.services.common import latest_reservation, player_busy
from bookings.services.reservations import room_for, take_spot
from bookings.windows import CHECKIN_DAYS, checkin_open
from scheduling.models import GroupSession

STATUSES = frozenset(Attendance.Status.values)


def attendance_mark(
    *,
    actor: User,
    status: str,
    reservation: SessionReservation | None = None,
    lesson: IndividualBooking | None = None,
    now: datetime | None = None,
) -> Attendance:
    """Mark one attendee of a group session (their reservation) or of a lesson. Marking again
    with the same status changes nothing (a double tap); another status replaces the mark."""
    if (reservation is None) == (lesson is None):
        raise ValueError("mark a reservation or a lesson")
    if status not in STATUSES:
        raise BookingError("bad_status")
    principal = Principal.load(actor)
    if reservation is not None:
        return _mark_reservation(principal, actor, reservation, status, now)
    assert lesson is not None
    return _mark_lesson(principal, actor, lesson, status, now)


def _mark_reservation(
    principal: Principal,
    actor: User,
    reservation: SessionReservation,
    status: str,
    now: datetime | None,
) -> Attendance:
    if not marks_session(principal, reservation.session):
        raise BookingError("not_allowed")
    with transaction.atomic():
        session = lock(sessions=[reservation.session_id]).sessions[reservation.session_id]
        reservation = SessionReservation.objects.get(pk=reservation.pk)
        if session.is_cancelled:
            raise BookingError("session_cancelled")
        if not reservation.is_active:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        _check_window(session.starts_at, session.academy.tz, now)
        return _write(
            Attendance.objects.filter(reservation=reservation).first(),
            Attendance(player_id=reservation.player_id, session=session, reservation=reservation),
            status=status,
            actor=actor,
            now=now,
            academy_id=session.academy_id,
        )


def _mark_lesson(
    principal: Principal,
    actor: User,
    lesson: IndividualBooking,
    status: str,
    now: datetime | None,
) -> Attendance:
    if not marks_lesson(principal, lesson):
        raise BookingError("not_allowed")
    with transaction.atomic():
        # The coach's lock covers their lessons: every writer of one takes it first.
        coach = lock(coaches=[lesson.coach_id]).coaches[lesson.coach_id]
        lesson = IndividualBooking.objects.get(pk=lesson.pk)
        if not lesson.is_active:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        _check_window(lesson.starts_at, coach.academy.tz, now)
        return _write(
            Attendance.objects.filter(lesson=lesson).first(),
            Attendance(player_id=lesson.player_id, lesson=lesson),
            status=status,
            actor=actor,
            now=now,
            academy_id=lesson.academy_id,
        )


def attendance_walk_in(
    *, actor: User, session: GroupSession, player: Player, now: datetime | None = None
) -> Attendance:
    """A player who turns up without a booking: a spot in the session (capacity holds) and a
    present mark, in one transaction. A player already booked is simply marked present."""
    principal = Principal.load(actor)
    if player.academy_id != session.academy_id:
        raise BookingError("wrong_academy")
    if not marks_session(principal, session):
        raise BookingError("not_allowed")
    if not adds_walk_in(principal, session, player):
        raise BookingError("not_taught", "Only the front desk can add a player you don't teach.")
    with transaction.atomic():
        locked = lock(players=[player.pk], sessions=[session.pk])
        session = locked.sessions[session.pk]
        if session.is_cancelled:
            raise BookingError("session_cancelled")
        now = now or timezone.now()
        _check_window(session.starts_at, session.academy.tz, now)
        previous = latest_reservation(session, player)
        if previous is not None and previous.is_active:
            return _write(
                Attendance.objects.filter(reservation=previous).first(),
                Attendance(player=player, session=session, reservation=previous),
                status=Attendance.Status.PRESENT,
                actor=actor,
                now=now,
                academy_id=session.academy_id,
            )
        entry = room_for(session, player, now)
        if player_busy(player, session.starts_at, session.ends_at, exclude_session=session.pk):
            raise BookingError("player_busy")
        reservation = take_spot(session, player, actor, previous, entry)
        # A reactivated reservation may still carry the mark of before its cancellation.
        existing = Attendance.objects.filter(reservation=reservation).first()
        return _write(
            existing,
            Attendance(player=player, session=session, reservation=reservation),
            status=Attendance.Status.PRESENT,
            actor=actor,
            now=now,
            academy_id=session.academy_id,
            walk_in=True,
        )


def _check_window(starts_at: datetime, tz: tzinfo, now: datetime) -> None:
    if checkin_open(starts_at, tz, now):
        return
    if starts_at.astimezone(tz).date() > now.astimezone(tz).date():
        raise BookingError("checkin_not_open")
    raise BookingError(
        "checkin_closed",
        f"Check-in closes {CHECKIN_DAYS} days after the session; please ask the front desk.",
    )


def _write(
    existing: Attendance | None,
    new: Attendance,
    *,
    status: str,
    actor: User,
    now: datetime,
    academy_id: int,
    walk_in: bool = False,
) -> Attendance:
    """Create or change the mark and log it, unless it already says this (a repeat)."""
    if existing is not None and existing.status == status and not walk_in:
        return existing
    attendance = existing or new
    attendance.status = status
    attendance.marked_by = actor
    attendance.marked_at = now
    attendance.walk_in = attendance.walk_in or walk_in
    attendance.save()
    record(
        verb=Verb.WALK_IN if walk_in else Verb(status),
        academy_id=academy_id,
        actor_id=actor.pk,
        at=now,
        player_id=attendance.player_id,
        session_id=attendance.session_id,
        lesson_id=attendance.lesson_id,
    )
    return attendance
