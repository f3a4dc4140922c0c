"""Lesson slots (scheduling.slots.generate_slots, with the busy times bookings.selectors gives):
availability windows, what takes or removes a slot, notice, horizon and DST.

Every test passes `now=` so nothing depends on today's date. The academy is in Europe/London:
2026-03-29 springs forward (01:00 -> 02:00), 2026-10-25 falls back (02:00 -> 01:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bookings.models import IndividualBooking
from bookings.selectors import lesson_slots
from scheduling.models import CoachAvailability, CoachTimeOff, GroupSession
from scheduling.slots import SlotStatus
from tests.factories import (
    book,
    make_academy,
    make_coach,
    make_individual_type,
    make_player,
    make_session,
)

pytestmark = pytest.mark.django_db

SUMMER_DAY = date(2026, 7, 1)  # a Wednesday, BST (UTC+1)
SPRING_FORWARD = date(2026, 3, 29)  # a Sunday
FALL_BACK = date(2026, 10, 25)  # a Sunday
EARLY = datetime(2026, 1, 1, tzinfo=UTC)  # long before every day used here


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def academy():
    return make_academy(tz="Europe/London", min_notice_minutes=60, booking_horizon_days=365)


@pytest.fixture
def coach(academy):
    return make_coach(academy)


@pytest.fixture
def lesson(academy):
    return make_individual_type(academy, minutes=60)


def offer(coach, session_type, day: date, start: str, end: str) -> CoachAvailability:
    return CoachAvailability.objects.create(
        coach=coach,
        session_type=session_type,
        weekday=day.weekday(),
        start_time=time.fromisoformat(start),
        end_time=time.fromisoformat(end),
    )


def at(academy, day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=academy.tz)


def local_times(slots) -> list[str]:
    return [f"{s.starts_at:%H:%M}" for s in slots]


def statuses(slots) -> dict[str, SlotStatus]:
    return {f"{s.starts_at:%H:%M}": s.status for s in slots}


def slots_for(coach, lesson, day, now=EARLY, **kwargs):
    return lesson_slots(coach, lesson, day, now=now, **kwargs)


# -- availability windows --------------------------------------------------------------------------


def test_windows_produce_back_to_back_slots_in_local_time(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "12:00")
    offer(coach, lesson, SUMMER_DAY, "14:00", "16:30")  # 16:00-17:00 would not fit

    slots = slots_for(coach, lesson, SUMMER_DAY)

    assert local_times(slots) == ["09:00", "10:00", "11:00", "14:00", "15:00"]
    assert all(s.status == SlotStatus.FREE and s.is_free for s in slots)
    assert [s.starts_at.astimezone(UTC) for s in slots] == [
        utc(2026, 7, 1, 8),
        utc(2026, 7, 1, 9),
        utc(2026, 7, 1, 10),
        utc(2026, 7, 1, 13),
        utc(2026, 7, 1, 14),
    ]
    assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in slots)


def test_slot_length_follows_the_session_type(academy, coach):
    lesson45 = make_individual_type(academy, minutes=45)
    offer(coach, lesson45, SUMMER_DAY, "09:00", "11:00")

    assert local_times(slots_for(coach, lesson45, SUMMER_DAY)) == ["09:00", "09:45"]


def test_overlapping_windows_do_not_duplicate_slots(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "11:00")
    offer(coach, lesson, SUMMER_DAY, "10:00", "12:00")

    assert local_times(slots_for(coach, lesson, SUMMER_DAY)) == ["09:00", "10:00", "11:00"]


def test_no_slots_on_other_weekdays_or_for_other_types_or_coaches(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "12:00")
    other_type = make_individual_type(academy)
    other_coach = make_coach(academy)

    assert slots_for(coach, lesson, SUMMER_DAY + timedelta(days=1)) == []
    assert slots_for(coach, other_type, SUMMER_DAY) == []
    assert slots_for(other_coach, lesson, SUMMER_DAY) == []
    assert len(slots_for(coach, lesson, SUMMER_DAY + timedelta(days=7))) == 3  # weekly


# -- what takes a slot and what removes it --------------------------------------------------------


def test_the_coachs_active_lessons_take_the_slots_they_overlap(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "13:00")
    player = make_player(academy)
    half_hour = make_individual_type(academy, minutes=30)
    book(coach, player, lesson, at(academy, SUMMER_DAY, "09:00"))
    book(coach, player, half_hour, at(academy, SUMMER_DAY, "10:45"))  # overlaps 10:00 and 11:00
    cancelled = book(coach, player, lesson, at(academy, SUMMER_DAY, "12:00"))
    cancelled.status = IndividualBooking.Status.CANCELLED
    cancelled.save()
    book(make_coach(academy), player, lesson, at(academy, SUMMER_DAY, "12:00"))  # other coach

    assert statuses(slots_for(coach, lesson, SUMMER_DAY)) == {
        "09:00": SlotStatus.TAKEN,
        "10:00": SlotStatus.TAKEN,
        "11:00": SlotStatus.TAKEN,
        "12:00": SlotStatus.FREE,
    }


def test_the_coachs_scheduled_group_sessions_take_slots(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "13:00")
    make_session(academy, coaches=[coach], starts_at=at(academy, SUMMER_DAY, "09:30"))
    cancelled = make_session(academy, coaches=[coach], starts_at=at(academy, SUMMER_DAY, "11:00"))
    GroupSession.objects.filter(pk=cancelled.pk).update(status=GroupSession.Status.CANCELLED)
    make_session(academy, coaches=[make_coach(academy)], starts_at=at(academy, SUMMER_DAY, "12:00"))

    assert statuses(slots_for(coach, lesson, SUMMER_DAY)) == {
        "09:00": SlotStatus.TAKEN,
        "10:00": SlotStatus.TAKEN,
        "11:00": SlotStatus.FREE,
        "12:00": SlotStatus.FREE,
    }


def test_time_off_removes_the_slots_it_overlaps(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "13:00")
    CoachTimeOff.objects.create(
        coach=coach,
        starts_at=at(academy, SUMMER_DAY, "09:30"),
        ends_at=at(academy, SUMMER_DAY, "11:00"),  # touches 11:00 but does not overlap it
    )

    assert local_times(slots_for(coach, lesson, SUMMER_DAY)) == ["11:00", "12:00"]


def test_time_off_spanning_days_removes_the_whole_day(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "13:00")
    CoachTimeOff.objects.create(
        coach=coach,
        starts_at=at(academy, SUMMER_DAY - timedelta(days=2), "00:00"),
        ends_at=at(academy, SUMMER_DAY + timedelta(days=2), "00:00"),
    )

    assert slots_for(coach, lesson, SUMMER_DAY) == []


# -- the past, the minimum notice and the horizon ------------------------------------------------


def test_past_and_inside_notice_slots(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "14:00")
    now = at(academy, SUMMER_DAY, "10:30")  # notice is 60 minutes: 11:00 is too soon

    assert statuses(slots_for(coach, lesson, SUMMER_DAY, now=now)) == {
        "09:00": SlotStatus.PAST,
        "10:00": SlotStatus.PAST,  # already started
        "11:00": SlotStatus.CLOSED,
        "12:00": SlotStatus.FREE,
        "13:00": SlotStatus.FREE,
    }
    # Staff skip the notice; the past stays past.
    assert statuses(slots_for(coach, lesson, SUMMER_DAY, now=now, enforce_notice=False)) == {
        "09:00": SlotStatus.PAST,
        "10:00": SlotStatus.PAST,
        "11:00": SlotStatus.FREE,
        "12:00": SlotStatus.FREE,
        "13:00": SlotStatus.FREE,
    }


def test_a_slot_exactly_at_the_notice_boundary_is_free(academy, coach, lesson):
    offer(coach, lesson, SUMMER_DAY, "09:00", "12:00")
    now = at(academy, SUMMER_DAY, "09:00")

    assert statuses(slots_for(coach, lesson, SUMMER_DAY, now=now)) == {
        "09:00": SlotStatus.CLOSED,  # starts now: not past, but inside the notice
        "10:00": SlotStatus.FREE,  # exactly 60 minutes ahead
        "11:00": SlotStatus.FREE,
    }


def test_booking_horizon_closes_later_slots_for_players_only(coach, lesson, academy):
    academy.booking_horizon_days = 30
    academy.save()
    offer(coach, lesson, SUMMER_DAY, "09:00", "12:00")
    now = utc(2026, 6, 1, 9)  # horizon ends 2026-07-01 09:00 UTC = 10:00 BST

    assert statuses(slots_for(coach, lesson, SUMMER_DAY, now=now)) == {
        "09:00": SlotStatus.FREE,
        "10:00": SlotStatus.FREE,  # exactly at the horizon
        "11:00": SlotStatus.CLOSED,
    }
    staff_view = slots_for(coach, lesson, SUMMER_DAY, now=now, enforce_notice=False)
    assert all(s.status == SlotStatus.FREE for s in staff_view)


# -- daylight saving time ------------------------------------------------------------------------


def test_spring_forward_skips_the_missing_hour(academy, coach, lesson):
    offer(coach, lesson, SPRING_FORWARD, "00:00", "04:00")

    slots = slots_for(coach, lesson, SPRING_FORWARD)

    assert local_times(slots) == ["00:00", "02:00", "03:00"]  # 01:00 does not exist that day
    assert [s.starts_at.astimezone(UTC) for s in slots] == [
        utc(2026, 3, 29, 0),  # GMT
        utc(2026, 3, 29, 1),  # BST
        utc(2026, 3, 29, 2),
    ]
    assert [s.ends_at.astimezone(UTC) for s in slots] == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
        utc(2026, 3, 29, 3),
    ]


def test_a_16_00_slot_stays_at_16_00_local_across_the_autumn_change(academy, coach, lesson):
    offer(coach, lesson, FALL_BACK, "16:00", "17:00")
    offer(coach, lesson, SUMMER_DAY, "10:00", "11:00")

    (autumn,) = slots_for(coach, lesson, FALL_BACK)
    (summer,) = slots_for(coach, lesson, SUMMER_DAY)

    assert f"{autumn.starts_at:%H:%M}" == "16:00"
    assert autumn.starts_at.astimezone(UTC) == utc(2026, 10, 25, 16)  # GMT again
    assert f"{summer.starts_at:%H:%M}" == "10:00"
    assert summer.starts_at.astimezone(UTC) == utc(2026, 7, 1, 9)  # BST


@pytest.mark.parametrize("day", [SPRING_FORWARD, FALL_BACK])
@pytest.mark.parametrize("minutes", [60, 120])
def test_every_slot_lasts_its_real_duration_on_dst_days(academy, coach, day, minutes):
    """A lesson is N minutes of real time even when the clocks change during it."""
    lesson = make_individual_type(academy, minutes=minutes)
    offer(coach, lesson, day, "00:00", "04:00")

    slots = slots_for(coach, lesson, day)

    assert slots
    for slot in slots:
        real = slot.ends_at.astimezone(UTC) - slot.starts_at.astimezone(UTC)
        assert real == timedelta(minutes=minutes), slot


def test_fall_back_offers_each_wall_clock_time_once(academy, coach, lesson):
    offer(coach, lesson, FALL_BACK, "00:00", "03:00")

    slots = slots_for(coach, lesson, FALL_BACK)

    assert local_times(slots) == ["00:00", "01:00", "02:00"]
    assert [s.starts_at.astimezone(UTC) for s in slots] == [
        utc(2026, 10, 24, 23),  # 00:00 BST
        utc(2026, 10, 25, 0),  # 01:00 BST, the first of the two 01:00s
        utc(2026, 10, 25, 2),  # 02:00 GMT
    ]


def test_a_lesson_across_the_autumn_change_takes_only_the_slots_it_overlaps(academy, coach, lesson):
    offer(coach, lesson, FALL_BACK, "00:00", "03:00")
    # 01:00-02:00 UTC is the second 01:00 (GMT): between the 01:00 BST and 02:00 GMT slots.
    book(coach, make_player(academy), lesson, utc(2026, 10, 25, 1))

    assert statuses(slots_for(coach, lesson, FALL_BACK)) == {
        "00:00": SlotStatus.FREE,
        "01:00": SlotStatus.FREE,  # 00:00-01:00 UTC
        "02:00": SlotStatus.FREE,  # 02:00-03:00 UTC
    }
