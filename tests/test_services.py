"""The booking operations: every success path and every error code each one can raise.

A refused operation must change nothing: `refused()` compares a snapshot of every booking table
before and after the call. Times are relative to the world's sessions and passed as `now=`, so
the tests do not depend on the time of day they run at.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bookings.errors import BookingError
from bookings.models import IdempotencyKey, IndividualBooking, SessionReservation, WaitlistEntry
from bookings.selectors import lesson_slots
from bookings.services import (
    group_session_cancel,
    group_session_create,
    group_session_update,
    individual_booking_cancel,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
)
from bookings.services.sessions import SessionPlan
from scheduling.models import (
    Coach,
    CoachAvailability,
    CoachTimeOff,
    Court,
    GroupSession,
    SessionSeries,
    StaffAssignment,
    StaffMember,
)
from scheduling.slots import SlotStatus
from tests.factories import (
    book,
    days_ahead,
    local,
    make_academy,
    make_coach,
    make_individual_type,
    make_player,
    make_session,
    make_user,
    open_all_week,
    reserve,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(module_world):
    """The world built once for this module (see conftest.module_world)."""
    return module_world


def snapshot() -> dict[str, list[dict]]:
    models = (
        SessionReservation,
        IndividualBooking,
        GroupSession,
        StaffAssignment,
        IdempotencyKey,
        WaitlistEntry,
        SessionSeries,
        CoachTimeOff,
        CoachAvailability,
    )
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def refused(code: str, operation, /, **kwargs) -> BookingError:
    """Call the operation, expect BookingError(code), and check that nothing was written."""
    before = snapshot()
    with pytest.raises(BookingError) as info:
        operation(**kwargs)
    assert info.value.code == code, info.value
    assert snapshot() == before
    return info.value


def fresh(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def early(world):
    """Two days before the world's first session: no cut-off, notice or horizon applies."""
    return world.session.starts_at - timedelta(days=2)


# -- reservation_create ----------------------------------------------------------------------------


