"""Check-in, walk-ins, ratings and goals (issue 12): every success path and every refusal, and
the activity log each one writes. A refused operation changes nothing: `refused()` compares every
table these services write before and after. Times are the world's session times, passed as
`now=`, so nothing depends on the hour the tests run at."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bookings.errors import BookingError
from bookings.models import (
    Activity,
    Attendance,
    Feedback,
    Goal,
    IndividualBooking,
    SessionReservation,
)
from bookings.services import (
    GoalPlan,
    attendance_mark,
    attendance_walk_in,
    feedback_save,
    goal_create,
    goal_step,
    goal_update,
    group_session_cancel,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
)
from bookings.services.activity import PRUNE_EVERY, prune
from bookings.windows import CHECKIN_DAYS, RATING_DAYS
from scheduling.models import GroupSession
from tests.factories import make_player, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(module_world):
    return module_world


def snapshot() -> dict[str, list[dict]]:
    models = (SessionReservation, IndividualBooking, GroupSession, Attendance, Feedback, Goal)
    return {
        **{m.__name__: list(m.objects.order_by("pk").values()) for m in models},
        "Activity": list(Activity.objects.order_by("pk").values()),
    }


def refused(code: str, operation, /, **kwargs) -> BookingError:
    before = snapshot()
    with pytest.raises(BookingError) as info:
        operation(**kwargs)
    assert info.value.code == code, info.value
    assert snapshot() == before
    return info.value


@pytest.fixture
def booked(world):
    """Mia and Leo booked on the coach's session (by themselves, two days before)."""
    early = world.session.starts_at - timedelta(days=2)
    mia = reservation_create(
        player=world.player, session=world.session, actor=world.player_user, now=early
    )
    leo = reservation_create(
        player=world.child, session=world.session, actor=world.parent_user, now=early
    )
    world.session.refresh_from_db()
    return mia, leo


@pytest.fixture
def during(world):
    """Five minutes into the coach's session."""
    return world.session.starts_at + timedelta(minutes=5)


def log(verb: str | None = None) -> list[tuple]:
    rows = Activity.objects.order_by("pk")
    if verb:
        rows = rows.filter(verb=verb)
    return list(rows.values_list("verb", "actor_id", "player_id", "session_id", "lesson_id"))


# -- attendance_mark ------------------------------------------------------------------------------


class TestMark:
    def test_the_coach_marks_present_late_and_absent(self, world, booked, during):
        mia, leo = booked
        a = attendance_mark(actor=world.coach_user, reservation=mia, status="present", now=during)
        assert (a.status, a.player_id, a.session_id, a.marked_by, a.marked_at) == (
            "present",
            world.player.pk,
            world.session.pk,
            world.coach_user,
            during,
        )
        attendance_mark(actor=world.coach_user, reservation=leo, status="late", now=during)
        # A correction replaces the mark: still one per attendee.
        attendance_mark(actor=world.staff_user, reservation=mia, status="absent", now=during)
        assert dict(Attendance.objects.values_list("player_id", "status")) == {
            world.player.pk: "absent",
            world.child.pk: "late",
        }
        marks = [(v, actor) for v, actor, *_ in log() if v in ("present", "late", "absent")]
        assert marks == [
            ("present", world.coach_user.pk),
            ("late", world.coach_user.pk),
            ("absent", world.staff_user.pk),
        ]

    def test_a_double_tap_writes_once(self, world, booked, during):
        mia, _ = booked
        first = attendance_mark(
            actor=world.coach_user, reservation=mia, status="present", now=during
        )
        before = snapshot()
        again = attendance_mark(
            actor=world.coach_user, reservation=mia, status="present", now=during + timedelta(1)
        )
        assert again.pk == first.pk and snapshot() == before

    def test_the_morning_of_the_day_and_for_two_weeks(self, world, booked):
        mia, _ = booked
        tz = world.academy.tz
        local = world.session.starts_at.astimezone(tz)
        morning = local.replace(hour=0, minute=1)
        attendance_mark(actor=world.coach_user, reservation=mia, status="present", now=morning)
        last = local.replace(hour=23, minute=59) + timedelta(days=CHECKIN_DAYS)
        attendance_mark(actor=world.coach_user, reservation=mia, status="late", now=last)

    def test_refusals(self, world, booked, during):
        mia, leo = booked
        day_before = world.session.starts_at - timedelta(days=1)
        too_late = world.session.starts_at + timedelta(days=CHECKIN_DAYS + 1)
        cases = [
            ("not_allowed", world.coach2_user, mia, "present", during),
            ("not_allowed", world.parent_user, leo, "present", during),
            ("not_allowed", world.player_user, mia, "present", during),
            ("not_allowed", world.foreign_staff_user, mia, "present", during),
            ("not_allowed", world.foreign_coach_user, mia, "present", during),
            ("bad_status", world.coach_user, mia, "here", during),
            ("checkin_not_open", world.coach_user, mia, "present", day_before),
            ("checkin_closed", world.coach_user, mia, "present", too_late),
        ]
        for code, actor, reservation, status, now in cases:
            refused(
                code,
                attendance_mark,
                actor=actor,
                reservation=reservation,
                status=status,
                now=now,
            )

    def test_not_on_a_cancelled_reservation_or_session(self, world, booked, during):
        mia, leo = booked
        reservation_cancel(reservation=mia, actor=world.staff_user, now=during)
        refused(
            "already_cancelled",
            attendance_mark,
            actor=world.coach_user,
            reservation=mia,
            status="present",
            now=during,
        )
        group_session_cancel(session=world.session, actor=world.staff_user, now=during)
        leo.refresh_from_db()
        refused(
            "session_cancelled",
            attendance_mark,
            actor=world.coach_user,
            reservation=leo,
            status="present",
            now=during,
        )

    def test_a_lesson(self, world):
        starts = world.session.starts_at + timedelta(hours=4)
        lesson = individual_booking_create(
            player=world.child2,
            coach=world.coach,
            session_type=world.lesson_type,
            starts_at=starts,
            actor=world.parent_user,
            now=starts - timedelta(days=2),
        )
        refused(
            "not_allowed",
            attendance_mark,
            actor=world.coach2_user,
            lesson=lesson,
            status="present",
            now=starts,
        )
        a = attendance_mark(actor=world.coach_user, lesson=lesson, status="late", now=starts)
        assert (a.lesson, a.session, a.player) == (lesson, None, world.child2)
        assert log("late") == [("late", world.coach_user.pk, world.child2.pk, None, lesson.pk)]


