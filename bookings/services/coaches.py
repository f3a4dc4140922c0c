"""A coach's weekly lesson hours and time off, kept by the front desk or by the coach.

Lesson slots follow both at once (they are generated from them, scheduling.slots). Time off may
not cover what the coach already teaches: the clash is named, and the front desk moves or
reassigns it first. Writers take the coach's lock, which every writer of the coach's lessons
takes too, so a lesson booked meanwhile is seen.
"""

from __future__ import annotations

from datetime import datetime, time

from django.contrib.auth.models import User
from django.db import transaction

from bookings import selectors
from bookings.access import Action, Principal, can
from bookings.errors import BookingError
from bookings.locks import lock
from scheduling.models import Coach, CoachAvailability, CoachTimeOff, SessionType, Weekday
from scheduling.times import time_range


def availability_add(
    *,
    coach: Coach,
    session_type: SessionType,
    weekday: int,
    start_time: time,
    end_time: time,
    actor: User,
) -> CoachAvailability:
    """A weekly window in which the coach offers lessons of one type."""
    window = CoachAvailability(
        coach=coach,
        session_type=session_type,
        weekday=weekday,
        start_time=start_time,
        end_time=end_time,
    )
    if not can(Principal.load(actor), Action.CREATE, window):
        raise BookingError("not_allowed")
    if session_type.academy_id != coach.academy_id:
        raise BookingError("wrong_academy")
    if session_type.kind != SessionType.Kind.INDIVIDUAL:
        raise BookingError("not_individual")
    if weekday not in Weekday.values:
        raise BookingError("bad_times", "Choose a day of the week.")
    if end_time <= start_time:
        raise BookingError("bad_times")
    with transaction.atomic():
        lock(coaches=[coach.pk])
        other = CoachAvailability.objects.filter(
            coach=coach,
            session_type=session_type,
            weekday=weekday,
            start_time__lt=end_time,
            end_time__gt=start_time,
        ).first()
        if other is not None:
            raise BookingError(
                "availability_overlap",
                f"That overlaps {coach.display_name}'s {other.get_weekday_display()} "
                f"{time_range(other.start_time, other.end_time)} window for {session_type.name}.",
            )
        window.save()
    return window


def availability_remove(*, window: CoachAvailability, actor: User) -> None:
    """Lessons already booked in the window stay; no new ones are offered in it."""
    if not can(Principal.load(actor), Action.DELETE, window):
        raise BookingError("not_allowed")
    with transaction.atomic():
        lock(coaches=[window.coach_id])
        CoachAvailability.objects.filter(pk=window.pk).delete()


def time_off_add(
    *, coach: Coach, starts_at: datetime, ends_at: datetime, reason: str, actor: User
) -> CoachTimeOff:
    """Time off for a coach, refused if they teach then (naming what)."""
    away = CoachTimeOff(coach=coach, starts_at=starts_at, ends_at=ends_at, reason=reason.strip())
    if not can(Principal.load(actor), Action.CREATE, away):
        raise BookingError("not_allowed")
    if ends_at <= starts_at:
        raise BookingError("bad_times", "Time off must end after it starts.")
    with transaction.atomic():
        coach = lock(coaches=[coach.pk]).coaches[coach.pk]
        clash = selectors.coach_clash(coach.pk, starts_at, ends_at)
        if clash is not None:
            what = selectors.describe_use(clash, coach.academy.tz)
            raise BookingError(
                "coach_busy",
                f"{coach.display_name} teaches then: {what}. Move it or give it another coach "
                "first.",
            )
        away.save()
    return away


def time_off_remove(*, away: CoachTimeOff, actor: User) -> None:
    if not can(Principal.load(actor), Action.DELETE, away):
        raise BookingError("not_allowed")
    with transaction.atomic():
        lock(coaches=[away.coach_id])
        CoachTimeOff.objects.filter(pk=away.pk).delete()
