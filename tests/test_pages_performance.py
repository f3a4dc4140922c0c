"""The busiest pages issue the same number of queries whatever the number of sessions.

One academy gets a week of 10 group sessions (with reservations, children's reservations and
lessons), every page is measured, then the same week grows past 1,000 sessions and every page
must issue exactly as many queries as before. The staff week is also timed (printed, with only
a generous sanity bound: the point is the constant query count, not the machine's speed).
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.models import IndividualBooking, Player, SessionReservation
from scheduling.models import GroupSession, StaffAssignment, StaffMember
from tests.factories import (
    local,
    make_academy,
    make_coach,
    make_group_type,
    make_individual_type,
    make_player,
    make_user,
)

pytestmark = pytest.mark.django_db

BIG = 1050  # group sessions added to the one week
PLAYERS = 60


@pytest.fixture
def env(db) -> SimpleNamespace:
    e = SimpleNamespace()
    e.academy = make_academy("Busy")
    e.coach_user, e.staff_user, e.parent_user = (make_user() for _ in range(3))
    e.coaches = [make_coach(e.academy, e.coach_user), make_coach(e.academy), make_coach(e.academy)]
    StaffMember.objects.create(academy=e.academy, user=e.staff_user)
    e.children = [
        make_player(e.academy, first=name, guardians=[e.parent_user]) for name in ("Ada", "Leo")
    ]
    e.players = Player.objects.bulk_create(
        Player(academy=e.academy, first_name=f"Player{i}", last_name="Crowd")
        for i in range(PLAYERS)
    )
    e.group_type = make_group_type(e.academy)
    e.lesson_type = make_individual_type(e.academy)
    today = timezone.localdate()
    e.monday = today + timedelta(days=7 - today.weekday())  # next week, all of it ahead
    e.sessions = 0
    e.lessons = 0
    return e


def grow(e: SimpleNamespace, sessions: int, lessons: int) -> None:
    """Add group sessions to the week (a third with reservations, some with a child of the
    parent), and lessons that overlap for no coach and no player. Bulk writes, with
    reserved_count set to the reservations written."""
    new = []
    plans = []
    for i in range(e.sessions, e.sessions + sessions):
        day = e.monday + timedelta(days=i % 7)
        starts_at = local(e.academy, day, 6) + timedelta(minutes=15 * ((i // 7) % 64))
        players = e.players[i % 50 : i % 50 + (i % 5) + 1] if i % 3 == 0 else []
        if i % 4 == 0:
            players = [*players, e.children[i % 2]]
        plans.append(players)
        new.append(
            GroupSession(
                academy=e.academy,
                session_type=e.group_type,
                title=f"Session {i}",
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=60),
                capacity=8,
                reserved_count=len(players),
            )
        )
    created = GroupSession.objects.bulk_create(new)
    StaffAssignment.objects.bulk_create(
        StaffAssignment(session=s, coach=e.coaches[(n // 7) % len(e.coaches)])
        for n, s in enumerate(created, start=e.sessions)
    )
    SessionReservation.objects.bulk_create(
        SessionReservation(session=s, player=p)
        for s, players in zip(created, plans, strict=True)
        for p in players
    )
    # Lesson j of every coach: day j % 7, from midnight, an hour apart; one player per lesson.
    lesson_rows = []
    for j in range(e.lessons, e.lessons + lessons):
        starts_at = local(e.academy, e.monday + timedelta(days=j % 7), 0) + timedelta(hours=j // 7)
        for c, coach in enumerate(e.coaches):
            player = e.children[0] if c == 0 and j % 2 else e.players[(c * 20 + j) % PLAYERS]
            lesson_rows.append(
                IndividualBooking(
                    academy=e.academy,
                    coach=coach,
                    player=player,
                    session_type=e.lesson_type,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=e.lesson_type.duration_minutes),
                )
            )
    IndividualBooking.objects.bulk_create(lesson_rows)
    e.sessions += sessions
    e.lessons += lessons


def pages(e: SimpleNamespace) -> dict[str, tuple[object, str]]:
    tuesday = (e.monday + timedelta(days=1)).isoformat()
    monday = e.monday.isoformat()
    return {
        "coach calendar week": (e.coach_user, f"{reverse('coach_schedule')}?date={monday}"),
        "staff calendar week": (e.staff_user, f"{reverse('staff_calendar')}?date={monday}"),
        "coach_home (my day)": (e.coach_user, f"{reverse('coach_home')}?date={tuesday}"),
        "coach_home (full day)": (e.coach_user, f"{reverse('coach_home')}?tab=full&date={tuesday}"),
        "parent_home": (e.parent_user, reverse("parent_home")),
        "parent_home reservations": (e.parent_user, f"{reverse('parent_home')}?tab=reservations"),
    }


def measure(clients: dict, e: SimpleNamespace) -> tuple[dict, dict]:
    """Each page's query count and response."""
    counts, responses = {}, {}
    for name, (user, url) in pages(e).items():
        clients[user.pk].get(url)  # warm up: the first request of a session may differ
        with CaptureQueriesContext(connection) as queries:
            responses[name] = clients[user.pk].get(url)
        assert responses[name].status_code == 200, name
        counts[name] = len(queries.captured_queries)
    return counts, responses


