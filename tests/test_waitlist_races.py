"""Races on real PostgreSQL transactions for the waiting list and the series: many threads with
their own connections, released together, calling the real services (tests/test_races.race).

The claims: concurrent cancellations, joins, leaves and capacity changes never exceed
capacity, never promote anyone twice, keep first come first served, and leave the session's
counters equal to its rows; offers expire exactly once however many expiry runs race; a series
edit racing bookings of its sessions leaves every session within its capacity.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from bookings.errors import BookingError
from bookings.models import SessionReservation, WaitlistEntry
from bookings.services import (
    expire_offers,
    group_session_update,
    reservation_cancel,
    reservation_create,
    series_create,
    series_update,
    waitlist_join,
    waitlist_leave,
)
from bookings.services.sessions import SessionPlan, plan_of, plan_values
from scheduling.models import Academy, GroupSession, StaffMember
from tests.factories import (
    days_ahead,
    local,
    make_academy,
    make_coach,
    make_group_type,
    make_session,
    make_user,
    reserve,
)
from tests.test_races import active, outcomes, players_with_logins, race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
    pytest.mark.postgres,
]

Status = WaitlistEntry.Status


@pytest.fixture
def academy():
    return make_academy(tz="Europe/London", cancellation_cutoff_hours=24)


@pytest.fixture
def staff(academy):
    user = make_user()
    StaffMember.objects.create(academy=academy, user=user)
    return user


def check_counters(session: GroupSession) -> None:
    """The session's counters equal its rows; nobody is both reserved and waiting."""
    session.refresh_from_db()
    reserved = set(
        SessionReservation.objects.filter(session=session, status="reserved").values_list(
            "player_id", flat=True
        )
    )
    open_entries = WaitlistEntry.objects.filter(session=session, status__in=WaitlistEntry.OPEN)
    waiting = open_entries.filter(status=Status.WAITING).count()
    offered = open_entries.filter(status=Status.OFFERED).count()
    assert session.reserved_count == len(reserved) == active(session)
    assert (session.waiting_count, session.held_count) == (waiting, offered)
    assert session.reserved_count + session.held_count <= session.capacity
    assert not reserved & set(open_entries.values_list("player_id", flat=True))


def first_come_first_served(session: GroupSession) -> None:
    """Every promoted (or offered) entry joined before every entry still waiting."""
    entries = WaitlistEntry.objects.filter(session=session)
    served = list(
        entries.filter(status__in=[Status.PROMOTED, Status.OFFERED]).values_list("id", flat=True)
    )
    waiting = list(entries.filter(status=Status.WAITING).values_list("id", flat=True))
    if served and waiting:
        assert max(served) < min(waiting), (served, waiting)


def full_with_a_queue(academy, capacity: int, queued: int, now):
    session = make_session(academy, capacity=capacity, starts_at=local(academy, days_ahead(5), 10))
    holders = players_with_logins(academy, capacity)
    reservations = [reserve(session, p, by=p.user) for p in holders]
    line = players_with_logins(academy, queued)
    for player in line:
        waitlist_join(player=player, session=session, actor=player.user, now=now)
    return session, reservations, line


def test_concurrent_cancellations_promote_the_first_in_line_exactly_once(academy):
    now = local(academy, days_ahead(5), 10) - timedelta(days=2)
    session, reservations, line = full_with_a_queue(academy, capacity=10, queued=8, now=now)

    def cancel(i: int):
        r = reservations[i]
        return reservation_cancel(reservation=r, actor=r.player.user, now=now)

    results = race(cancel, range(6))

    assert outcomes(results) == {"ok": 6}
    promoted = {p.pk for p in line if active_in(session, p)}
    assert promoted == {p.pk for p in line[:6]}  # the first six, in order
    assert SessionReservation.objects.filter(session=session, player__in=line[:6]).count() == 6
    check_counters(session)
    first_come_first_served(session)


def active_in(session, player) -> bool:
    return SessionReservation.objects.filter(
        session=session, player=player, status="reserved"
    ).exists()


