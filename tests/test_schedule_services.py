"""Running the schedule: weekly series (create, "this and the following", cancel the following),
session edits that carry what they started from (stale saves refused field by field, "keep
mine" under every rule), a coach's notes, coaches' hours and time off, and who may join a
session type. Every success and each refusal code; a refusal writes nothing (`refused`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

import pytest

from bookings.models import SessionReservation
from bookings.services import (
    availability_add,
    availability_remove,
    group_session_create,
    group_session_update,
    reservation_create,
    series_cancel,
    series_create,
    series_update,
    time_off_add,
    time_off_remove,
)
from bookings.services.sessions import SessionPlan, Stale, plan_of, plan_values
from scheduling.models import (
    CoachAvailability,
    CoachTimeOff,
    Court,
    Level,
    SessionSeries,
    Weekday,
)
from tests.factories import book, days_ahead, local, make_group_type, make_session, reserve
from tests.test_services import fresh, refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(module_world):
    return module_world


def next_weekday(weekday: int, after: int = 3) -> date:
    day = days_ahead(after)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


@pytest.fixture
def plan(world):
    """Tuesdays 17:00-18:00 on Court 1 with the coach, capacity 6."""
    tuesday = next_weekday(Weekday.TUESDAY)
    starts = local(world.academy, tuesday, 17)
    return SessionPlan(
        session_type=world.group_type,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        capacity=6,
        court=world.court,
        coaches=[world.coach],
        title="Junior squad",
    )


def first_day(plan: SessionPlan, world) -> date:
    return plan.starts_at.astimezone(world.academy.tz).date()


def make_series(world, plan, weeks=15, skip=()):
    first = first_day(plan, world)
    return series_create(
        academy=world.academy,
        plan=plan,
        until=first + timedelta(weeks=weeks - 1),
        skip=skip,
        actor=world.staff_user,
    )


def local_times(series: SessionSeries, tz) -> list[tuple[date, time, time]]:
    return [
        (
            s.starts_at.astimezone(tz).date(),
            s.starts_at.astimezone(tz).time(),
            s.ends_at.astimezone(tz).time(),
        )
        for s in series.occurrences.order_by("starts_at")
    ]


# -- creating a series ---------------------------------------------------------------------------


class TestSeriesCreate:
    def test_weekly_for_a_term_without_the_skipped_day(self, world, plan):
        first = first_day(plan, world)
        skipped = first + timedelta(weeks=7)

        series = make_series(world, plan, skip=[skipped])

        tz = world.academy.tz
        days = [d for d, *_ in local_times(series, tz)]
        assert len(days) == 14 and skipped not in days
        assert days[0] == first and days[-1] == first + timedelta(weeks=14)
        # The same wall-clock time every week, across the clock changes.
        assert {(start, end) for _, start, end in local_times(series, tz)} == {(time(17), time(18))}
        s = series.occurrences.first()
        assert (s.capacity, s.court, list(s.coaches.all()), s.title) == (
            6,
            world.court,
            [world.coach],
            "Junior squad",
        )
        assert series.describe().startswith("Tuesdays 17:00, Junior squad, Court 1, ")
        assert series.describe().endswith(f", not {skipped:%-d %b}")

    def test_one_event_for_the_whole_series(self, world, plan, monkeypatch):
        sent = []
        monkeypatch.setattr(
            "bookings.services.series.send_on_commit", lambda *events: sent.extend(events)
        )

        series = make_series(world, plan)

        (event,) = [e for e in sent if e.name == "sessions"]
        ids = set(series.occurrences.values_list("pk", flat=True))
        assert set(event.data["ids"]) == ids and len(event.data["times"]) == 15
        assert event.data["coaches"] == [world.coach.pk]

    @pytest.mark.parametrize("actor", ["coach_user", "parent_user", "foreign_staff_user"])
    def test_not_allowed(self, world, plan, actor):
        refused(
            "not_allowed",
            series_create,
            academy=world.academy,
            plan=plan,
            until=first_day(plan, world) + timedelta(weeks=3),
            actor=getattr(world, actor),
        )

    def test_wrong_academy(self, world, plan):
        refused(
            "wrong_academy",
            series_create,
            academy=world.other_academy,
            plan=plan,
            until=first_day(plan, world) + timedelta(weeks=3),
            actor=world.admin_user,
        )

    @pytest.mark.parametrize(
        "until, skip, code",
        [
            (-1, [], "bad_dates"),
            (400, [], "series_too_long"),
            (14, [1], "bad_dates"),  # not one of the series' days
            (0, [0], "series_empty"),
        ],
    )
    def test_bad_ranges(self, world, plan, until, skip, code):
        first = first_day(plan, world)
        error = refused(
            code,
            series_create,
            academy=world.academy,
            plan=plan,
            until=first + timedelta(days=until),
            skip=[first + timedelta(days=d) for d in skip],
            actor=world.staff_user,
        )
        if skip == [1]:
            assert "is not one of the series' days" in error.message

    def test_a_court_clash_on_one_week_is_named_with_its_date(self, world, plan):
        week5 = plan.starts_at + timedelta(weeks=5)
        other = make_session(
            world.academy, coaches=[world.coach2], starts_at=week5, court=world.court
        )
        other.title = "Adult drills"
        other.save()

        error = refused(
            "court_busy",
            series_create,
            academy=world.academy,
            plan=plan,
            until=first_day(plan, world) + timedelta(weeks=8),
            actor=world.staff_user,
        )

        day = week5.astimezone(world.academy.tz)
        assert error.message.startswith(f"{day:%a %-d %b}: Court 1 is in use then: Adult drills")

    def test_a_coach_teaching_or_away(self, world, plan):
        week2 = plan.starts_at + timedelta(weeks=2)
        book(world.coach, world.player, world.lesson_type, week2)
        refused(
            "coach_busy",
            series_create,
            academy=world.academy,
            plan=plan,
            until=first_day(plan, world) + timedelta(weeks=4),
            actor=world.staff_user,
        )
        CoachTimeOff.objects.create(
            coach=world.coach2, starts_at=week2, ends_at=week2 + timedelta(days=2), reason="Wedding"
        )
        error = refused(
            "coach_away",
            series_create,
            academy=world.academy,
            plan=replace(plan, coaches=[world.coach2]),
            until=first_day(plan, world) + timedelta(weeks=4),
            actor=world.staff_user,
        )
        assert "is away then: Wedding" in error.message


# -- this and the following --------------------------------------------------------------------


@pytest.fixture
def term(world, plan):
    """A 6-week series; Mia and Leo booked on its third and fifth sessions."""
    series = make_series(world, plan, weeks=6)
    world.occ = list(series.occurrences.order_by("starts_at"))
    reserve(world.occ[2], world.player)
    reserve(world.occ[4], world.child)
    return series


def values(session, **changes):
    """The occurrence's plan changed, and the base an editor of it started from."""
    session = fresh(session)
    return replace(plan_of(session), **changes), plan_values(plan_of(session), session.academy.tz)