def test_query_counts_do_not_grow_with_the_data(env, capsys, django_assert_max_num_queries):
    clients = {}
    for user in (env.coach_user, env.staff_user, env.parent_user):
        clients[user.pk] = Client()
        clients[user.pk].force_login(user)

    # Small: every page shows at least one of each thing (a query for an empty list is skipped).
    grow(env, sessions=10, lessons=3)
    small, responses = measure(clients, env)
    for name, response in responses.items():
        assert "Session " in response.content.decode(), name

    grow(env, sessions=BIG, lessons=30)
    assert GroupSession.objects.filter(academy=env.academy).count() > 1000
    large, responses = {}, {}
    for name, (user, url) in pages(env).items():
        with django_assert_max_num_queries(small[name]) as queries:
            responses[name] = clients[user.pk].get(url)
        assert responses[name].status_code == 200, name
        large[name] = len(queries.captured_queries)

    with capsys.disabled():
        print(f"\nqueries per page, 10 vs {env.sessions} group sessions in the week:")
        for name in small:
            print(f"  {name:26} {small[name]:3} {large[name]:3}")
    assert large == small

    # the pages really show the big week
    html = responses["staff calendar week"].content.decode()
    assert html.count('class="cal-item cal-group') == env.sessions
    assert html.count('class="cal-item cal-lesson') == env.lessons * len(env.coaches)
    html = responses["coach calendar week"].content.decode()
    assert html.count('class="cal-item cal-group') == env.sessions
    html = responses["parent_home"].content.decode()
    assert html.count('class="entry entry-group"') > 250

    # and the staff week's render time, with 1,000+ sessions
    url = pages(env)["staff calendar week"][1]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        response = clients[env.staff_user.pk].get(url)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    median = statistics.median(timings)
    with capsys.disabled():
        print(
            f"staff calendar week, {env.sessions} group sessions + {env.lessons * 3} lessons: "
            f"median {median * 1000:.0f} ms of 5 renders "
            f"({', '.join(f'{t * 1000:.0f}' for t in timings)} ms), "
            f"{len(response.content) // 1024} KiB"
        )
    assert median < 10


# -- the coach's dashboard and the front desk (issue 12) ------------------------------------------


def _dashboard_pages(h) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    return {
        "coach dashboard": (h.coach_user, reverse("coach_dashboard")),
        "staff: the coach's dashboard": (h.staff_user, reverse("staff_coach", args=[h.coach])),
        "front desk": (h.staff_user, reverse("staff_home")),
        "family home with goals": (h.parent_user, reverse("parent_home")),
        "rating trend (polled)": (h.coach_user, reverse("coach_trend", args=[h.coach])),
    }


def _client(user_id: int, academy: int) -> Client:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    session = client.session
    session["academy_id"] = academy
    session.save()
    return client


def test_dashboard_queries_do_not_grow_with_a_coach_s_history(db, capsys):
    """The same number of queries for a coach with 20 sessions of history as with 600 (6,000
    check-ins); the bench measures a whole year (tests/bench/history.py)."""
    from tests.bench import history

    counts = {}
    for sessions in (20, 600):
        h = history.build(sessions=sessions, name=f"Q{sessions}")
        clients = {
            uid: _client(uid, h.academy) for uid in {h.coach_user, h.staff_user, h.parent_user}
        }
        measured = {}
        for name, (uid, url) in _dashboard_pages(h).items():
            clients[uid].get(url)  # warm up
            with CaptureQueriesContext(connection) as queries:
                response = clients[uid].get(url)
            assert response.status_code == 200, name
            measured[name] = len(queries.captured_queries)
        counts[sessions] = measured
        if sessions == 600:
            html = clients[h.coach_user].get(reverse("coach_dashboard")).content.decode()
            assert "Year Coach" in html and "Goal 5" in html and "rated" not in html
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                clients[h.coach_user].get(reverse("coach_dashboard"))
                timings.append(time.perf_counter() - started)
            with capsys.disabled():
                print(
                    f"\ncoach dashboard, {h.sessions} sessions / {h.attendances} check-ins / "
                    f"{h.ratings} ratings: median {statistics.median(timings) * 1000:.0f} ms"
                )
    assert counts[20] == counts[600], counts