class TestReservationCreate:
    def test_player_reserves(self, world, early):
        r = reservation_create(
            player=world.player, session=world.session, actor=world.player_user, now=early
        )

        r = fresh(r)
        session = fresh(world.session)
        assert (r.status, r.player, r.session, r.reserved_by) == (
            SessionReservation.Status.RESERVED,
            world.player,
            world.session,
            world.player_user,
        )
        assert session.reserved_count == 1
        assert session.version == 2

    @pytest.mark.parametrize("actor", ["parent_user", "staff_user", "admin_user"])
    def test_guardian_staff_and_admin_reserve_for_a_child(self, world, early, actor):
        r = reservation_create(
            player=world.child, session=world.session, actor=getattr(world, actor), now=early
        )

        assert fresh(r).reserved_by == getattr(world, actor)
        assert fresh(world.session).reserved_count == 1

    @pytest.mark.parametrize("actor", ["other_parent_user", "coach_user", "foreign_staff_user"])
    def test_not_allowed(self, world, early, actor):
        refused(
            "not_allowed",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=getattr(world, actor),
            now=early,
        )

    def test_wrong_academy(self, world, early):
        refused(
            "wrong_academy",
            reservation_create,
            player=world.player,
            session=world.foreign_session,
            actor=world.player_user,
            now=early,
        )

    def test_session_full(self, world, early):
        for player in (world.child, world.child2, world.other_child, make_player(world.academy)):
            reserve(world.session, player)
        assert fresh(world.session).spots_left == 0

        refused(
            "session_full",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=world.staff_user,
            now=early,
        )

    def test_the_last_spot_can_be_taken(self, world, early):
        for player in (world.child, world.child2, world.other_child):
            reserve(world.session, player)

        reservation_create(
            player=world.player, session=world.session, actor=world.player_user, now=early
        )

        assert fresh(world.session).reserved_count == world.session.capacity

    @pytest.mark.parametrize("after", [timedelta(0), timedelta(minutes=1), timedelta(days=1)])
    @pytest.mark.parametrize("actor", ["player_user", "staff_user"])
    def test_session_past(self, world, after, actor):
        refused(
            "session_past",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=getattr(world, actor),
            now=world.session.starts_at + after,
        )

    def test_session_cancelled(self, world, early):
        group_session_cancel(session=world.session, actor=world.staff_user, now=early)

        refused(
            "session_cancelled",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=world.player_user,
            now=early,
        )

    def test_already_reserved_names_the_existing_reservation(self, world, early):
        first = reservation_create(
            player=world.player, session=world.session, actor=world.player_user, now=early
        )

        error = refused(
            "already_reserved",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=world.staff_user,
            now=early,
        )

        assert error.existing == first
        assert fresh(world.session).reserved_count == 1

    def test_beyond_horizon_for_players_but_not_staff(self, world):
        horizon = timedelta(days=world.academy.booking_horizon_days)
        too_early = world.session.starts_at - horizon - timedelta(minutes=1)

        for actor in (world.player_user, world.parent_user):
            player = world.player if actor == world.player_user else world.child
            refused(
                "beyond_horizon",
                reservation_create,
                player=player,
                session=world.session,
                actor=actor,
                now=too_early,
            )
        reservation_create(
            player=world.player, session=world.session, actor=world.staff_user, now=too_early
        )
        # Exactly at the horizon a player may book.
        reservation_create(
            player=world.child,
            session=world.session,
            actor=world.parent_user,
            now=world.session.starts_at - horizon,
        )
        assert fresh(world.session).reserved_count == 2

    def test_player_busy_with_an_overlapping_session(self, world, early):
        overlapping = make_session(
            world.academy,
            coaches=[world.coach2],
            starts_at=world.session.starts_at + timedelta(minutes=30),
        )
        reservation_create(
            player=world.player, session=overlapping, actor=world.player_user, now=early
        )

        refused(
            "player_busy",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=world.player_user,
            now=early,
        )

    def test_player_busy_with_an_overlapping_lesson(self, world, early):
        book(world.coach2, world.player, world.lesson_type, world.session.starts_at)

        refused(
            "player_busy",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=world.staff_user,
            now=early,
        )

    def test_cancelled_clashes_do_not_make_the_player_busy(self, world, early):
        lesson = book(world.coach2, world.player, world.lesson_type, world.session.starts_at)
        individual_booking_cancel(booking=lesson, actor=world.staff_user, now=early)
        touching = make_session(world.academy, starts_at=world.session.ends_at)
        reservation_create(player=world.player, session=touching, actor=world.staff_user, now=early)

        reservation_create(
            player=world.player, session=world.session, actor=world.player_user, now=early
        )

        assert fresh(world.session).reserved_count == 1

    def test_reactivation_reuses_the_cancelled_row(self, world, early):
        first = reservation_create(
            player=world.player, session=world.session, actor=world.player_user, now=early
        )
        reservation_cancel(reservation=first, actor=world.player_user, now=early)
        assert fresh(world.session).reserved_count == 0

        again = reservation_create(
            player=world.player, session=world.session, actor=world.staff_user, now=early
        )

        again = fresh(again)
        assert again.pk == first.pk
        assert again.is_active
        assert (again.reserved_by, again.cancelled_by, again.cancelled_at) == (
            world.staff_user,
            None,
            None,
        )
        assert SessionReservation.objects.filter(player=world.player).count() == 1
        assert fresh(world.session).reserved_count == 1

    def test_idempotency_key_returns_the_first_result(self, world, early):
        first = reservation_create(
            player=world.player,
            session=world.session,
            actor=world.player_user,
            idempotency_key="form-1",
            now=early,
        )
        before = snapshot()

        again = reservation_create(
            player=world.player,
            session=world.session,
            actor=world.player_user,
            idempotency_key="form-1",
            now=early,
        )

        assert again.pk == first.pk
        assert snapshot() == before  # no second row, count moved once
        assert SessionReservation.objects.count() == 1
        assert fresh(world.session).reserved_count == 1
        assert IdempotencyKey.objects.filter(user=world.player_user).count() == 1

    def test_a_new_key_for_the_same_reservation_is_a_duplicate(self, world, early):
        reservation_create(
            player=world.player,
            session=world.session,
            actor=world.player_user,
            idempotency_key="form-1",
            now=early,
        )
        refused(
            "already_reserved",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=world.player_user,
            idempotency_key="form-2",
            now=early,
        )

    def test_a_retry_after_the_session_filled_still_returns_the_first_result(self, world, early):
        first = reservation_create(
            player=world.player,
            session=world.session,
            actor=world.player_user,
            idempotency_key="form-1",
            now=early,
        )
        world.session.refresh_from_db()  # reserve() counts on the object it is given
        for player in (world.child, world.child2, world.other_child):
            reserve(world.session, player)

        again = reservation_create(
            player=world.player,
            session=world.session,
            actor=world.player_user,
            idempotency_key="form-1",
            now=early,
        )

        assert again.pk == first.pk
        assert fresh(world.session).reserved_count == 4

    def test_a_key_used_for_another_operation_is_refused(self, world, early):
        slot = local(world.academy, days_ahead(5), 14)
        individual_booking_create(
            player=world.player,
            coach=world.coach,
            session_type=world.lesson_type,
            starts_at=slot,
            actor=world.player_user,
            idempotency_key="form-1",
            now=early,
        )

        refused(
            "not_allowed",
            reservation_create,
            player=world.player,
            session=world.session,
            actor=world.player_user,
            idempotency_key="form-1",
            now=early,
        )

    def test_keys_belong_to_one_user(self, world, early):
        mine = reservation_create(
            player=world.child,
            session=world.session,
            actor=world.parent_user,
            idempotency_key="same",
            now=early,
        )
        theirs = reservation_create(
            player=world.other_child,
            session=world.session,
            actor=world.other_parent_user,
            idempotency_key="same",
            now=early,
        )

        assert mine.pk != theirs.pk
        assert fresh(world.session).reserved_count == 2