# -- attendance_walk_in ---------------------------------------------------------------------------


class TestWalkIn:
    def test_the_coach_adds_a_player_they_teach(self, world, booked, during):
        # Kai came to coach's session before (cancelled since): the coach teaches him.
        early = world.session.starts_at - timedelta(days=2)
        kai = reservation_create(
            player=world.other_child, session=world.session, actor=world.staff_user, now=early
        )
        reservation_cancel(reservation=kai, actor=world.staff_user, now=early)
        a = attendance_walk_in(
            actor=world.coach_user, session=world.session, player=world.other_child, now=during
        )
        world.session.refresh_from_db()
        assert (a.status, a.walk_in, a.reservation.pk) == ("present", True, kai.pk)  # reactivated
        assert world.session.reserved_count == 3
        assert SessionReservation.objects.get(pk=kai.pk).reserved_by == world.coach_user
        assert log("walk_in") == [
            ("walk_in", world.coach_user.pk, world.other_child.pk, world.session.pk, None)
        ]

    def test_the_desk_adds_anyone_of_the_academy_even_after_the_start(self, world, during):
        newcomer = make_player(world.academy, first="Nia")
        a = attendance_walk_in(
            actor=world.staff_user, session=world.session, player=newcomer, now=during
        )
        assert a.reservation.status == "reserved" and a.walk_in
        assert fresh_count(world.session) == 1

    def test_someone_booked_is_marked_present(self, world, booked, during):
        mia, _ = booked
        a = attendance_walk_in(
            actor=world.coach_user, session=world.session, player=world.player, now=during
        )
        assert (a.reservation.pk, a.status, a.walk_in) == (mia.pk, "present", False)
        assert fresh_count(world.session) == 2

    def test_capacity_still_holds(self, world, booked, during):
        for first in ("Ann", "Bob"):
            attendance_walk_in(
                actor=world.staff_user,
                session=world.session,
                player=make_player(world.academy, first=first),
                now=during,
            )
        assert fresh_count(world.session) == world.session.capacity
        refused(
            "session_full",
            attendance_walk_in,
            actor=world.staff_user,
            session=world.session,
            player=make_player(world.academy, first="Cy"),
            now=during,
        )

    def test_refusals(self, world, during):
        stranger = make_player(world.academy, first="Stranger")
        foreign = world.foreign_player
        cases = [
            ("not_taught", world.coach_user, stranger),  # the coach never taught them
            ("not_allowed", world.coach2_user, world.player),  # not coach2's session
            ("not_allowed", world.parent_user, world.child),
            ("wrong_academy", world.staff_user, foreign),
            ("wrong_academy", world.foreign_staff_user, foreign),
        ]
        for code, actor, player in cases:
            refused(
                code,
                attendance_walk_in,
                actor=actor,
                session=world.session,
                player=player,
                now=during,
            )
        refused(
            "checkin_not_open",
            attendance_walk_in,
            actor=world.staff_user,
            session=world.session,
            player=stranger,
            now=world.session.starts_at - timedelta(days=1),
        )

    def test_not_in_two_places_at_once(self, world, during):
        clash = make_session(
            world.academy,
            coaches=[world.coach2],
            session_type=world.group_type,
            starts_at=world.session.starts_at,
        )
        reservation_create(
            player=world.child2,
            session=clash,
            actor=world.parent_user,
            now=world.session.starts_at - timedelta(days=1),
        )
        refused(
            "player_busy",
            attendance_walk_in,
            actor=world.staff_user,
            session=world.session,
            player=world.child2,
            now=during,
        )