class TestSeriesUpdate:
    def test_capacity_and_notes_from_the_third_on_split_the_series(self, world, term):
        occ = world.occ
        new, base = values(occ[2], capacity=9, notes="Serve work")

        rest = series_update(
            session=occ[2],
            plan=new,
            actor=world.staff_user,
            base=base,
            expected_version=fresh(occ[2]).version,
        )

        assert rest.pk != term.pk
        assert [fresh(s).capacity for s in occ] == [6, 6, 9, 9, 9, 9]
        assert [fresh(s).series_id for s in occ] == [term.pk] * 2 + [rest.pk] * 4
        assert fresh(occ[4]).notes == "Serve work"
        term.refresh_from_db()
        assert term.last_day == first_day(plan_of(occ[1]), world) + timedelta(days=6)
        assert rest.first_day == first_day(plan_of(occ[2]), world) and rest.capacity == 9
        # Reservations stay with their sessions.
        assert SessionReservation.objects.filter(session=occ[2], player=world.player).exists()

    def test_from_the_first_changes_the_series_in_place(self, world, term):
        new, base = values(world.occ[0], capacity=8)
        same = series_update(session=world.occ[0], plan=new, actor=world.staff_user, base=base)
        assert same.pk == term.pk and fresh(term).capacity == 8

    def test_moving_booked_sessions_needs_confirmation(self, world, term):
        occ, tz = world.occ, world.academy.tz
        later = fresh(occ[1]).starts_at + timedelta(hours=1)
        new, base = values(occ[1], starts_at=later, ends_at=later + timedelta(hours=1))

        error = refused(
            "moves_booked",
            series_update,
            session=occ[1],
            plan=new,
            actor=world.staff_user,
            base=base,
        )
        assert error.message.startswith("2 sessions with 2 booked would move")

        series_update(
            session=occ[1], plan=new, actor=world.staff_user, base=base, confirm_moves=True
        )
        assert {s.starts_at.astimezone(tz).time() for s in map(fresh, occ[1:])} == {time(18)}
        assert fresh(occ[0]).starts_at.astimezone(tz).time() == time(17)

    def test_a_clash_on_one_following_week_refuses_it_all(self, world, term):
        occ = world.occ
        court2 = Court.objects.create(academy=world.academy, name="Court 2")
        make_session(
            world.academy, coaches=[world.coach2], starts_at=fresh(occ[3]).starts_at, court=court2
        )
        new, base = values(occ[1], court=court2)

        error = refused(
            "court_busy",
            series_update,
            session=occ[1],
            plan=new,
            actor=world.staff_user,
            base=base,
        )
        day = fresh(occ[3]).starts_at.astimezone(world.academy.tz)
        assert error.message.startswith(f"{day:%a %-d %b}: Court 2 is in use then")

    def test_capacity_below_one_weeks_reservations(self, world, term):
        occ = world.occ
        for p in (world.child2, world.other_child):
            reserve(occ[4], p)
        new, base = values(occ[0], capacity=2)
        error = refused(
            "capacity_below_reservations",
            series_update,
            session=occ[0],
            plan=new,
            actor=world.staff_user,
            base=base,
        )
        assert "3 reservations" in error.message

    def test_not_allowed_for_a_coach_and_a_one_off_session(self, world, term):
        new, base = values(world.occ[0], capacity=8)
        refused(
            "not_allowed",
            series_update,
            session=world.occ[0],
            plan=new,
            actor=world.coach_user,
            base=base,
        )
        refused(
            "not_allowed",
            series_update,
            session=world.session,
            plan=plan_of(world.session),
            actor=world.staff_user,
        )

    def test_a_stale_edit_of_the_series_is_refused(self, world, term):
        new, base = values(world.occ[2], capacity=8)
        version = fresh(world.occ[2]).version
        mine, _ = values(world.occ[2], title="Juniors")
        group_session_update(session=world.occ[2], plan=mine, actor=world.admin_user)

        error = refused(
            "stale",
            series_update,
            session=world.occ[2],
            plan=new,
            actor=world.staff_user,
            base=base,
            expected_version=version,
        )
        assert error.existing.fields == ["title"]

    def test_started_sessions_are_not_edited_as_following(self, world, term):
        new, base = values(world.occ[0], capacity=8)
        refused(
            "session_past",
            series_update,
            session=world.occ[0],
            plan=new,
            actor=world.staff_user,
            base=base,
            now=fresh(world.occ[0]).starts_at,
        )