# -- reservation_cancel ---------------------------------------------------------------------------


@pytest.fixture
def mia_reservation(world):
    return reserve(world.session, world.player, by=world.player_user)


@pytest.fixture
def leo_reservation(world):
    return reserve(world.session, world.child, by=world.parent_user)


class TestReservationCancel:
    @pytest.mark.parametrize(
        "actor, whose",
        [
            ("player_user", "mia"),
            ("parent_user", "leo"),
            ("coach_user", "mia"),
            ("coach_user", "leo"),
            ("staff_user", "leo"),
            ("admin_user", "mia"),
        ],
    )
    def test_cancel(self, world, early, mia_reservation, leo_reservation, actor, whose):
        reservation = mia_reservation if whose == "mia" else leo_reservation
        actor = getattr(world, actor)

        result = reservation_cancel(reservation=reservation, actor=actor, now=early)

        result = fresh(result)
        assert result.pk == reservation.pk
        assert result.status == SessionReservation.Status.CANCELLED
        assert (result.cancelled_by, result.cancelled_at) == (actor, early)
        assert fresh(world.session).reserved_count == 1  # the other one stays
        assert fresh(mia_reservation if whose == "leo" else leo_reservation).is_active

    @pytest.mark.parametrize("actor, whose", [("player_user", "mia"), ("parent_user", "leo")])
    @pytest.mark.parametrize("before_start", [timedelta(hours=23, minutes=59), timedelta(hours=1)])
    def test_family_cannot_cancel_inside_the_cutoff(
        self, world, mia_reservation, leo_reservation, actor, whose, before_start
    ):
        reservation = mia_reservation if whose == "mia" else leo_reservation
        refused(
            "cutoff_passed",
            reservation_cancel,
            reservation=reservation,
            actor=getattr(world, actor),
            now=world.session.starts_at - before_start,
        )

    def test_family_may_cancel_exactly_at_the_cutoff(self, world, mia_reservation):
        now = world.session.starts_at - timedelta(hours=world.academy.cancellation_cutoff_hours)
        reservation_cancel(reservation=mia_reservation, actor=world.player_user, now=now)
        assert not fresh(mia_reservation).is_active

    def test_family_cannot_cancel_after_the_start(self, world, mia_reservation):
        refused(
            "session_past",
            reservation_cancel,
            reservation=mia_reservation,
            actor=world.player_user,
            now=world.session.starts_at + timedelta(minutes=5),
        )

    @pytest.mark.parametrize("actor", ["coach_user", "staff_user", "admin_user"])
    def test_coach_and_staff_override_the_cutoff(self, world, mia_reservation, actor):
        reservation_cancel(
            reservation=mia_reservation,
            actor=getattr(world, actor),
            now=world.session.starts_at - timedelta(minutes=10),
        )
        assert not fresh(mia_reservation).is_active
        assert fresh(world.session).reserved_count == 0

    def test_already_cancelled(self, world, early, mia_reservation):
        reservation_cancel(reservation=mia_reservation, actor=world.player_user, now=early)
        refused(
            "already_cancelled",
            reservation_cancel,
            reservation=mia_reservation,
            actor=world.staff_user,
            now=early,
        )
        assert fresh(world.session).reserved_count == 0  # decremented once, not twice

    @pytest.mark.parametrize(
        "actor",
        [
            "parent_user",  # Mia is not their child
            "other_parent_user",
            "coach2_user",  # not this session's coach
            "foreign_staff_user",
            "foreign_coach_user",
            "foreign_player_user",
            "foreign_parent_user",
        ],
    )
    def test_not_allowed(self, world, early, mia_reservation, actor):
        refused(
            "not_allowed",
            reservation_cancel,
            reservation=mia_reservation,
            actor=getattr(world, actor),
            now=early,
        )


