"""The database's own guards, written around the services on purpose: a writer that skips
bookings.services (a script, a shell, a bug) still cannot oversell or double-book.

Check and unique constraints hold on every database; the exclusion constraints over time ranges
exist only on PostgreSQL (migration 0002) and their tests are marked `postgres`.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import time, timedelta

import pytest
from django.db import IntegrityError, transaction

from bookings.models import IndividualBooking, SessionReservation
from scheduling.models import CoachAvailability, CoachTimeOff, Court, GroupSession, SessionType
from tests.factories import days_ahead, local, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(module_world):
    """The world built once for this module (see conftest.module_world)."""
    return module_world


@contextmanager
def rejected():
    """The write inside must fail at the database; the savepoint keeps the test usable."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


# -- one active reservation per session and player -------------------------------------------------


def test_a_second_active_reservation_for_the_same_session_and_player_is_rejected(world):
    SessionReservation.objects.create(session=world.session, player=world.player)

    with rejected():
        SessionReservation.objects.create(session=world.session, player=world.player)

    assert SessionReservation.objects.filter(session=world.session).count() == 1


def test_cancelled_reservations_do_not_count_towards_uniqueness(world):
    for _ in range(2):
        SessionReservation.objects.create(
            session=world.session, player=world.player, status=SessionReservation.Status.CANCELLED
        )
    SessionReservation.objects.create(session=world.session, player=world.player)

    assert (
        SessionReservation.objects.filter(session=world.session, player=world.player).count() == 3
    )


def test_reactivating_a_cancelled_reservation_next_to_an_active_one_is_rejected(world):
    SessionReservation.objects.create(session=world.session, player=world.player)
    old = SessionReservation.objects.create(
        session=world.session, player=world.player, status=SessionReservation.Status.CANCELLED
    )

    with rejected():
        SessionReservation.objects.filter(pk=old.pk).update(
            status=SessionReservation.Status.RESERVED
        )


def test_the_same_player_may_hold_reservations_in_different_sessions(world):
    SessionReservation.objects.create(session=world.session, player=world.player)
    SessionReservation.objects.create(session=world.session2, player=world.player)
    SessionReservation.objects.create(session=world.session, player=world.child)

    assert SessionReservation.objects.count() == 3


# -- capacity and time checks ----------------------------------------------------------------------


def test_reserved_count_above_capacity_is_rejected(world):
    session = world.session  # capacity 4
    GroupSession.objects.filter(pk=session.pk).update(reserved_count=4)  # full is fine

    with rejected():
        GroupSession.objects.filter(pk=session.pk).update(reserved_count=5)
    with rejected():
        GroupSession.objects.filter(pk=session.pk).update(capacity=3)  # below the reservations

    session.refresh_from_db()
    assert (session.reserved_count, session.capacity) == (4, 4)


def test_a_session_cannot_be_created_overbooked(world):
    starts_at = local(world.academy, days_ahead(9), 10)
    with rejected():
        GroupSession.objects.create(
            academy=world.academy,
            session_type=world.group_type,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            capacity=2,
            reserved_count=3,
        )


def test_reserved_count_cannot_go_negative(world):
    with rejected():
        GroupSession.objects.filter(pk=world.session.pk).update(reserved_count=-1)


@pytest.mark.parametrize("minutes", [0, -30])
def test_group_session_must_end_after_it_starts(world, minutes):
    starts_at = local(world.academy, days_ahead(9), 10)
    with rejected():
        GroupSession.objects.create(
            academy=world.academy,
            session_type=world.group_type,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=minutes),
            capacity=4,
        )


@pytest.mark.parametrize("minutes", [0, -30])
def test_individual_booking_must_end_after_it_starts(world, minutes):
    starts_at = local(world.academy, days_ahead(9), 10)
    with rejected():
        IndividualBooking.objects.create(
            academy=world.academy,
            coach=world.coach,
            player=world.player,
            session_type=world.lesson_type,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=minutes),
        )


def test_availability_and_time_off_must_end_after_they_start(world):
    with rejected():
        CoachAvailability.objects.create(
            coach=world.coach,
            session_type=world.lesson_type,
            weekday=0,
            start_time=time(12),
            end_time=time(12),
        )
    starts_at = local(world.academy, days_ahead(9), 10)
    with rejected():
        CoachTimeOff.objects.create(coach=world.coach, starts_at=starts_at, ends_at=starts_at)


def test_session_type_duration_must_be_positive(world):
    with rejected():
        SessionType.objects.create(
            academy=world.academy, name="Zero", kind=SessionType.Kind.INDIVIDUAL, duration_minutes=0
        )


# -- PostgreSQL exclusion constraints over time ranges ------------------------------------------


