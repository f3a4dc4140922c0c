"""Running the academy, live: a waiting list's promotion, joins and offers, a series made by the
front desk, and an open edit form, each reaching exactly the sockets that may read it, as the
fragments they watch, with the toasts they are owed (real sockets through config.asgi; the
helpers and the world are tests/test_live_streams.py's).
"""

# The fixtures shared with another test module are imported, and tests take them by name.
# ruff: noqa: F811

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async

from bookings import services
from bookings.live.grids import DayGrid
from bookings.live.schedule import SessionEditor, StaffPlan
from bookings.services.sessions import SessionPlan, plan_of
from realtime.tokens import sign_streams
from scheduling.models import Academy
from tests.factories import days_ahead, local, make_player, make_user, reserve
from tests.test_live_streams import (
    assert_no_names,
    backend,  # noqa: F401  # a fixture
    collect,
    frags,
    live,
    open_socket,
    others,
    received,
    refused,
    settle,
    sockets,  # noqa: F401  # a fixture
    toasts,
    w,  # noqa: F401  # a fixture
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _full_with_a_queue(w):  # type: ignore[no-untyped-def]
    """Coach's session full (Mia, Ada and two more); Leo first in line, Kai second."""
    now = w.session.starts_at - timedelta(days=2)
    w.mia = reserve(w.session, w.player, by=w.player_user)
    reserve(w.session, w.child2)
    for _ in range(2):
        reserve(w.session, make_player(w.academy, guardians=[make_user()]))
    services.waitlist_join(player=w.child, session=w.session, actor=w.parent_user, now=now)
    services.waitlist_join(
        player=w.other_child, session=w.session, actor=w.other_parent_user, now=now
    )


async def test_a_cancellation_promotes_the_first_and_tells_everyone_concerned(  # type: ignore[no-untyped-def]
    backend,
    w,
    sockets,
):
    k = w.k
    await sync_to_async(_full_with_a_queue)(w)
    await settle()
    plan = StaffPlan(w.academy.pk, w.d3).key
    parent = await live(sockets, w.parent_user, [k["res_f"], k["day"]])
    other = await live(sockets, w.other_parent_user, [k["res_f_other"]])
    coach = await live(sockets, w.coach_user, [k["coachday"]])
    staff = await live(sockets, w.staff_user, [plan])
    mia = await live(sockets, w.player_user, [k["res_p_mia"], k["day"]])
    foreign = await live(sockets, w.foreign_parent_user, [k["b_res_f"], k["b_day"]])

    await sync_to_async(services.reservation_cancel)(reservation=w.mia, actor=w.player_user)
    got = dict(
        zip(
            ["parent", "other", "coach", "staff", "mia", "foreign"],
            await collect(parent, other, coach, staff, mia, foreign),
            strict=True,
        )
    )

    when = w.session.starts_at.astimezone(w.academy.tz).strftime("%a %H:%M")
    title = w.group_type.name
    # Leo's family: the spot, in their list and on the grid, and a toast.
    assert set(frags(got["parent"])) == {k["res_f"], k["day"]}
    assert 'data-state="reserved"' in frags(got["parent"])[k["res_f"]]["h"]
    assert toasts(got["parent"]) == [
        f"Good news: Leo has a spot in {title}, {when}, from the waiting list."
    ]
    # Kai's family: Kai moved up to first in line (their list, no toast).
    assert set(frags(got["other"])) == {k["res_f_other"]}
    assert "1st in line" in frags(got["other"])[k["res_f_other"]]["h"]
    assert toasts(got["other"]) == []
    # The coach hears of the new booking and of Mia's cancellation.
    assert sorted(toasts(got["coach"])) == sorted(
        [f"New booking: Leo, {when} {title}", f"Cancelled: Mia, {when} {title}"]
    )
    assert w.child.full_name in frags(got["coach"])[k["coachday"]]["h"]
    # The front desk's plan: the new list, with names (staff only).
    assert w.child.full_name in frags(got["staff"])[plan]["h"]
    assert "Waiting list: 1. " + w.other_child.full_name in frags(got["staff"])[plan]["h"]
    # The shared grid: still full, one waiting, no names; the same bytes for both families.
    day = frags(got["mia"])[k["day"]]
    assert "0 of 4 spots left · 1 waiting" in day["h"]
    assert_no_names(day["h"], w.child, w.child2, w.other_child, w.player)
    assert json.dumps(day, sort_keys=True) == json.dumps(
        frags(got["parent"])[k["day"]], sort_keys=True
    )
    assert got["foreign"] == []
    for name, messages in got.items():
        assert others(messages) == [], name


async def test_joining_and_leaving_move_the_grid_and_the_lists(w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    await sync_to_async(_full_with_a_queue)(w)
    await settle()
    other = await live(sockets, w.other_parent_user, [k["res_f_other"], k["day"]])
    parent = await live(sockets, w.parent_user, [k["res_f"]])

    # Leo leaves: Kai is first now; nobody is told by a toast (they acted, or only moved up).
    await sync_to_async(services.waitlist_leave)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    got_other, got_parent = await collect(other, parent)
    assert "1st in line" in frags(got_other)[k["res_f_other"]]["h"]
    assert "0 of 4 spots left · 1 waiting" in frags(got_other)[k["day"]]["h"]
    assert "Waiting list" not in frags(got_parent)[k["res_f"]]["h"]
    assert toasts(got_other) == toasts(got_parent) == []


async def test_an_offer_and_its_lapse_are_told(w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    await sync_to_async(_full_with_a_queue)(w)
    await sync_to_async(Academy.objects.filter(pk=w.academy.pk).update)(
        late_waitlist="offer", offer_minutes=30
    )
    await settle()
    parent = await live(sockets, w.parent_user, [k["res_f"]])
    other = await live(sockets, w.other_parent_user, [k["res_f_other"]])
    late = w.session.starts_at - timedelta(hours=3)

    await sync_to_async(services.reservation_cancel)(
        reservation=w.mia, actor=w.staff_user, now=late
    )
    got, got_other = await collect(parent, other)
    assert "1st in line" in frags(got_other)[k["res_f_other"]]["h"]  # Leo is out of the queue
    until = (late + timedelta(minutes=30)).astimezone(w.academy.tz).strftime("%a %H:%M")
    title, when = w.group_type.name, w.session.starts_at.astimezone(w.academy.tz)
    assert toasts(got) == [
        f"A spot in {title}, {when:%a %H:%M} is held for Leo until {until}: "
        "take it from your reservations."
    ]
    assert "Take the spot" in frags(got)[k["res_f"]]["h"]

    await sync_to_async(services.expire_offers)(now=late + timedelta(minutes=31))
    got_parent, got_other = await collect(parent, other)
    assert toasts(got_parent) == [
        f"The spot held for Leo in {title}, {when:%a %H:%M} was not taken in time."
    ]
    assert "Take the spot" in frags(got_other)[k["res_f_other"]]["h"]
    assert len(toasts(got_other)) == 1 and "held for Kai" in toasts(got_other)[0]


async def test_a_series_made_by_the_front_desk_reaches_open_schedules_once(  # type: ignore[no-untyped-def]
    backend,
    w,
    sockets,
):
    first = days_ahead(5)
    grids = [DayGrid(w.academy.pk, first + timedelta(weeks=n)).key for n in range(3)]
    quiet = DayGrid(w.academy.pk, first + timedelta(days=1)).key
    player = await live(sockets, w.player_user, [*grids, quiet])
    foreign = await live(sockets, w.foreign_player_user, [DayGrid(w.other_academy.pk, first).key])
    starts = local(w.academy, first, 19)

    def make() -> None:
        services.series_create(
            academy=w.academy,
            plan=SessionPlan(
                session_type=w.group_type,
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                capacity=8,
                coaches=[w.coach2],
                title="Evening squad",
            ),
            until=first + timedelta(weeks=10),
            actor=w.staff_user,
        )

    await sync_to_async(make)()
    got = await received(player)

    assert set(frags(got)) == set(grids)  # each touched day once; the day between not at all
    for key in grids:
        assert "Evening squad" in frags(got)[key]["h"]
    assert await received(foreign) == []


async def test_an_open_edit_form_is_told_when_someone_else_saves(w, sockets):  # type: ignore[no-untyped-def]
    editor = SessionEditor(w.session.pk).key
    staff = await live(sockets, w.staff_user, [editor])
    coach = await live(sockets, w.coach_user, [editor])

    def save() -> None:
        session = w.session.__class__.objects.get(pk=w.session.pk)
        services.group_session_update(
            session=session,
            plan=replace(plan_of(session), capacity=9, notes="Balls in the shed"),
            actor=w.admin_user,
        )

    await sync_to_async(save)()
    got_staff, got_coach = await collect(staff, coach)
    html = frags(got_staff)[editor]["h"]
    assert 'data-field="capacity" data-label="Capacity" data-value="9"' in html
    assert 'data-value="Balls in the shed"' in html
    assert frags(got_coach)[editor]["h"] == html  # one render for both

    # A booking moves its counts, too.
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    assert "Booked 1 of 9" in frags(await received(staff))[editor]["h"]


async def test_who_may_watch_the_plan_and_an_editor(w, sockets):  # type: ignore[no-untyped-def]
    editor = SessionEditor(w.session.pk).key
    plan = StaffPlan(w.academy.pk, w.d3).key
    cases = [
        (w.coach2_user, editor),
        (w.parent_user, editor),
        (w.foreign_staff_user, editor),
        (w.coach_user, plan),
        (w.parent_user, plan),
        (w.foreign_staff_user, plan),
    ]
    for user, key in cases:
        comm = await open_socket(sockets, user, token=sign_streams(user.pk, [key]))
        assert await refused(comm) == 4403, (user, key)
    # And the allowed ones connect.
    await live(sockets, w.coach_user, [editor])
    await live(sockets, w.admin_user, [editor, plan])