# -- group_session_cancel ------------------------------------------------------------------------


class TestGroupSessionCancel:
    @pytest.mark.parametrize("actor", ["coach_user", "staff_user", "admin_user"])
    def test_cancel_cancels_every_active_reservation(self, world, early, actor):
        actor = getattr(world, actor)
        mia = reserve(world.session, world.player)
        leo = reserve(world.session, world.child)
        kai = reserve(world.session, world.other_child)
        reservation_cancel(reservation=kai, actor=world.other_parent_user, now=early)
        elsewhere = reserve(world.session2, world.player)

        session = group_session_cancel(session=world.session, actor=actor, now=early)

        session = fresh(session)
        assert session.status == GroupSession.Status.CANCELLED
        assert session.cancelled_at == early
        assert session.reserved_count == 0
        for r in (mia, leo):
            r = fresh(r)
            assert (r.status, r.cancelled_by, r.cancelled_at) == ("cancelled", actor, early)
        assert fresh(kai).cancelled_by == world.other_parent_user  # untouched
        assert fresh(elsewhere).is_active
        assert fresh(world.session2).reserved_count == 1

    @pytest.mark.parametrize(
        "actor",
        ["coach2_user", "player_user", "parent_user", "foreign_staff_user", "foreign_coach_user"],
    )
    def test_not_allowed(self, world, early, actor):
        reserve(world.session, world.player)
        refused(
            "not_allowed",
            group_session_cancel,
            session=world.session,
            actor=getattr(world, actor),
            now=early,
        )

    def test_already_cancelled(self, world, early):
        group_session_cancel(session=world.session, actor=world.coach_user, now=early)
        refused(
            "already_cancelled",
            group_session_cancel,
            session=world.session,
            actor=world.staff_user,
            now=early,
        )


# -- individual_booking_create -------------------------------------------------------------------


@pytest.fixture
def slot(world):
    """A free 14:00 lesson slot of the world's coach, five days ahead."""
    return local(world.academy, days_ahead(5), 14)


def lesson_for(world, slot, *, player=None, coach=None, actor=None, **kwargs):
    return individual_booking_create(
        player=player or world.player,
        coach=coach or world.coach,
        session_type=kwargs.pop("session_type", world.lesson_type),
        starts_at=slot,
        actor=actor or world.player_user,
        **{"now": slot - timedelta(days=2), **kwargs},
    )