def test_a_storm_of_joins_leaves_cancellations_and_capacity_changes(academy, staff):
    """Random joins, leaves, reservations, cancellations and capacity edits at once: the
    counters match the rows, capacity holds, and the queue is served in order."""
    now = local(academy, days_ahead(5), 10) - timedelta(days=2)
    session, _, _ = full_with_a_queue(academy, capacity=6, queued=3, now=now)
    players = players_with_logins(academy, 14)
    started = time.monotonic()
    lock = threading.Lock()
    progress: Counter = Counter()
    ops = ("join", "leave", "reserve", "cancel", "capacity")

    def enough() -> bool:
        elapsed = time.monotonic() - started
        with lock:
            return elapsed > 12 or (elapsed > 3 and all(progress[op] >= 3 for op in ops))

    def storm(seed: int) -> Counter:
        rng = random.Random(seed)
        done: Counter = Counter()
        while not enough():
            op, player = rng.choice(ops), rng.choice(players)
            try:
                if op == "join":
                    waitlist_join(player=player, session=session, actor=player.user, now=now)
                elif op == "leave":
                    waitlist_leave(player=player, session=session, actor=player.user, now=now)
                elif op == "reserve":
                    reservation_create(player=player, session=session, actor=player.user, now=now)
                elif op == "cancel":
                    r = (
                        SessionReservation.objects.filter(session=session, status="reserved")
                        .order_by("?")
                        .first()
                    )
                    if r is None:
                        continue
                    reservation_cancel(reservation=r, actor=staff, now=now)
                else:
                    current = GroupSession.objects.get(pk=session.pk)
                    # Around full: exactly full often (joins then succeed), one more (a
                    # promotion), one less (the floor refuses it).
                    floor = current.reserved_count + current.held_count
                    capacity = max(1, floor + rng.choice([-1, 0, 0, 1]))
                    group_session_update(
                        session=current,
                        plan=replace(plan_of(current), capacity=capacity),
                        actor=staff,
                        now=now,
                    )
                done[f"{op}:ok"] += 1
                with lock:
                    progress[op] += 1
            except BookingError as exc:
                done[f"{op}:{exc.code}"] += 1
        return done

    results = race(storm, range(12))

    unexpected = [r for r in results if isinstance(r, BaseException)]
    assert not unexpected, unexpected
    totals = sum(results, Counter())
    for op in ops:
        assert totals[f"{op}:ok"] > 0, totals
    assert set(k.split(":")[1] for k in totals) <= {
        "ok",
        "session_full",
        "session_not_full",
        "already_reserved",
        "already_waiting",
        "already_cancelled",
        "not_waiting",
        "capacity_below_reservations",
    }, totals
    check_counters(session)
    first_come_first_served(session)
    # Nobody was promoted twice: one reservation row per player, and promoted entries each
    # correspond to one.
    rows = Counter(
        SessionReservation.objects.filter(session=session).values_list("player_id", flat=True)
    )
    assert max(rows.values()) == 1


def test_offers_and_expiry_runs_racing(academy, staff):
    """Inside the cut-off in offer mode: three cancellations at once hold three spots for the
    first three; when the offers lapse, five expiry runs at once pass each on exactly once."""
    Academy.objects.filter(pk=academy.pk).update(late_waitlist="offer", offer_minutes=30)
    starts = local(academy, days_ahead(5), 10)
    early = starts - timedelta(days=2)
    session, reservations, line = full_with_a_queue(academy, capacity=8, queued=7, now=early)
    late = starts - timedelta(hours=3)

    results = race(
        lambda i: reservation_cancel(reservation=reservations[i], actor=staff, now=late), range(3)
    )

    assert outcomes(results) == {"ok": 3}
    offered = WaitlistEntry.objects.filter(session=session, status=Status.OFFERED)
    assert {e.player_id for e in offered} == {p.pk for p in line[:3]}
    check_counters(session)

    lapsed = late + timedelta(minutes=31)
    runs = race(lambda i: expire_offers(now=lapsed), range(5))

    assert sum(runs) == 3  # each lapsed offer expired once, whichever run did it
    assert WaitlistEntry.objects.filter(session=session, status=Status.EXPIRED).count() == 3
    offered = WaitlistEntry.objects.filter(session=session, status=Status.OFFERED)
    assert {e.player_id for e in offered} == {p.pk for p in line[3:6]}
    check_counters(session)
    first_come_first_served(session)


def test_a_series_edit_racing_bookings_keeps_every_session_within_capacity(academy, staff):
    """Staff lower the capacity of a series from its first session on, while players book its
    sessions: either the edit wins (and later bookings find them full) or a session filled
    first (and the edit is refused, naming it); never more booked than the capacity."""
    coach = make_coach(academy)
    kind = make_group_type(academy)
    first = days_ahead(4)
    starts = local(academy, first, 17)
    plan = SessionPlan(
        session_type=kind,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        capacity=6,
        coaches=[coach],
    )
    series = series_create(
        academy=academy, plan=plan, until=first + timedelta(weeks=3), actor=staff
    )
    occurrences = list(series.occurrences.order_by("starts_at"))
    for s in occurrences:
        for p in players_with_logins(academy, 4):
            reserve(s, p)
    players = players_with_logins(academy, 12)
    now = starts - timedelta(days=2)
    edited = occurrences[0]
    base = plan_values(plan_of(edited), academy.tz)
    lowered = replace(plan_of(edited), capacity=5)

    def work(i: int):
        if i == 0:
            return series_update(session=edited, plan=lowered, actor=staff, base=base, now=now)
        player = players[i - 1]
        target = occurrences[i % len(occurrences)]
        return reservation_create(player=player, session=target, actor=player.user, now=now)

    results = race(work, range(len(players) + 1))

    edit = results[0]
    assert isinstance(edit, BookingError) or edit.pk is not None
    codes = outcomes(results)
    assert set(codes) <= {"ok", "session_full", "capacity_below_reservations"}, codes
    for s in GroupSession.objects.filter(pk__in=[o.pk for o in occurrences]):
        check_counters(s)
        if not isinstance(edit, BookingError):
            assert s.capacity == 5
        else:
            assert edit.code == "capacity_below_reservations"
            assert s.capacity == 6
