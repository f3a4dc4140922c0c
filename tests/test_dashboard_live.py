"""Check-in, ratings, goals and the front desk, live: each change reaches exactly the sockets of
the people who may read it, as the fragments it can move and no others, and a burst of changes
renders a dashboard panel once (the publisher's coalescing, measured).

Built on tests/test_live_streams.py's harness: real sockets through config.asgi, real changes
through bookings.services, and a fence (collect) that makes "nothing arrived" exact.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from bookings import services
from bookings.live.calendars import CoachCalendar, CoachDay, StaffCalendar
from bookings.live.dashboard import (
    CoachActivity,
    CoachClients,
    CoachGoals,
    CoachInsights,
    CoachStats,
    Goals,
)
from bookings.live.desk import DeskDay, DeskFeed
from bookings.live.grids import DayGrid
from bookings.live.lists import Reservations, Schedule
from bookings.models import Player, SessionReservation
from realtime import publisher
from realtime.events import Event
from realtime.publisher import get_publisher
from tests import test_live_streams as harness
from tests.factories import build_world, make_player
from tests.test_live_streams import (
    SURNAMES,
    collect,
    frags,
    live,
    open_socket,
    others,
    refused,
    settle,
    toasts,
)

# The harness's fixtures: every socket closed at the end; Redis and the in-memory path.
backend = harness.backend
sockets = harness.sockets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _world() -> Any:
    w = build_world()
    for attr, surname in SURNAMES.items():
        player = getattr(w, attr)
        Player.objects.filter(pk=player.pk).update(last_name=surname)
        player.last_name = surname
    s = w.session  # the coach's, capacity 4
    w.early = s.starts_at - timedelta(days=2)
    w.during = s.starts_at + timedelta(minutes=5)
    w.after = s.ends_at + timedelta(hours=1)
    w.mia = services.reservation_create(
        player=w.player, session=s, actor=w.player_user, now=w.early
    )
    w.leo = services.reservation_create(player=w.child, session=s, actor=w.parent_user, now=w.early)
    tz = w.academy.tz
    w.day = s.starts_at.astimezone(tz).date()
    monday = w.day - timedelta(days=w.day.weekday())
    a, b, c, c2 = w.academy.pk, w.other_academy.pk, w.coach.pk, w.coach2.pk
    fragments = {
        "coachday": CoachDay(c, w.day),
        "cal7_coach": CoachCalendar(c, a, monday, 7),
        "cal7_staff": StaffCalendar(a, monday, 7),
        "stats": CoachStats(c),
        "activity": CoachActivity(c),
        "insights": CoachInsights(c),
        "clients": CoachClients(c),
        "goals": CoachGoals(c),
        "stats2": CoachStats(c2),
        "activity2": CoachActivity(c2),
        "goals2": CoachGoals(c2),
        "desk": DeskDay(a, w.day),
        "feed": DeskFeed(a),
        "b_desk": DeskDay(b, w.day),
        "b_feed": DeskFeed(b),
        "day": DayGrid(a, w.day),
        "res_f": Reservations.of_family(w.parent_user.pk),
        "sched_leo": Schedule.of_player(w.child.pk),
        "res_f_other": Reservations.of_family(w.other_parent_user.pk),
        "goals_leo": Goals.of_player(w.child.pk),
        "goals_f": Goals.of_family(w.parent_user.pk),
        "goals_f_other": Goals.of_family(w.other_parent_user.pk),
        "goals_mia": Goals.of_player(w.player.pk),
    }
    w.k = {name: fragment.key for name, fragment in fragments.items()}
    return w


@pytest_asyncio.fixture
async def w():  # type: ignore[no-untyped-def]
    world = await sync_to_async(_world)()
    await settle()
    return world


async def audiences(sockets, w, spec: dict[str, tuple[Any, list[str]]]):  # type: ignore[no-untyped-def]
    return {
        name: await live(sockets, user, [w.k[k] for k in keys])
        for name, (user, keys) in spec.items()
    }


async def everything(socks: dict) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    names = list(socks)
    return dict(zip(names, await collect(*(socks[n] for n in names)), strict=True))


def keys(w, *names: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {w.k[n] for n in names}


# -- who receives what ---------------------------------------------------------------------------


async def test_a_check_in_reaches_the_tablet_the_desk_the_family_and_the_dashboard(  # type: ignore[no-untyped-def]
    backend, w, sockets
):
    socks = await audiences(
        sockets,
        w,
        {
            "coach": (
                w.coach_user,
                ["coachday", "cal7_coach", "stats", "activity", "insights", "clients", "goals"],
            ),
            "staff": (w.staff_user, ["desk", "feed", "cal7_staff"]),
            "parent": (w.parent_user, ["res_f", "sched_leo", "goals_f"]),
            "coach2": (w.coach2_user, ["stats2", "activity2", "goals2"]),
            "other_parent": (w.other_parent_user, ["res_f_other", "day"]),
            "foreign_staff": (w.foreign_staff_user, ["b_desk", "b_feed"]),
        },
    )
    await sync_to_async(services.attendance_mark)(
        actor=w.coach_user, reservation=w.leo, status="present", now=w.during
    )
    got = await everything(socks)

    expected = {
        "coach": keys(w, "coachday", "cal7_coach", "stats", "activity"),  # not clients or ratings
        "staff": keys(w, "desk", "feed", "cal7_staff"),
        "parent": keys(w, "res_f", "sched_leo"),
        "coach2": set(),
        "other_parent": set(),  # the day grid shows no marks: not pushed
        "foreign_staff": set(),
    }
    for name, expect in expected.items():
        assert set(frags(got[name])) == expect, name
        assert toasts(got[name]) == [] and others(got[name]) == [], name
    at = w.during.astimezone(w.academy.tz).strftime("%H:%M")
    assert f"Checked in {at}" in frags(got["parent"])[w.k["sched_leo"]]["h"]
    card = frags(got["coach"])[w.k["coachday"]]["h"]
    assert f'id="cal-g{w.session.pk}"' in card and "1 of 2 marked" in card  # that card alone
    assert w.child.full_name in card
    assert "1 of 2 checked in" in frags(got["staff"])[w.k["desk"]]["h"]
    feed = frags(got["staff"])[w.k["feed"]]["h"]
    assert f"checked in <strong>{w.child.full_name}</strong>" in feed
    assert "data-toast" not in feed.split("feed-present", 1)[1].split("</li>", 1)[0]
    activity = frags(got["coach"])[w.k["activity"]]["h"]
    assert f"checked in <strong>{w.child.full_name}</strong>" in activity
    assert "Attendance" in frags(got["coach"])[w.k["stats"]]["h"]


async def test_a_rating_moves_the_coach_figures_comments_and_the_feed(backend, w, sockets):  # type: ignore[no-untyped-def]
    attendance = await sync_to_async(services.attendance_mark)(
        actor=w.coach_user, reservation=w.leo, status="present", now=w.during
    )
    await settle()
    socks = await audiences(
        sockets,
        w,
        {
            "coach": (
                w.coach_user,
                ["coachday", "cal7_coach", "stats", "activity", "insights", "clients", "goals"],
            ),
            "staff": (w.staff_user, ["desk", "feed", "insights"]),
            "parent": (w.parent_user, ["res_f", "sched_leo"]),
            "coach2": (w.coach2_user, ["stats2", "activity2"]),
            "player": (w.player_user, ["goals_mia", "day"]),
        },
    )
    await sync_to_async(services.feedback_save)(
        attendance=attendance,
        actor=w.parent_user,
        rating=2,
        comment="<b>Cold</b> court",
        now=w.after,
    )
    got = await everything(socks)
    assert set(frags(got["coach"])) == keys(w, "stats", "insights", "activity")
    assert set(frags(got["staff"])) == keys(w, "feed", "insights")
    assert set(frags(got["parent"])) == keys(w, "res_f", "sched_leo")  # "Rated 2/5"
    assert got["coach2"] == [] and got["player"] == []
    insights = frags(got["coach"])[w.k["insights"]]["h"]
    assert "&lt;b&gt;Cold&lt;/b&gt; court" in insights and "<b>Cold" not in insights
    assert "2.0" in insights
    assert "Rated 2/5" in frags(got["parent"])[w.k["sched_leo"]]["h"]
    # One render per stream: the staff's and the coach's insights are the same bytes.
    assert frags(got["staff"])[w.k["insights"]] == frags(got["coach"])[w.k["insights"]]


async def test_a_goal_reaches_its_coach_and_the_player_s_family_only(backend, w, sockets):  # type: ignore[no-untyped-def]
    socks = await audiences(
        sockets,
        w,
        {
            "coach": (w.coach_user, ["stats", "activity", "goals", "coachday"]),
            "parent": (w.parent_user, ["goals_f", "goals_leo", "res_f"]),
            "staff": (w.staff_user, ["goals_leo", "feed"]),
            "other_parent": (w.other_parent_user, ["goals_f_other"]),
            "player": (w.player_user, ["goals_mia"]),
            "coach2": (w.coach2_user, ["goals2"]),
        },
    )
    goal = await sync_to_async(services.goal_create)(
        actor=w.coach_user,
        coach=w.coach,
        player=w.child,
        plan=services.GoalPlan(title="Split step", progress=30),
    )
    got = await everything(socks)
    assert set(frags(got["coach"])) == keys(w, "goals")
    assert set(frags(got["parent"])) == keys(w, "goals_f", "goals_leo")
    assert set(frags(got["staff"])) == keys(w, "goals_leo")
    assert got["other_parent"] == got["player"] == got["coach2"] == []
    assert 'value="30"' in frags(got["parent"])[w.k["goals_leo"]]["h"]

    await sync_to_async(services.goal_step)(actor=w.coach_user, goal=goal, step=10)
    got = await everything(socks)
    assert 'value="40"' in frags(got["parent"])[w.k["goals_f"]]["h"]
    assert 'value="40"' in frags(got["coach"])[w.k["goals"]]["h"]


async def test_a_booking_reaches_the_feed_with_its_toast_and_the_coach_s_clients(  # type: ignore[no-untyped-def]
    backend, w, sockets
):
    socks = await audiences(
        sockets,
        w,
        {
            "coach": (w.coach_user, ["stats", "activity", "clients", "insights", "goals"]),
            "staff": (w.staff_user, ["desk", "feed"]),
            "foreign_staff": (w.foreign_staff_user, ["b_feed"]),
            "coach2": (w.coach2_user, ["stats2", "activity2"]),
        },
    )
    await sync_to_async(services.reservation_create)(
        player=w.child2, session=w.session, actor=w.parent_user, now=w.early
    )
    got = await everything(socks)
    assert set(frags(got["coach"])) == keys(w, "stats", "activity", "clients")
    assert set(frags(got["staff"])) == keys(w, "desk", "feed")
    assert got["foreign_staff"] == [] and got["coach2"] == []
    feed = frags(got["staff"])[w.k["feed"]]["h"]
    assert f'data-toast="New booking: {w.child2.full_name}, ' in feed
    # The day's board pushes the session's row alone.
    desk = frags(got["staff"])[w.k["desk"]]["h"]
    assert desk.strip().startswith(f'<li id="desk-g{w.session.pk}"') and "3/4 booked" in desk


async def test_refused_sockets_get_nothing(w, sockets):  # type: ignore[no-untyped-def]
    from realtime.tokens import sign_streams

    k = w.k
    for user, key in [
        (w.coach2_user, k["stats"]),
        (w.coach2_user, k["insights"]),
        (w.parent_user, k["activity"]),
        (w.player_user, k["goals"]),
        (w.coach_user, k["desk"]),
        (w.coach_user, k["feed"]),
        (w.parent_user, k["feed"]),
        (w.other_parent_user, k["goals_leo"]),
        (w.player_user, k["goals_f"]),
        (w.staff_user, k["goals_f"]),  # a family's own list: that parent only
        (w.foreign_staff_user, k["feed"]),
        (w.foreign_staff_user, k["stats"]),
        (w.foreign_coach_user, k["goals_leo"]),
    ]:
        comm = await open_socket(sockets, user, token=sign_streams(user.pk, [key]))
        assert await refused(comm) == 4403, (user, key)


# -- a burst renders once ------------------------------------------------------------------------


async def test_a_burst_of_check_ins_renders_the_dashboard_once(backend, w, sockets):  # type: ignore[no-untyped-def]
    """Seed 002's debounce. While the publisher is busy (here: held in its routing), check-ins
    queue up; its next pass takes them all as one batch, so each dashboard panel renders and is
    pushed once for the burst, not once per check-in."""
    extra = [await sync_to_async(make_player)(w.academy, first=f"Walk{n}") for n in range(2)]

    def book_two() -> list[SessionReservation]:
        return [
            services.reservation_create(
                player=p, session=w.session, actor=w.staff_user, now=w.early
            )
            for p in extra
        ]

    reservations = [w.mia, w.leo, *await sync_to_async(book_two)()]
    await settle()
    coach = await live(sockets, w.coach_user, [w.k["stats"], w.k["activity"], w.k["coachday"]])
    staff = await live(sockets, w.staff_user, [w.k["desk"], w.k["feed"]])

    held, release = threading.Event(), threading.Event()
    real_route = publisher.route
    routed: list[int] = []

    def slow_route(events):  # type: ignore[no-untyped-def]
        routed.append(len(events))
        if len(routed) == 1:
            held.set()
            release.wait(10)
        return real_route(events)

    with mock.patch.object(publisher, "route", slow_route):
        get_publisher().submit(
            [Event("goal", {"academy": w.academy.pk, "coaches": [], "players": []})]
        )
        assert await sync_to_async(held.wait)(10)

        def burst() -> None:
            for status in ("present", "late"):
                for r in reservations:
                    services.attendance_mark(
                        actor=w.coach_user, reservation=r, status=status, now=w.during
                    )

        await sync_to_async(burst)()
        release.set()
        got_coach, got_staff = await collect(coach, staff)

    marks = len(reservations) * 2
    assert routed == [1, marks], routed  # the held pass, then the burst in one batch
    for got, names in (
        (got_coach, ("stats", "activity", "coachday")),
        (got_staff, ("desk", "feed")),
    ):
        pushed = frags(got)  # raises if any key came twice
        assert set(pushed) == keys(w, *names)
    assert frags(got_coach)[w.k["stats"]]["s"] == coach.ready["seqs"][w.k["stats"]] + 1
    assert "Check-in complete" in frags(got_coach)[w.k["coachday"]]["h"]