@pytest.fixture
def ten(world):
    """10:00 local, nine days ahead."""
    return local(world.academy, days_ahead(9), 10)


def lesson(world, ten, *, coach=None, player=None, at=0, minutes=60, status=None):
    booking = IndividualBooking(
        academy=world.academy,
        coach=coach or world.coach,
        player=player or world.player,
        session_type=world.lesson_type,
        starts_at=ten + timedelta(minutes=at),
        ends_at=ten + timedelta(minutes=at + minutes),
    )
    if status:
        booking.status = status
    booking.save()
    return booking


@pytest.mark.postgres
@pytest.mark.parametrize("offset", [0, 30, -30, -59, 59])
def test_overlapping_lessons_of_one_coach_are_rejected(world, ten, offset):
    lesson(world, ten)
    with rejected():
        lesson(world, ten, player=world.child, at=offset)


@pytest.mark.postgres
def test_a_lesson_inside_another_of_the_same_coach_is_rejected(world, ten):
    lesson(world, ten, minutes=120)
    with rejected():
        lesson(world, ten, player=world.child, at=30, minutes=30)


@pytest.mark.postgres
@pytest.mark.parametrize("offset", [0, 30, -30])
def test_overlapping_lessons_of_one_player_are_rejected(world, ten, offset):
    lesson(world, ten, coach=world.coach)
    with rejected():
        lesson(world, ten, coach=world.coach2, at=offset)


@pytest.mark.postgres
def test_touching_lessons_are_fine(world, ten):
    lesson(world, ten)  # [10:00, 11:00)
    lesson(world, ten, player=world.child, at=60)  # [11:00, 12:00): same coach
    lesson(world, ten, coach=world.coach2, at=-60)  # [09:00, 10:00): same player

    assert IndividualBooking.objects.filter(status="booked").count() == 3


@pytest.mark.postgres
def test_cancelled_lessons_do_not_count(world, ten):
    lesson(world, ten, status=IndividualBooking.Status.CANCELLED)
    lesson(world, ten, coach=world.coach2, status=IndividualBooking.Status.CANCELLED)
    lesson(world, ten)  # same coach and same player as both cancelled ones

    assert IndividualBooking.objects.count() == 3


@pytest.mark.postgres
def test_rebooking_a_cancelled_lesson_into_a_taken_slot_is_rejected(world, ten):
    old = lesson(world, ten, status=IndividualBooking.Status.CANCELLED)
    lesson(world, ten, player=world.child)

    with rejected():
        IndividualBooking.objects.filter(pk=old.pk).update(status=IndividualBooking.Status.BOOKED)


@pytest.mark.postgres
def test_different_coaches_and_players_may_overlap(world, ten):
    lesson(world, ten)
    lesson(world, ten, coach=world.coach2, player=world.child)

    assert IndividualBooking.objects.count() == 2


@pytest.mark.postgres
def test_overlapping_scheduled_group_sessions_on_one_court_are_rejected(world, ten):
    make_session(world.academy, court=world.court, starts_at=ten)
    with rejected():
        make_session(world.academy, court=world.court, starts_at=ten + timedelta(minutes=30))


@pytest.mark.postgres
def test_group_sessions_on_one_court_may_touch_or_use_other_courts(world, ten):
    court2 = Court.objects.create(academy=world.academy, name="Court 2")
    make_session(world.academy, court=world.court, starts_at=ten)
    make_session(world.academy, court=world.court, starts_at=ten + timedelta(hours=1))
    make_session(world.academy, court=court2, starts_at=ten)
    make_session(world.academy, court=None, starts_at=ten)
    make_session(world.academy, court=None, starts_at=ten)

    assert GroupSession.objects.filter(starts_at__gte=ten).count() == 5


@pytest.mark.postgres
def test_a_cancelled_group_session_frees_its_court(world, ten):
    first = make_session(world.academy, court=world.court, starts_at=ten)
    GroupSession.objects.filter(pk=first.pk).update(status=GroupSession.Status.CANCELLED)
    second = make_session(world.academy, court=world.court, starts_at=ten)

    with rejected():  # and the cancelled one cannot come back over the new one
        GroupSession.objects.filter(pk=first.pk).update(status=GroupSession.Status.SCHEDULED)
    assert GroupSession.objects.get(pk=second.pk).status == GroupSession.Status.SCHEDULED


@pytest.mark.postgres
def test_exclusion_constraints_are_installed(world):
    """The constraints exist by name, so a migration change cannot drop one silently."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE contype = 'x' ORDER BY conname")
        names = [row[0] for row in cursor.fetchall()]
    assert names == [
        "booking_no_coach_overlap",
        "booking_no_player_overlap",
        "group_session_no_court_overlap",
    ]