def fresh_count(session: GroupSession) -> int:
    session.refresh_from_db()
    assert session.reserved_count == session.reservations.filter(status="reserved").count()
    return session.reserved_count


# -- feedback_save --------------------------------------------------------------------------------


@pytest.fixture
def attended(world, booked, during):
    mia, leo = booked
    a_mia = attendance_mark(actor=world.coach_user, reservation=mia, status="present", now=during)
    a_leo = attendance_mark(actor=world.coach_user, reservation=leo, status="late", now=during)
    return a_mia, a_leo


class TestFeedback:
    def test_a_player_and_a_guardian_rate_and_change_their_rating(self, world, attended):
        a_mia, a_leo = attended
        after = world.session.ends_at + timedelta(hours=2)
        f = feedback_save(attendance=a_mia, actor=world.player_user, rating=5, now=after)
        assert (f.rating, f.comment, f.author) == (5, "", world.player_user)
        g = feedback_save(
            attendance=a_leo,
            actor=world.parent_user,
            rating=3,
            comment="  Too crowded <b>today</b>\r\nbut fun.  ",
            now=after,
        )
        assert g.comment == "Too crowded <b>today</b>\nbut fun."  # kept as typed, escaped on show
        # Once per attendance: a second rating changes the first.
        g2 = feedback_save(attendance=a_leo, actor=world.parent_user, rating=4, now=after)
        assert g2.pk == g.pk and Feedback.objects.count() == 2
        assert Feedback.objects.get(pk=g.pk).rating == 4
        rated = Activity.objects.filter(verb="rated").order_by("pk")
        assert list(rated.values_list("detail", "actor_id")) == [
            ("5", world.player_user.pk),
            ("3", world.parent_user.pk),
            ("4", world.parent_user.pk),
        ]
        # The same again changes nothing.
        before = snapshot()
        feedback_save(attendance=a_leo, actor=world.parent_user, rating=4, now=after)
        assert snapshot() == before

    def test_while_open_only(self, world, attended):
        a_mia, _ = attended
        last = world.session.ends_at + timedelta(days=RATING_DAYS)
        feedback_save(attendance=a_mia, actor=world.player_user, rating=4, now=last)
        refused(
            "rating_closed",
            feedback_save,
            attendance=a_mia,
            actor=world.player_user,
            rating=5,
            now=last + timedelta(minutes=1),
        )
        refused(
            "rating_closed",
            feedback_save,
            attendance=a_mia,
            actor=world.player_user,
            rating=5,
            now=world.session.starts_at - timedelta(minutes=1),
        )

    def test_refusals(self, world, attended, during):
        a_mia, a_leo = attended
        after = world.session.ends_at
        for actor in (
            world.coach_user,  # the coach reads ratings, never writes them
            world.staff_user,
            world.admin_user,
            world.other_parent_user,
            world.parent_user,  # not Mia's family
            world.foreign_player_user,
        ):
            refused(
                "not_allowed",
                feedback_save,
                attendance=a_mia,
                actor=actor,
                rating=5,
                now=after,
            )
        for rating in (0, 6, -1, True, "5", 4.5):
            refused(
                "bad_rating",
                feedback_save,
                attendance=a_mia,
                actor=world.player_user,
                rating=rating,
                now=after,
            )
        refused(
            "comment_too_long",
            feedback_save,
            attendance=a_mia,
            actor=world.player_user,
            rating=5,
            comment="x" * (Feedback.MAX_COMMENT + 1),
            now=after,
        )
        attendance_mark(
            actor=world.coach_user, reservation=a_leo.reservation, status="absent", now=during
        )
        a_leo.refresh_from_db()
        refused(
            "not_attended",
            feedback_save,
            attendance=a_leo,
            actor=world.parent_user,
            rating=1,
            now=after,
        )


# -- goals ----------------------------------------------------------------------------------------


PLAN = GoalPlan(title="Second serve in", progress=20, notes="Toss higher.")