class TestIndividualBookingCreate:
    def test_player_books_a_free_slot(self, world, slot):
        booking = fresh(lesson_for(world, slot))

        assert booking.status == IndividualBooking.Status.BOOKED
        assert (booking.player, booking.coach, booking.academy, booking.booked_by) == (
            world.player,
            world.coach,
            world.academy,
            world.player_user,
        )
        assert (booking.starts_at, booking.ends_at) == (slot, slot + timedelta(hours=1))
        slots = lesson_slots(
            world.coach, world.lesson_type, days_ahead(5), now=slot - timedelta(days=2)
        )
        assert {s.starts_at: s.status for s in slots}[slot] == SlotStatus.TAKEN

    @pytest.mark.parametrize("actor", ["parent_user", "staff_user", "admin_user"])
    def test_parent_staff_and_admin_book_for_a_child(self, world, slot, actor):
        booking = lesson_for(world, slot, player=world.child, actor=getattr(world, actor))
        assert fresh(booking).booked_by == getattr(world, actor)

    def test_with_a_free_court(self, world, slot):
        booking = lesson_for(world, slot, court=world.court)
        assert fresh(booking).court == world.court

    @pytest.mark.parametrize(
        "starts_at",
        [
            pytest.param(lambda s: s.replace(hour=21), id="after-the-window"),
            pytest.param(lambda s: s.replace(hour=7), id="before-the-window"),
            pytest.param(lambda s: s + timedelta(minutes=30), id="off-the-grid"),
            pytest.param(lambda s: s + timedelta(seconds=1), id="a-second-off"),
        ],
    )
    def test_slot_unavailable_off_the_slot_grid(self, world, slot, starts_at):
        start = starts_at(slot)
        refused(
            "slot_unavailable",
            lesson_for,
            world=world,
            slot=start,
            actor=world.staff_user,
            now=slot - timedelta(days=2),
        )

    def test_slot_unavailable_during_time_off(self, world, slot):
        CoachTimeOff.objects.create(
            coach=world.coach,
            starts_at=slot - timedelta(hours=1),
            ends_at=slot + timedelta(hours=2),
        )
        refused("slot_unavailable", lesson_for, world=world, slot=slot)

    def test_slot_unavailable_for_an_inactive_coach(self, world, slot):
        Coach.objects.filter(pk=world.coach.pk).update(is_active=False)
        refused("slot_unavailable", lesson_for, world=world, slot=slot, coach=fresh(world.coach))

    def test_slot_unavailable_for_another_lesson_type(self, world, slot):
        other_type = make_individual_type(world.academy)  # the coach offers no such lessons
        refused("slot_unavailable", lesson_for, world=world, slot=slot, session_type=other_type)

    def test_slot_taken(self, world, slot):
        book(world.coach, world.other_child, world.lesson_type, slot)
        refused("slot_taken", lesson_for, world=world, slot=slot, actor=world.staff_user)

    def test_slot_taken_by_an_overlapping_shorter_lesson(self, world, slot):
        half_hour = make_individual_type(world.academy, minutes=30)
        book(world.coach, world.other_child, half_hour, slot + timedelta(minutes=30))
        refused("slot_taken", lesson_for, world=world, slot=slot)

    def test_a_cancelled_lesson_frees_its_slot(self, world, slot):
        old = lesson_for(world, slot, player=world.other_child, actor=world.staff_user)
        individual_booking_cancel(booking=old, actor=world.staff_user, now=slot - timedelta(days=2))

        booking = lesson_for(world, slot)

        assert booking.pk != old.pk
        assert IndividualBooking.objects.filter(status="booked").get() == booking

    def test_coach_busy_with_a_group_session(self, world):
        at_session = world.session.starts_at  # the coach teaches world.session then
        refused("coach_busy", lesson_for, world=world, slot=at_session, actor=world.staff_user)

    def test_player_busy_with_another_lesson(self, world, slot):
        book(world.coach2, world.player, world.lesson_type, slot)
        refused("player_busy", lesson_for, world=world, slot=slot)

    def test_player_busy_with_a_group_session(self, world):
        reserve(world.session2, world.player)  # coach2's session, so world.coach is free then
        refused("player_busy", lesson_for, world=world, slot=world.session2.starts_at)

    @pytest.mark.parametrize("what", ["group session", "lesson"])
    def test_court_busy(self, world, slot, what):
        if what == "group session":
            make_session(world.academy, court=world.court, starts_at=slot - timedelta(minutes=30))
        else:
            lesson_for(
                world,
                slot,
                player=world.other_child,
                coach=world.coach2,
                court=world.court,
                actor=world.staff_user,
            )
        refused("court_busy", lesson_for, world=world, slot=slot, court=world.court)

    def test_too_soon_for_players_but_not_for_staff(self, world, slot):
        now = slot - timedelta(minutes=world.academy.min_notice_minutes - 1)
        refused("too_soon", lesson_for, world=world, slot=slot, now=now)
        refused(
            "too_soon",
            lesson_for,
            world=world,
            slot=slot,
            player=world.child,
            actor=world.parent_user,
            now=now,
        )

        booking = lesson_for(world, slot, actor=world.staff_user, now=now)

        assert fresh(booking).booked_by == world.staff_user

    def test_beyond_horizon_for_players_but_not_for_staff(self, world, slot):
        now = slot - timedelta(days=world.academy.booking_horizon_days, minutes=1)
        refused("beyond_horizon", lesson_for, world=world, slot=slot, now=now)

        booking = lesson_for(world, slot, actor=world.staff_user, now=now)

        assert booking.is_active

    @pytest.mark.parametrize("actor", ["player_user", "staff_user"])
    def test_session_past(self, world, slot, actor):
        refused(
            "session_past",
            lesson_for,
            world=world,
            slot=slot,
            actor=getattr(world, actor),
            now=slot + timedelta(minutes=1),
        )

    def test_not_individual(self, world, slot):
        refused("not_individual", lesson_for, world=world, slot=slot, session_type=world.group_type)

    @pytest.mark.parametrize("what", ["coach", "session type", "court", "player"])
    def test_wrong_academy(self, world, slot, what):
        kwargs = {}
        if what == "coach":
            kwargs["coach"] = world.foreign_coach
        elif what == "session type":
            kwargs["session_type"] = make_individual_type(world.other_academy)
        elif what == "court":
            kwargs["court"] = Court.objects.create(academy=world.other_academy, name="Away")
        else:
            kwargs["player"] = world.foreign_player
            kwargs["actor"] = world.foreign_player_user
        refused("wrong_academy", lesson_for, world=world, slot=slot, **kwargs)

    @pytest.mark.parametrize(
        "actor", ["other_parent_user", "coach_user", "coach2_user", "foreign_staff_user"]
    )
    def test_not_allowed(self, world, slot, actor):
        refused("not_allowed", lesson_for, world=world, slot=slot, actor=getattr(world, actor))

    def test_idempotency_key_returns_the_first_result(self, world, slot):
        first = lesson_for(world, slot, idempotency_key="lesson-form")
        before = snapshot()

        again = lesson_for(world, slot, idempotency_key="lesson-form")

        assert again.pk == first.pk
        assert snapshot() == before
        assert IndividualBooking.objects.count() == 1

    def test_a_utc_start_time_matches_the_local_slot(self, world, slot):
        booking = lesson_for(world, slot.astimezone(UTC))
        assert fresh(booking).starts_at == slot


