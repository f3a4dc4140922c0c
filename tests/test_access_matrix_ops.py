"""The access policy of running the academy, as an explicit table: who may join and leave a
waiting list, create and change sessions and series, and keep a coach's hours. The cast is
tests/test_access_matrix.py's (tests/factories.build_world); a refusal writes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import time, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction

from bookings.errors import BookingError
from bookings.models import SessionReservation, WaitlistEntry
from bookings.services import (
    availability_add,
    group_session_create,
    group_session_update,
    series_cancel,
    series_create,
    series_update,
    time_off_add,
    waitlist_join,
    waitlist_leave,
)
from bookings.services.sessions import SessionPlan, plan_of
from scheduling.models import CoachAvailability, CoachTimeOff, GroupSession, SessionSeries
from tests.factories import build_world, days_ahead, local, make_player, reserve
from tests.test_access_matrix import actor_of, cells, parse

pytestmark = pytest.mark.django_db

# ok = succeeds;  NA = BookingError("not_allowed")
#
#   wl:Ada     waitlist_join(Ada, the full session of coach's)
#   wl-:Leo    waitlist_leave(Leo, waiting for that session)
#   ses:new    group_session_create(an A session)
#   ses:cap    group_session_update(coach's session, a new capacity)
#   ses:note   group_session_update(coach's session, new notes only)
#   ser:new    series_create(A, four Tuesdays)
#   ser:edit   series_update(the series from its second session, a new capacity)
#   ser:can    series_cancel(the series from its third session)
#   hrs:add    availability_add(coach, Monday 07:00-08:00)
#   off:add    time_off_add(coach, a free afternoon)

OPS = parse("""
role            wl:Ada wl-:Leo ses:new ses:cap ses:note ser:new ser:edit ser:can hrs:add off:add
player          NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
parent          ok     ok      NA      NA      NA       NA      NA       NA      NA      NA
other_parent    NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
coach           NA     ok      NA      NA      ok       NA      NA       NA      ok      ok
coach2          NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
staff           ok     ok      ok      ok      ok       ok      ok       ok      ok      ok
admin           ok     ok      ok      ok      ok       ok      ok       ok      ok      ok
anonymous       NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
foreign_staff   NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
foreign_coach   NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
foreign_player  NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
foreign_parent  NA     NA      NA      NA      NA       NA      NA       NA      NA      NA
""")


def build_ops_scene() -> SimpleNamespace:
    """The world, with coach's session full (Mia, Kai and two more) and Leo waiting for it, and a
    four-week series of coach2's."""
    w = build_world()
    s = SimpleNamespace(world=w, now=w.session.starts_at - timedelta(days=2))
    for player in (w.player, w.other_child, *(make_player(w.academy) for _ in range(2))):
        reserve(w.session, player)
    waitlist_join(player=w.child, session=w.session, actor=w.parent_user, now=s.now)
    starts = local(w.academy, days_ahead(9), 18)
    s.plan = SessionPlan(
        session_type=w.group_type,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        capacity=6,
        coaches=[w.coach2],
    )
    s.series = series_create(
        academy=w.academy, plan=s.plan, until=days_ahead(9 + 21), actor=w.staff_user
    )
    s.occurrences = list(s.series.occurrences.order_by("starts_at"))
    return s


@pytest.fixture(scope="module")
def _module_ops_scene(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        built = build_ops_scene()
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def ops_scene(_module_ops_scene, db):
    return copy.deepcopy(_module_ops_scene)


def run_op(scene, column: str, actor):
    """Run one column's operation; return a check that its effect is in the database."""
    w, now = scene.world, scene.now
    session = GroupSession.objects.get(pk=w.session.pk)
    if column == "wl:Ada":
        e = waitlist_join(player=w.child2, session=session, actor=actor, now=now)
        return lambda: WaitlistEntry.objects.get(pk=e.pk).status == "waiting"
    if column == "wl-:Leo":
        e = waitlist_leave(player=w.child, session=session, actor=actor, now=now)
        return lambda: WaitlistEntry.objects.get(pk=e.pk).status == "left"
    if column == "ses:new":
        later = scene.plan.starts_at - timedelta(hours=3)
        made = group_session_create(
            academy=w.academy,
            plan=replace(scene.plan, starts_at=later, ends_at=later + timedelta(hours=1)),
            actor=actor,
        )
        return lambda: GroupSession.objects.filter(pk=made.pk).exists()
    if column == "ses:cap":
        group_session_update(
            session=session, plan=replace(plan_of(session), capacity=9), actor=actor, now=now
        )
        return lambda: GroupSession.objects.get(pk=session.pk).capacity == 9
    if column == "ses:note":
        group_session_update(
            session=session, plan=replace(plan_of(session), notes="Serve"), actor=actor, now=now
        )
        return lambda: GroupSession.objects.get(pk=session.pk).notes == "Serve"
    if column == "ser:new":
        later = scene.plan.starts_at + timedelta(hours=2)
        made = series_create(
            academy=w.academy,
            plan=replace(scene.plan, starts_at=later, ends_at=later + timedelta(hours=1)),
            until=days_ahead(9 + 21),
            actor=actor,
        )
        return lambda: SessionSeries.objects.get(pk=made.pk).occurrences.count() == 4
    if column == "ser:edit":
        second = scene.occurrences[1]
        series_update(session=second, plan=replace(plan_of(second), capacity=7), actor=actor)
        return lambda: GroupSession.objects.get(pk=scene.occurrences[3].pk).capacity == 7
    if column == "ser:can":
        series_cancel(session=scene.occurrences[2], actor=actor)
        return lambda: GroupSession.objects.get(pk=scene.occurrences[3].pk).is_cancelled
    if column == "hrs:add":
        window = availability_add(
            coach=w.coach,
            session_type=w.lesson_type,
            weekday=0,
            start_time=time(7),
            end_time=time(8),
            actor=actor,
        )
        return lambda: CoachAvailability.objects.filter(pk=window.pk).exists()
    if column == "off:add":
        start = local(w.academy, days_ahead(20), 13)
        away = time_off_add(
            coach=w.coach,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            reason="",
            actor=actor,
        )
        return lambda: CoachTimeOff.objects.filter(pk=away.pk).exists()
    raise AssertionError(column)


def ops_snapshot() -> dict[str, list[dict]]:
    models = (
        SessionReservation,
        GroupSession,
        WaitlistEntry,
        SessionSeries,
        CoachAvailability,
        CoachTimeOff,
    )
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


@pytest.mark.parametrize("role, column, expected", cells(OPS))
def test_operations_of_running_the_academy(ops_scene, role, column, expected):
    actor = actor_of(ops_scene.world, role)
    if expected == "ok":
        took_effect = run_op(ops_scene, column, actor)
        assert took_effect()
        return
    before = ops_snapshot()
    with pytest.raises(BookingError) as info:
        run_op(ops_scene, column, actor)
    assert info.value.code == "not_allowed", info.value
    assert ops_snapshot() == before
