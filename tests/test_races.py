"""Races on real transactions: many threads, each with its own database connection, released
together by a barrier, calling the real services. No mocks: the row locks, the constraints and
the database's isolation are what is under test.

They need transaction=True (each thread must see the others' commits). On PostgreSQL the row
locks and exclusion constraints do the work; on SQLite (a file database in IMMEDIATE transaction
mode) the write lock taken at BEGIN serializes the same services, so these tests run there too.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from bookings.errors import BookingError
from bookings.models import IdempotencyKey, IndividualBooking, SessionReservation
from bookings.services import (
    individual_booking_cancel,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
)
from scheduling.models import GroupSession, StaffMember
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

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _shared_database():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is not shared between threads' connections")


def race(work: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
    """Run work(arg) for every arg in its own thread, all released at once.

    Returns each call's result or the exception it raised, in the order of args.
    """
    barrier = threading.Barrier(len(args))
    results: list[Any] = [None] * len(args)

    def thread(i: int, arg: Any) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(arg)
        except BaseException as exc:
            results[i] = exc
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=thread, args=(i, a)) for i, a in enumerate(args)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def outcomes(results: list[Any]) -> Counter:
    """'ok' for a result, the code for a BookingError; anything else fails the test at once."""
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, BookingError)
    ]
    assert not unexpected, f"unexpected exceptions: {unexpected!r}"
    return Counter(r.code if isinstance(r, BookingError) else "ok" for r in results)


def active(session: GroupSession) -> int:
    return SessionReservation.objects.filter(session=session, status="reserved").count()


@pytest.fixture
def academy():
    return make_academy(tz="Europe/London", cancellation_cutoff_hours=24)


@pytest.fixture
def staff(academy):
    user = make_user()
    StaffMember.objects.create(academy=academy, user=user)
    return user


def players_with_logins(academy, n: int):
    return [make_player(academy, user=make_user()) for _ in range(n)]


# -- (a) the last five spots ----------------------------------------------------------------------


def test_fifty_attempts_at_the_last_five_spots_give_exactly_five(academy, staff):
    session = make_session(academy, capacity=10)
    for player in players_with_logins(academy, 5):
        reserve(session, player)
    contenders = players_with_logins(academy, 50)
    now = session.starts_at - timedelta(days=2)

    def attempt(i: int):
        player = contenders[i]
        actor = player.user if i % 2 else staff  # half book themselves, half at the front desk
        return reservation_create(player=player, session=session, actor=actor, now=now)

    results = race(attempt, range(50))

    assert outcomes(results) == {"ok": 5, "session_full": 45}
    session.refresh_from_db()
    assert session.reserved_count == session.capacity == active(session) == 10
    winners = {r.player_id for r in results if isinstance(r, SessionReservation)}
    assert winners == set(
        SessionReservation.objects.filter(
            session=session, status="reserved", player__in=contenders
        ).values_list("player_id", flat=True)
    )


# -- (b) one coach's slot ---------------------------------------------------------------------


def test_twenty_attempts_at_one_coach_slot_give_exactly_one_booking(academy, staff):
    coach = make_coach(academy)
    lesson = make_individual_type(academy)
    open_all_week(coach, lesson)
    slot = local(academy, days_ahead(5), 14)
    contenders = players_with_logins(academy, 20)

    def attempt(i: int):
        player = contenders[i]
        return individual_booking_create(
            player=player,
            coach=coach,
            session_type=lesson,
            starts_at=slot,
            actor=player.user if i % 2 else staff,
            now=slot - timedelta(days=2),
        )

    results = race(attempt, range(20))

    assert outcomes(results) == {"ok": 1, "slot_taken": 19}
    (winner,) = [r for r in results if isinstance(r, IndividualBooking)]
    assert list(IndividualBooking.objects.values_list("pk", "status")) == [(winner.pk, "booked")]


# -- (c) double submissions ------------------------------------------------------------------------


def test_a_double_submit_without_a_key_gives_one_reservation(academy):
    session = make_session(academy, capacity=10)
    (player,) = players_with_logins(academy, 1)

    results = race(
        lambda _: reservation_create(
            player=player,
            session=session,
            actor=player.user,
            now=session.starts_at - timedelta(days=2),
        ),
        range(6),
    )

    assert outcomes(results) == {"ok": 1, "already_reserved": 5}
    (winner,) = [r for r in results if isinstance(r, SessionReservation)]
    assert all(r.existing.pk == winner.pk for r in results if isinstance(r, BookingError))
    assert SessionReservation.objects.filter(session=session).count() == 1
    session.refresh_from_db()
    assert session.reserved_count == 1


def test_a_double_submit_with_one_key_returns_one_reservation_to_every_call(academy):
    session = make_session(academy, capacity=10)
    (player,) = players_with_logins(academy, 1)

    results = race(
        lambda _: reservation_create(
            player=player,
            session=session,
            actor=player.user,
            idempotency_key="submit-1",
            now=session.starts_at - timedelta(days=2),
        ),
        range(6),
    )

    assert outcomes(results) == {"ok": 6}
    assert len({r.pk for r in results}) == 1
    assert SessionReservation.objects.filter(session=session).count() == 1
    assert IdempotencyKey.objects.filter(key="submit-1").count() == 1
    session.refresh_from_db()
    assert session.reserved_count == 1


def test_a_double_submit_of_a_lesson_with_one_key_returns_one_booking(academy):
    coach = make_coach(academy)
    lesson = make_individual_type(academy)
    open_all_week(coach, lesson)
    slot = local(academy, days_ahead(5), 14)
    (player,) = players_with_logins(academy, 1)

    results = race(
        lambda _: individual_booking_create(
            player=player,
            coach=coach,
            session_type=lesson,
            starts_at=slot,
            actor=player.user,
            idempotency_key="lesson-1",
            now=slot - timedelta(days=2),
        ),
        range(6),
    )

    assert outcomes(results) == {"ok": 6}
    assert len({r.pk for r in results}) == 1
    assert IndividualBooking.objects.count() == 1


def test_one_key_reused_for_different_submissions_at_once_is_refused_not_a_crash(academy, staff):
    """A client bug: one key on two different forms, sent together. The locks of the two
    submissions do not overlap, so only the key's unique constraint tells them apart; the loser
    must get a BookingError, not an IntegrityError (a 500)."""
    sessions = [make_session(academy, capacity=10) for _ in range(2)]
    players = players_with_logins(academy, 2)

    results = race(
        lambda i: reservation_create(
            player=players[i],
            session=sessions[i],
            actor=staff,
            idempotency_key="same-key",
            now=sessions[i].starts_at - timedelta(days=2),
        ),
        range(2),
    )

    counts = outcomes(results)
    # Either they serialized (the second is a replay of the first) or they truly overlapped
    # (the second is refused); never two rows under one key.
    assert counts in ({"ok": 2}, {"ok": 1, "not_allowed": 1}), counts
    assert SessionReservation.objects.count() == IdempotencyKey.objects.count() == 1
    for session in sessions:
        session.refresh_from_db()
        assert session.reserved_count == active(session)


# -- (d) a storm ------------------------------------------------------------------------------


STORM_THREADS = 16
STORM_SECONDS = 3.0  # at least this long, and until every kind of operation succeeded a few
STORM_MAX_SECONDS = 12.0  # times (a loaded machine is slower), but never longer than this
STORM_OPS = ("reserve", "cancel", "book", "unbook")


def test_a_storm_of_bookings_and_cancellations_leaves_no_overlap_and_no_overbooking(academy, staff):
    """Random reservations, lessons and cancellations from many threads at once, then the
    database is checked directly: counts, capacity and every overlap rule."""
    day = days_ahead(6)
    at = lambda hhmm: local(academy, day, int(hhmm[:2]), int(hhmm[3:]))  # noqa: E731
    coaches = [make_coach(academy) for _ in range(2)]
    lesson60 = make_individual_type(academy, minutes=60)
    lesson90 = make_individual_type(academy, minutes=90)
    for coach in coaches:
        open_all_week(coach, lesson60, start=9, end=14)
        open_all_week(coach, lesson90, start=9, end=14)
    sessions = [
        make_session(academy, coaches=[coaches[0]], starts_at=at("10:00"), capacity=3),
        make_session(academy, starts_at=at("10:30"), capacity=2),  # overlaps the first
        make_session(academy, coaches=[coaches[1]], starts_at=at("12:00"), capacity=3),
        make_session(academy, starts_at=at("13:00"), capacity=1),
    ]
    players = players_with_logins(academy, 8)
    starts = [at(t) for t in ("09:00", "09:30", "10:00", "10:30", "11:00", "12:00", "12:30")]
    now = at("09:00") - timedelta(days=2)
    started = time.monotonic()
    progress: Counter = Counter()
    progress_lock = threading.Lock()

    def enough() -> bool:
        elapsed = time.monotonic() - started
        if elapsed < STORM_SECONDS:
            return False
        with progress_lock:
            return elapsed > STORM_MAX_SECONDS or all(progress[op] >= 3 for op in STORM_OPS)

    def storm(seed: int) -> Counter:
        rng = random.Random(seed)
        done: Counter = Counter()
        while not enough():
            player = rng.choice(players)
            actor = rng.choice([player.user, staff])
            op = rng.choice(STORM_OPS)
            # Mostly cancel something active, sometimes anything (already_cancelled).
            only_active = rng.random() < 0.75
            try:
                if op == "reserve":
                    reservation_create(
                        player=player, session=rng.choice(sessions), actor=actor, now=now
                    )
                elif op == "cancel":
                    rows = SessionReservation.objects.filter(player=player)
                    if only_active:
                        rows = rows.filter(status="reserved")
                    r = rows.order_by("?").first()
                    if r is None:
                        continue
                    reservation_cancel(reservation=r, actor=actor, now=now)
                elif op == "book":
                    individual_booking_create(
                        player=player,
                        coach=rng.choice(coaches),
                        session_type=rng.choice([lesson60, lesson90]),
                        starts_at=rng.choice(starts),
                        actor=actor,
                        now=now,
                    )
                else:
                    rows = IndividualBooking.objects.filter(player=player)
                    if only_active:
                        rows = rows.filter(status="booked")
                    b = rows.order_by("?").first()
                    if b is None:
                        continue
                    individual_booking_cancel(booking=b, actor=actor, now=now)
                done[f"{op}:ok"] += 1
                with progress_lock:
                    progress[op] += 1
            except BookingError as exc:
                done[f"{op}:{exc.code}"] += 1
        return done

    results = race(storm, range(STORM_THREADS))

    unexpected = [r for r in results if isinstance(r, BaseException)]
    assert not unexpected, f"non-domain exceptions in the storm: {unexpected!r}"
    totals = sum(results, Counter())
    # The storm did real work of every kind (else it proves nothing).
    for op in STORM_OPS:
        assert totals[f"{op}:ok"] > 0, totals

    for session in GroupSession.objects.all():
        assert active(session) <= session.capacity, session
        assert session.reserved_count == active(session), session
    assert overlapping_lessons() == []
    assert coach_in_two_places() == []
    assert player_in_two_places() == []


def overlapping_lessons() -> list[tuple]:
    """Pairs of booked lessons that share a coach or a player and overlap in time."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, b.id
            FROM bookings_individualbooking a
            JOIN bookings_individualbooking b
              ON a.id < b.id
             AND (a.coach_id = b.coach_id OR a.player_id = b.player_id)
             AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
            WHERE a.status = 'booked' AND b.status = 'booked'
            """
        )
        return cursor.fetchall()


def coach_in_two_places() -> list[tuple]:
    """Booked lessons during a scheduled group session the same coach teaches."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT b.id, s.id
            FROM bookings_individualbooking b
            JOIN scheduling_staffassignment sa ON sa.coach_id = b.coach_id
            JOIN scheduling_groupsession s ON s.id = sa.session_id
            WHERE b.status = 'booked' AND s.status = 'scheduled'
              AND b.starts_at < s.ends_at AND s.starts_at < b.ends_at
            """
        )
        return cursor.fetchall()


def player_in_two_places() -> list[tuple]:
    """A player's active commitments (lessons and reserved scheduled sessions) that overlap."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH busy AS (
                SELECT 'lesson' AS kind, id, player_id, starts_at, ends_at
                FROM bookings_individualbooking WHERE status = 'booked'
                UNION ALL
                SELECT 'session', r.id, r.player_id, s.starts_at, s.ends_at
                FROM bookings_sessionreservation r
                JOIN scheduling_groupsession s ON s.id = r.session_id
                WHERE r.status = 'reserved' AND s.status = 'scheduled'
            )
            SELECT a.kind, a.id, b.kind, b.id
            FROM busy a JOIN busy b
              ON a.player_id = b.player_id
             AND (a.kind < b.kind OR (a.kind = b.kind AND a.id < b.id))
             AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
            """
        )
        return cursor.fetchall()


def test_the_overlap_detectors_see_planted_overlaps(world):
    """The storm's SQL checks are only worth something if they can fail: plant what the
    services refuse (the database's exclusion constraints refuse some of it on PostgreSQL)."""
    w = world
    reserve(w.session, w.player)
    book(w.coach, w.child, w.lesson_type, w.session.starts_at)  # coach during his session
    book(w.coach2, w.player, w.lesson_type, w.session.starts_at + timedelta(minutes=30))
    cancelled = book(w.coach2, w.child, w.lesson_type, w.session.starts_at + timedelta(hours=3))
    IndividualBooking.objects.filter(pk=cancelled.pk).update(
        status="cancelled", starts_at=w.session.starts_at, ends_at=w.session.ends_at
    )

    assert len(coach_in_two_places()) == 1
    assert len(player_in_two_places()) == 1  # Mia: her session and her lesson
    assert overlapping_lessons() == []  # the cancelled lesson does not count
    if connection.vendor != "postgresql":  # elsewhere no constraint stops a planted overlap
        book(w.coach2, w.child2, w.lesson_type, w.session.starts_at + timedelta(minutes=45))
        assert len(overlapping_lessons()) == 1


# -- (f) walk-ins at the door and bookings online, for the last spots (issue 12) ------------------


def test_walk_ins_and_bookings_for_the_last_three_spots_give_exactly_three(academy, staff):
    from bookings.services import attendance_walk_in

    coach_user = make_user()
    coach = make_coach(academy, coach_user)
    session = make_session(academy, coaches=[coach], capacity=6)
    for player in players_with_logins(academy, 3):
        reserve(session, player)
    contenders = players_with_logins(academy, 20)
    now = session.starts_at - timedelta(hours=1)  # the session's day: check-in is open

    def attempt(i: int):
        player = contenders[i]
        if i % 2:
            return reservation_create(player=player, session=session, actor=player.user, now=now)
        return attendance_walk_in(actor=staff, session=session, player=player, now=now)

    assert outcomes(race(attempt, range(20))) == {"ok": 3, "session_full": 17}
    session.refresh_from_db()
    assert session.reserved_count == session.capacity == active(session) == 6


# -- (g) check-in, cancellations, bookings and goals of the same players at once -------------------


def test_marks_cancellations_bookings_and_goals_of_one_player_never_deadlock(academy, staff):
    """A mark and a cancellation hold only the session's lock, a booking the player's then the
    session's, a goal the coach's then the player's: nothing waits in a circle (the log's and
    the mark's row point at the player without a foreign-key check, see models.Attendance)."""
    from bookings.models import Attendance
    from bookings.services import GoalPlan, attendance_mark, goal_create

    coach_user = make_user()
    coach = make_coach(academy, coach_user)
    lesson_type = make_individual_type(academy)
    open_all_week(coach, lesson_type, start=6, end=22)
    here = make_session(academy, coaches=[coach], capacity=20)
    players = players_with_logins(academy, 8)
    held = {p.pk: reserve(here, p) for p in players}
    others = [make_session(academy, starts_at=here.starts_at + timedelta(hours=2), capacity=20)] * 2
    now = here.starts_at - timedelta(hours=2)
    lesson_at = [here.starts_at + timedelta(hours=4 + n) for n in range(len(players))]

    def work(i: int):
        player = players[i % len(players)]
        r = held[player.pk]
        match i // len(players):
            case 0:
                return attendance_mark(actor=coach_user, reservation=r, status="present", now=now)
            case 1:
                return reservation_cancel(reservation=r, actor=staff, now=now)
            case 2:  # back into the same session (after the cancel) or another one
                session = here if i % 2 else others[i % 2]
                return reservation_create(player=player, session=session, actor=staff, now=now)
            case 3:
                return individual_booking_create(
                    player=player,
                    coach=coach,
                    session_type=lesson_type,
                    starts_at=lesson_at[i % len(players)],
                    actor=staff,
                    now=now,
                )
            case _:
                plan = GoalPlan(title=f"Goal {i}")
                return goal_create(actor=staff, coach=coach, player=player, plan=plan)

    counts = outcomes(race(work, range(5 * len(players))))
    assert set(counts) <= {"ok", "already_cancelled", "already_reserved"}, counts
    here.refresh_from_db()
    assert here.reserved_count == active(here)
    # A mark lands only on a reservation active at that moment (before the cancellation, or
    # after the player booked it again): each player's was marked or refused, never both.
    assert Attendance.objects.count() + counts["already_cancelled"] == len(players)