class TestIndividualBookingsAcrossDaylightSaving:
    """Europe/London falls back on 2026-10-25: 01:00 happens twice (BST, then GMT)."""

    @pytest.fixture
    def night(self, db):
        academy = make_academy(tz="Europe/London", min_notice_minutes=0)
        coach = make_coach(academy)
        lesson = make_individual_type(academy, minutes=60)
        open_all_week(coach, lesson, start=0, end=4)
        staff = make_user()
        StaffMember.objects.create(academy=academy, user=staff)
        player = make_player(academy)
        return academy, coach, lesson, staff, player

    def test_a_lesson_over_the_change_lasts_one_real_hour(self, night):
        academy, coach, lesson, staff, player = night
        first_one_am = datetime(2026, 10, 25, 1, tzinfo=academy.tz)  # 01:00 BST = 00:00 UTC

        booking = individual_booking_create(
            player=player,
            coach=coach,
            session_type=lesson,
            starts_at=first_one_am,
            actor=staff,
            now=datetime(2026, 10, 20, tzinfo=UTC),
        )

        booking = fresh(booking)
        assert booking.starts_at == datetime(2026, 10, 25, 0, tzinfo=UTC)
        assert booking.ends_at == datetime(2026, 10, 25, 1, tzinfo=UTC)

    def test_the_repeated_hour_is_not_on_the_grid(self, night):
        academy, coach, lesson, staff, player = night
        second_one_am = datetime(2026, 10, 25, 1, fold=1, tzinfo=academy.tz)  # 01:00 GMT

        refused(
            "slot_unavailable",
            individual_booking_create,
            player=player,
            coach=coach,
            session_type=lesson,
            starts_at=second_one_am,
            actor=staff,
            now=datetime(2026, 10, 20, tzinfo=UTC),
        )


# -- individual_booking_cancel --------------------------------------------------------------------


@pytest.fixture
def mia_lesson(world, slot):
    return book(world.coach, world.player, world.lesson_type, slot, by=world.player_user)


@pytest.fixture
def leo_lesson(world, slot):
    return book(world.coach, world.child, world.lesson_type, slot + timedelta(hours=1))


class TestIndividualBookingCancel:
    @pytest.mark.parametrize(
        "actor, whose",
        [
            ("player_user", "mia"),
            ("parent_user", "leo"),
            ("coach_user", "mia"),
            ("staff_user", "leo"),
            ("admin_user", "mia"),
        ],
    )
    def test_cancel(self, world, slot, mia_lesson, leo_lesson, actor, whose):
        booking = mia_lesson if whose == "mia" else leo_lesson
        actor = getattr(world, actor)
        now = slot - timedelta(days=2)

        result = fresh(individual_booking_cancel(booking=booking, actor=actor, now=now))

        assert result.pk == booking.pk
        assert (result.status, result.cancelled_by, result.cancelled_at) == (
            IndividualBooking.Status.CANCELLED,
            actor,
            now,
        )
        assert fresh(leo_lesson if whose == "mia" else mia_lesson).is_active

    @pytest.mark.parametrize("actor, whose", [("player_user", "mia"), ("parent_user", "leo")])
    def test_family_cannot_cancel_inside_the_cutoff(
        self, world, mia_lesson, leo_lesson, actor, whose
    ):
        booking = mia_lesson if whose == "mia" else leo_lesson
        refused(
            "cutoff_passed",
            individual_booking_cancel,
            booking=booking,
            actor=getattr(world, actor),
            now=booking.starts_at - timedelta(hours=2),
        )

    def test_family_cannot_cancel_after_the_start(self, world, mia_lesson):
        refused(
            "session_past",
            individual_booking_cancel,
            booking=mia_lesson,
            actor=world.player_user,
            now=mia_lesson.starts_at + timedelta(minutes=1),
        )

    @pytest.mark.parametrize("actor", ["coach_user", "staff_user", "admin_user"])
    def test_coach_and_staff_override_the_cutoff(self, world, mia_lesson, actor):
        individual_booking_cancel(
            booking=mia_lesson,
            actor=getattr(world, actor),
            now=mia_lesson.starts_at - timedelta(minutes=10),
        )
        assert not fresh(mia_lesson).is_active

    def test_already_cancelled(self, world, slot, mia_lesson):
        now = slot - timedelta(days=2)
        individual_booking_cancel(booking=mia_lesson, actor=world.player_user, now=now)
        refused(
            "already_cancelled",
            individual_booking_cancel,
            booking=mia_lesson,
            actor=world.staff_user,
            now=now,
        )

    @pytest.mark.parametrize(
        "actor",
        [
            "parent_user",
            "other_parent_user",
            "coach2_user",
            "foreign_staff_user",
            "foreign_coach_user",
            "foreign_player_user",
        ],
    )
    def test_not_allowed(self, world, slot, mia_lesson, actor):
        refused(
            "not_allowed",
            individual_booking_cancel,
            booking=mia_lesson,
            actor=getattr(world, actor),
            now=slot - timedelta(days=2),
        )