class TestGoals:
    def test_the_coach_sets_goals_for_players_they_teach(self, world, booked):
        goal = goal_create(actor=world.coach_user, coach=world.coach, player=world.child, plan=PLAN)
        assert (goal.academy, goal.coach, goal.player, goal.progress) == (
            world.academy,
            world.coach,
            world.child,
            20,
        )
        refused(
            "not_taught",
            goal_create,
            actor=world.coach_user,
            coach=world.coach,
            player=world.other_child,
            plan=PLAN,
        )
        # Staff set one for any player of the academy, for any of its coaches.
        goal_create(actor=world.staff_user, coach=world.coach2, player=world.child2, plan=PLAN)
        for actor, coach, player, code in [
            (world.coach2_user, world.coach, world.child, "not_allowed"),  # coach's goals
            (world.parent_user, world.coach, world.child, "not_allowed"),
            (world.player_user, world.coach, world.player, "not_allowed"),
            (world.staff_user, world.coach, world.foreign_player, "wrong_academy"),
            (world.foreign_staff_user, world.coach, world.child, "not_allowed"),
        ]:
            refused(code, goal_create, actor=actor, coach=coach, player=player, plan=PLAN)

    def test_bad_plans(self, world, booked):
        for plan in (
            GoalPlan(title="  "),
            GoalPlan(title="x" * 121),
            GoalPlan(title="ok", progress=101),
            GoalPlan(title="ok", progress=-1),
            GoalPlan(title="ok", notes="n" * (Goal.MAX_NOTES + 1)),
        ):
            refused(
                "bad_goal",
                goal_create,
                actor=world.coach_user,
                coach=world.coach,
                player=world.child,
                plan=plan,
            )

    def test_progress_steps_and_edits(self, world, booked):
        goal = goal_create(actor=world.coach_user, coach=world.coach, player=world.child, plan=PLAN)
        assert goal_step(actor=world.coach_user, goal=goal, step=10).progress == 30
        assert goal_step(actor=world.coach_user, goal=goal, step=10).progress == 40  # from the row
        assert goal_step(actor=world.staff_user, goal=goal, step=100).progress == 100
        assert goal_step(actor=world.coach_user, goal=goal, step=-150).progress == 0
        edited = goal_update(
            actor=world.coach_user,
            goal=goal,
            plan=GoalPlan(title=" New title ", progress=55),
        )
        assert (edited.title, edited.progress, edited.notes) == ("New title", 55, "")
        for actor in (
            world.coach2_user,
            world.parent_user,
            world.player_user,
            world.foreign_staff_user,
        ):
            refused("not_allowed", goal_step, actor=actor, goal=goal, step=10)
            refused("not_allowed", goal_update, actor=actor, goal=goal, plan=PLAN)


# -- the activity log -----------------------------------------------------------------------------


class TestActivity:
    def test_bookings_and_cancellations_say_who_did_what(self, world):
        early = world.session.starts_at - timedelta(days=2)
        r = reservation_create(
            player=world.child, session=world.session, actor=world.parent_user, now=early
        )
        reservation_cancel(reservation=r, actor=world.staff_user, now=early)
        lesson = individual_booking_create(
            player=world.player,
            coach=world.coach,
            session_type=world.lesson_type,
            starts_at=world.session.starts_at + timedelta(hours=3),
            actor=world.player_user,
            now=early,
        )
        group_session_cancel(session=world.session2, actor=world.coach2_user, now=early)
        assert log() == [
            ("booked", world.parent_user.pk, world.child.pk, world.session.pk, None),
            ("cancelled", world.staff_user.pk, world.child.pk, world.session.pk, None),
            ("booked", world.player_user.pk, world.player.pk, None, lesson.pk),
            ("session_cancelled", world.coach2_user.pk, None, world.session2.pk, None),
        ]
        assert set(Activity.objects.values_list("at", flat=True)) == {early}

    def test_old_lines_are_pruned(self, world):
        now = world.session.starts_at
        old = now - timedelta(days=Activity.KEEP_DAYS, minutes=1)
        Activity.objects.bulk_create(
            Activity(academy=world.academy, verb="booked", at=at)
            for at in [old, old, now - timedelta(days=Activity.KEEP_DAYS - 1)]
        )
        Activity.objects.create(academy=world.other_academy, verb="booked", at=old)
        assert prune(academy_id=world.academy.pk, now=now) == 2
        assert Activity.objects.filter(academy=world.academy).count() == 1
        assert Activity.objects.filter(academy=world.other_academy).count() == 1  # not its turn
        assert PRUNE_EVERY > 1  # and record() prunes on every PRUNE_EVERY-th line