class TestSeriesCancel:
    def test_cancels_this_and_the_following_with_their_reservations(self, world, term):
        occ = world.occ
        cancelled = series_cancel(session=occ[3], actor=world.staff_user)

        assert [s.pk for s in cancelled] == [s.pk for s in occ[3:]]
        assert [fresh(s).is_cancelled for s in occ] == [False] * 3 + [True] * 3
        assert not SessionReservation.objects.filter(session=occ[4], status="reserved").exists()
        assert SessionReservation.objects.filter(session=occ[2], status="reserved").exists()

    def test_not_allowed_and_nothing_left(self, world, term):
        refused("not_allowed", series_cancel, session=world.occ[0], actor=world.coach_user)
        series_cancel(session=world.occ[4], actor=world.staff_user)
        refused("already_cancelled", series_cancel, session=world.occ[4], actor=world.staff_user)


# -- editing one session: versions, conflicts, a coach's notes ----------------------------------


class TestSessionEdits:
    def test_a_stale_save_names_the_fields_someone_else_changed(self, world):
        s = world.session
        version, base = fresh(s).version, plan_values(plan_of(s), world.academy.tz)
        theirs = replace(plan_of(s), capacity=10, notes="Bring balls")
        group_session_update(session=s, plan=theirs, actor=world.admin_user)
        mine = replace(plan_of(s), capacity=8)

        error = refused(
            "stale",
            group_session_update,
            session=s,
            plan=mine,
            actor=world.staff_user,
            expected_version=version,
            base=base,
        )

        stale = error.existing
        assert isinstance(stale, Stale)
        assert stale.fields == ["capacity", "notes"]
        assert (stale.stored.capacity, stale.version) == (10, fresh(s).version)

    def test_keep_mine_saves_over_the_new_version_under_every_rule(self, world):
        s = world.session
        theirs = replace(plan_of(s), capacity=10)
        group_session_update(session=s, plan=theirs, actor=world.admin_user)
        for p in (world.player, world.child, world.child2):
            reserve(s, p)
        base = plan_values(plan_of(fresh(s)), world.academy.tz)
        refused(
            "capacity_below_reservations",
            group_session_update,
            session=s,
            plan=replace(plan_of(s), capacity=2),
            actor=world.staff_user,
            expected_version=fresh(s).version,
            base=base,
        )

        group_session_update(
            session=s,
            plan=replace(plan_of(s), capacity=3),
            actor=world.staff_user,
            expected_version=fresh(s).version,
            base=base,
        )
        assert fresh(s).capacity == 3

    def test_bookings_moving_the_version_are_no_conflict(self, world):
        s = world.session
        version, base = fresh(s).version, plan_values(plan_of(s), world.academy.tz)
        reservation_create(
            player=world.player,
            session=s,
            actor=world.player_user,
            now=s.starts_at - timedelta(days=2),
        )
        assert fresh(s).version != version

        group_session_update(
            session=s,
            plan=replace(plan_of(s), capacity=5),
            actor=world.staff_user,
            expected_version=version,
            base=base,
        )
        assert fresh(s).capacity == 5

    def test_moving_a_booked_session_needs_confirmation_in_the_app(self, world):
        s = world.session
        reserve(s, world.player)
        later = replace(
            plan_of(s),
            starts_at=s.starts_at + timedelta(hours=2),
            ends_at=s.ends_at + timedelta(hours=2),
        )
        refused(
            "moves_booked",
            group_session_update,
            session=s,
            plan=later,
            actor=world.staff_user,
            confirm_moves=False,
        )
        group_session_update(session=s, plan=later, actor=world.staff_user, confirm_moves=True)
        assert fresh(s).starts_at == later.starts_at

    def test_a_coach_changes_the_notes_of_their_own_session(self, world):
        s = world.session
        base = {"notes": ""}
        group_session_update(
            session=s,
            plan=replace(plan_of(s), notes="Serve drills"),
            actor=world.coach_user,
            expected_version=fresh(s).version,
            base=base,
        )
        assert fresh(s).notes == "Serve drills"

    def test_a_coachs_notes_survive_a_staff_edit_of_other_fields(self, world):
        s = world.session
        version = fresh(s).version
        group_session_update(
            session=s, plan=replace(plan_of(s), capacity=7), actor=world.staff_user
        )
        group_session_update(
            session=s,
            plan=replace(plan_of(s), notes="Mine"),
            actor=world.coach_user,
            expected_version=version,
            base={"notes": ""},
        )
        assert (fresh(s).capacity, fresh(s).notes) == (7, "Mine")

    def test_a_coach_may_not_change_anything_else(self, world):
        s = world.session
        error = refused(
            "not_allowed",
            group_session_update,
            session=s,
            plan=replace(plan_of(s), capacity=20, notes="x"),
            actor=world.coach_user,
        )
        assert "only the notes" in error.message
        for actor in (world.coach2_user, world.parent_user, world.foreign_staff_user):
            refused(
                "not_allowed",
                group_session_update,
                session=s,
                plan=replace(plan_of(s), notes="x"),
                actor=actor,
            )

    def test_a_coachs_stale_notes(self, world):
        s = world.session
        version = fresh(s).version
        group_session_update(
            session=s, plan=replace(plan_of(s), notes="Staff wrote"), actor=world.staff_user
        )
        error = refused(
            "stale",
            group_session_update,
            session=s,
            plan=replace(plan_of(s), notes="Coach wrote"),
            actor=world.coach_user,
            expected_version=version,
            base={"notes": ""},
        )
        assert error.existing.fields == ["notes"]

    def test_a_coach_away_cannot_be_given_a_session(self, world):
        s = world.session
        CoachTimeOff.objects.create(
            coach=world.coach2,
            starts_at=s.starts_at - timedelta(hours=1),
            ends_at=s.ends_at,
            reason="",
        )
        refused(
            "coach_away",
            group_session_update,
            session=s,
            plan=replace(plan_of(s), coaches=[world.coach2]),
            actor=world.staff_user,
        )
        refused(
            "coach_away",
            group_session_create,
            academy=world.academy,
            plan=replace(plan_of(s), coaches=[world.coach2], court=None),
            actor=world.staff_user,
        )


