"""Individual lesson time slots: a coach's weekly availability minus time off, the times the
coach is busy (lessons and group sessions, given by the caller: they live in bookings), the
minimum notice and the past. Computed in the academy's time zone on wall-clock
times, so a 16:00 slot stays at 16:00 across a daylight-saving change; a wall-clock time that
does not exist that day (the spring-forward gap) is not offered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from django.utils import timezone

from scheduling.models import Coach, CoachTimeOff, SessionType

Interval = tuple[datetime, datetime]


class SlotStatus(StrEnum):
    FREE = "free"
    TAKEN = "taken"  # the coach is teaching then (a lesson or a group session)
    PAST = "past"  # already started
    CLOSED = "closed"  # inside the minimum notice or beyond the booking horizon


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    status: SlotStatus

    @property
    def is_free(self) -> bool:
        return self.status == SlotStatus.FREE


def local_datetime(day: date, wall: time, tz) -> datetime | None:
    """The aware datetime of a wall-clock time, or None if that time does not exist that day."""
    aware = datetime.combine(day, wall, tzinfo=tz)
    round_trip = aware.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != aware.replace(tzinfo=None):
        return None
    return aware


def day_bounds(day: date, tz) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day as aware datetimes (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def _overlaps(start: datetime, end: datetime, intervals: list[Interval]) -> bool:
    return any(s < end and start < e for s, e in intervals)


def generate_slots(
    *,
    coach: Coach,
    session_type: SessionType,
    day: date,
    busy_between: Callable[[datetime, datetime], list[Interval]],
    now: datetime | None = None,
    enforce_notice: bool = True,
) -> list[Slot]:
    """The lesson slots of one coach, session type and local day, oldest first.

    `busy_between(start, end)`: when the coach teaches in [start, end), asked only when the
    coach offers this type that day (bookings.selectors.lesson_slots gives it: lessons and group
    sessions live in bookings). Two queries of its own: availability and time off. With
    enforce_notice=False (staff), only the past closes a slot.
    """
    academy = coach.academy
    tz = academy.tz
    now = now or timezone.now()
    duration = timedelta(minutes=session_type.duration_minutes)
    day_start, day_end = day_bounds(day, tz)

    windows = list(
        coach.availability.filter(session_type=session_type, weekday=day.weekday()).order_by(
            "start_time"
        )
    )
    if not windows:
        return []

    busy = busy_between(day_start, day_end)
    time_off = list(
        CoachTimeOff.objects.filter(
            coach=coach, starts_at__lt=day_end, ends_at__gt=day_start
        ).values_list("starts_at", "ends_at")
    )

    too_soon = academy.notice_until(now) if enforce_notice else now
    horizon_end = academy.horizon(now)
    slots: list[Slot] = []
    seen: set[datetime] = set()
    for window in windows:
        wall = datetime.combine(day, window.start_time)
        window_end = datetime.combine(day, window.end_time)
        while wall + duration <= window_end:
            starts_at = local_datetime(day, wall.time(), tz)
            wall += duration
            if starts_at is None or starts_at in seen:
                continue
            seen.add(starts_at)
            # In UTC: aware arithmetic in one zone is wall-clock and would stretch or shrink a
            # lesson that spans a DST change.
            ends_at = (starts_at.astimezone(UTC) + duration).astimezone(tz)
            if _overlaps(starts_at, ends_at, time_off):
                continue
            if starts_at < now:
                status = SlotStatus.PAST
            elif _overlaps(starts_at, ends_at, busy):
                status = SlotStatus.TAKEN
            elif starts_at < too_soon or (enforce_notice and starts_at > horizon_end):
                status = SlotStatus.CLOSED
            else:
                status = SlotStatus.FREE
            slots.append(Slot(starts_at, ends_at, status))
    slots.sort(key=lambda slot: slot.starts_at)
    return slots