# -- group_session_create and group_session_update ----------------------------------------------


def plan_of(session: GroupSession, **changes) -> SessionPlan:
    """The session as it is, with some fields changed."""
    current = {
        "session_type": session.session_type,
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "capacity": session.capacity,
        "court": session.court,
        "coaches": list(session.coaches.all()),
        "title": session.title,
    }
    return SessionPlan(**{**current, **changes})


class TestGroupSessionCreate:
    @pytest.mark.parametrize("actor", ["staff_user", "admin_user"])
    def test_staff_and_admin_create(self, world, actor):
        starts = local(world.academy, days_ahead(6), 17)
        session = group_session_create(
            academy=world.academy,
            plan=SessionPlan(
                session_type=world.group_type,
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                capacity=6,
                court=world.court,
                coaches=[world.coach, world.coach2],
                title="Evening squad",
            ),
            actor=getattr(world, actor),
        )
        session = fresh(session)
        assert (session.title, session.capacity, session.court, session.reserved_count) == (
            "Evening squad",
            6,
            world.court,
            0,
        )
        assert set(session.coaches.all()) == {world.coach, world.coach2}

    @pytest.mark.parametrize(
        "actor", ["coach_user", "player_user", "parent_user", "foreign_staff_user"]
    )
    def test_not_allowed(self, world, actor):
        starts = local(world.academy, days_ahead(6), 17)
        refused(
            "not_allowed",
            group_session_create,
            academy=world.academy,
            plan=SessionPlan(world.group_type, starts, starts + timedelta(hours=1), 6),
            actor=getattr(world, actor),
        )

    def test_a_busy_court_is_refused_naming_what_uses_it(self, world):
        GroupSession.objects.filter(pk=world.session.pk).update(court=world.court)
        starts = world.session.starts_at + timedelta(minutes=30)
        error = refused(
            "court_busy",
            group_session_create,
            academy=world.academy,
            plan=SessionPlan(
                world.group_type, starts, starts + timedelta(hours=1), 6, court=world.court
            ),
            actor=world.staff_user,
        )
        local_start = world.session.starts_at.astimezone(world.academy.tz)
        assert error.message == (
            f"{world.court.name} is in use then: {world.group_type.name}, "
            f"{local_start:%a %-d %b}, {local_start:%H:%M}\u2013"
            f"{local_start + timedelta(hours=1):%H:%M}."
        )

    def test_a_busy_coach_is_refused_naming_the_clash(self, world):
        starts = world.session.starts_at - timedelta(minutes=30)
        error = refused(
            "coach_busy",
            group_session_create,
            academy=world.academy,
            plan=SessionPlan(
                world.group_type, starts, starts + timedelta(hours=1), 6, coaches=[world.coach]
            ),
            actor=world.staff_user,
        )
        assert error.message.startswith(f"{world.coach.display_name} is teaching then: ")
        assert world.group_type.name in error.message

    def test_a_coach_with_a_lesson_then_is_busy(self, world):
        starts = local(world.academy, days_ahead(6), 12)
        book(world.coach, world.player, world.lesson_type, starts)
        refused(
            "coach_busy",
            group_session_create,
            academy=world.academy,
            plan=SessionPlan(
                world.group_type, starts, starts + timedelta(hours=1), 6, coaches=[world.coach]
            ),
            actor=world.staff_user,
        )

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            (lambda w: {"session_type": w.lesson_type}, "not_group"),
            (lambda w: {"ends_at": w.session.starts_at}, "bad_times"),
            (lambda w: {"coaches": [w.foreign_coach]}, "wrong_academy"),
            (lambda w: {"session_type": w.foreign_session.session_type}, "wrong_academy"),
        ],
        ids=["lesson-type", "ends-at-start", "foreign-coach", "foreign-type"],
    )
    def test_bad_plans(self, world, change, code):
        starts = world.session.starts_at
        plan = SessionPlan(world.group_type, starts, starts + timedelta(hours=1), 6)
        refused(
            code,
            group_session_create,
            academy=world.academy,
            plan=SessionPlan(**{**plan.__dict__, **change(world)}),
            actor=world.staff_user,
        )

    def test_an_inactive_coach_is_refused(self, world):
        Coach.objects.filter(pk=world.coach2.pk).update(is_active=False)
        world.coach2.refresh_from_db()
        starts = local(world.academy, days_ahead(6), 17)
        refused(
            "coach_inactive",
            group_session_create,
            academy=world.academy,
            plan=SessionPlan(
                world.group_type, starts, starts + timedelta(hours=1), 6, coaches=[world.coach2]
            ),
            actor=world.staff_user,
        )