# -- coaches' hours and time off ---------------------------------------------------------------


class TestHours:
    def window(self, world, actor, **kw):
        args = dict(
            coach=world.coach,
            session_type=world.lesson_type,
            weekday=0,
            start_time=time(7),
            end_time=time(8),
            actor=actor,
        )
        return availability_add(**{**args, **kw})

    @pytest.mark.parametrize("actor", ["staff_user", "coach_user", "admin_user"])
    def test_staff_and_the_coach_add_and_remove_hours(self, world, actor):
        window = self.window(world, getattr(world, actor))
        assert CoachAvailability.objects.filter(pk=window.pk).exists()
        availability_remove(window=window, actor=getattr(world, actor))
        assert not CoachAvailability.objects.filter(pk=window.pk).exists()

    @pytest.mark.parametrize("actor", ["coach2_user", "parent_user", "foreign_staff_user"])
    def test_others_may_not(self, world, actor):
        refused(
            "not_allowed",
            availability_add,
            coach=world.coach,
            session_type=world.lesson_type,
            weekday=0,
            start_time=time(7),
            end_time=time(8),
            actor=getattr(world, actor),
        )

    def test_refusals(self, world):
        staff = world.staff_user
        base = dict(coach=world.coach, weekday=0, actor=staff)
        refused(
            "availability_overlap",
            availability_add,
            session_type=world.lesson_type,
            start_time=time(9),
            end_time=time(10),
            **base,
        )
        refused(
            "not_individual",
            availability_add,
            session_type=world.group_type,
            start_time=time(6),
            end_time=time(7),
            **base,
        )
        refused(
            "bad_times",
            availability_add,
            session_type=world.lesson_type,
            start_time=time(7),
            end_time=time(6),
            **base,
        )

    def test_time_off_is_refused_over_what_the_coach_teaches(self, world):
        s = world.session
        error = refused(
            "coach_busy",
            time_off_add,
            coach=world.coach,
            starts_at=s.starts_at - timedelta(hours=2),
            ends_at=s.starts_at + timedelta(minutes=30),
            reason="Dentist",
            actor=world.staff_user,
        )
        assert "teaches then:" in error.message
        away = time_off_add(
            coach=world.coach,
            starts_at=s.ends_at,
            ends_at=s.ends_at + timedelta(hours=2),
            reason="Dentist",
            actor=world.coach_user,
        )
        time_off_remove(away=away, actor=world.staff_user)
        assert not CoachTimeOff.objects.filter(pk=away.pk).exists()
        refused(
            "bad_times",
            time_off_add,
            coach=world.coach,
            starts_at=s.ends_at,
            ends_at=s.ends_at,
            reason="",
            actor=world.staff_user,
        )
        refused(
            "not_allowed",
            time_off_add,
            coach=world.coach,
            starts_at=s.ends_at,
            ends_at=s.ends_at + timedelta(hours=1),
            reason="",
            actor=world.coach2_user,
        )


# -- eligibility -------------------------------------------------------------------------------


class TestEligibility:
    @pytest.fixture
    def junior(self, world):
        kind = make_group_type(world.academy, min_age=8, max_age=17, min_level=Level.IMPROVER)
        return make_session(
            world.academy,
            coaches=[world.coach2],
            session_type=kind,
            starts_at=local(world.academy, days_ahead(5), 9),
        )

    def attempt(self, world, junior, player, birth, level):
        player.birth_date, player.level = birth, level
        player.save()
        return dict(
            player=player,
            session=junior,
            actor=world.staff_user,
            now=junior.starts_at - timedelta(days=2),
        )

    def test_an_eligible_child_reserves(self, world, junior):
        born = junior.starts_at.date() - timedelta(days=365 * 12)
        assert reservation_create(**self.attempt(world, junior, world.child, born, Level.ADVANCED))

    @pytest.mark.parametrize(
        "years, level, words",
        [
            (29, Level.ADVANCED, "is for ages 8\N{EN DASH}17 · improver and above; Leo is 29."),
            (6, Level.ADVANCED, "Leo is 6."),
            (12, Level.BEGINNER, "Leo is at beginner level."),
            (None, Level.ADVANCED, "we have no date of birth for Leo"),
            (12, None, "Leo has no level yet"),
        ],
    )
    def test_who_may_not_is_refused_in_plain_words(self, world, junior, years, level, words):
        born = None if years is None else junior.starts_at.date() - timedelta(days=365 * years + 30)
        error = refused(
            "not_eligible",
            reservation_create,
            **self.attempt(world, junior, world.child, born, level),
        )
        assert words in error.message

    def test_the_age_on_the_day_of_the_session_counts(self, world, junior):
        day = junior.starts_at.astimezone(world.academy.tz).date()
        turns_eight_that_day = day.replace(year=day.year - 8)
        assert reservation_create(
            **self.attempt(world, junior, world.child, turns_eight_that_day, Level.IMPROVER)
        )
        turns_eighteen = day.replace(year=day.year - 18)
        refused(
            "not_eligible",
            reservation_create,
            **self.attempt(world, junior, world.child2, turns_eighteen, Level.IMPROVER),
        )