class TestGroupSessionUpdate:
    def test_staff_change_capacity_down_to_the_reservations(self, world):
        reserve(world.session, world.player)
        reserve(world.session, world.child)

        group_session_update(
            session=world.session, plan=plan_of(world.session, capacity=10), actor=world.staff_user
        )
        assert fresh(world.session).capacity == 10
        group_session_update(
            session=world.session, plan=plan_of(world.session, capacity=2), actor=world.admin_user
        )
        session = fresh(world.session)
        assert (session.capacity, session.spots_left, session.reserved_count) == (2, 0, 2)
        refused(
            "session_full",
            reservation_create,
            player=world.child2,
            session=world.session,
            actor=world.parent_user,
            now=world.session.starts_at - timedelta(days=2),
        )

    def test_capacity_below_reservations(self, world):
        reserve(world.session, world.player)
        reserve(world.session, world.child)
        error = refused(
            "capacity_below_reservations",
            group_session_update,
            session=world.session,
            plan=plan_of(world.session, capacity=1),
            actor=world.staff_user,
        )
        assert "2 reservations" in error.message

    def test_move_retitle_and_change_coaches(self, world):
        reserve(world.session, world.player)
        version = fresh(world.session).version
        starts = world.session.starts_at + timedelta(days=1, hours=2)
        group_session_update(
            session=world.session,
            plan=plan_of(
                world.session,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=90),
                coaches=[world.coach2],
                title="Moved",
                court=world.court,
            ),
            actor=world.staff_user,
        )
        session = fresh(world.session)
        assert (session.starts_at, session.title, session.court) == (starts, "Moved", world.court)
        assert list(session.coaches.all()) == [world.coach2]
        assert session.reserved_count == 1  # its reservations stay
        assert session.version == version + 1

    def test_a_session_does_not_clash_with_itself(self, world):
        longer = world.session.ends_at + timedelta(minutes=30)
        GroupSession.objects.filter(pk=world.session.pk).update(court=world.court)
        world.session.refresh_from_db()
        group_session_update(
            session=world.session,
            plan=plan_of(world.session, ends_at=longer),
            actor=world.staff_user,
        )
        assert fresh(world.session).ends_at == longer

    def test_moving_onto_another_session_of_the_coach_is_refused(self, world):
        StaffAssignment.objects.create(session=world.session2, coach=world.coach)
        refused(
            "coach_busy",
            group_session_update,
            session=world.session,
            plan=plan_of(
                world.session, starts_at=world.session2.starts_at, ends_at=world.session2.ends_at
            ),
            actor=world.staff_user,
        )

    def test_a_cancelled_session_cannot_be_changed(self, world):
        group_session_cancel(session=world.session, actor=world.staff_user)
        refused(
            "session_cancelled",
            group_session_update,
            session=world.session,
            plan=plan_of(world.session, capacity=9),
            actor=world.staff_user,
        )

    @pytest.mark.parametrize(
        "actor", ["coach_user", "player_user", "parent_user", "foreign_staff_user"]
    )
    def test_not_allowed(self, world, actor):
        refused(
            "not_allowed",
            group_session_update,
            session=world.session,
            plan=plan_of(world.session, capacity=10),
            actor=getattr(world, actor),
        )
