"""The live path end to end inside one process: a change made through bookings.services reaches
exactly the sockets whose users may read it, as the fragments they watch, with the toasts they
are owed, and nothing else; refused sockets get a close code and no data.

Each test builds the world (tests.factories.build_world), opens real WebsocketCommunicator
sockets through config.asgi (session-cookie auth, Origin check, signed stream token), makes a
real change, then reads what each socket got up to a fence (see collect), so "nothing arrived"
is exact rather than a guess at a timeout. Tests taking the `backend` fixture run twice: over
Redis (the multi-process path) and over the in-memory path (one process, no Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.db import OperationalError, transaction
from django.test import Client

from bookings import services
from bookings.live.calendars import CoachCalendar, CoachDay, StaffCalendar
from bookings.live.grids import DayGrid, LessonSlots
from bookings.live.lists import Reservations, Schedule
from bookings.models import GuardianLink, Player, SessionReservation
from config.asgi import application
from config.settings import channel_layers
from realtime import hub, messages, tokens
from realtime.events import Event, Note
from realtime.fragments import resolve
from realtime.publisher import get_publisher
from realtime.store import get_store
from realtime.streams import group_name, user_stream
from realtime.tokens import sign_streams
from tests.factories import build_world, days_ahead, local

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = b"http://testserver"
HOST = b"testserver"  # what a browser sends; the Origin must match it (or a trusted origin)
FENCE = "\x00fence:"  # toasts with this prefix are the tests' own markers (see collect)

# Distinctive surnames, so "no name in this HTML" cannot pass by accident.
SURNAMES = {"child": "Quillfeather", "child2": "Thistlewood", "other_child": "Brambleworth"}


# -- set-up ------------------------------------------------------------------------------------


def _world():  # type: ignore[no-untyped-def]
    w = build_world()
    for attr, surname in SURNAMES.items():
        player = getattr(w, attr)
        Player.objects.filter(pk=player.pk).update(last_name=surname)  # no signal, no push
        player.last_name = surname
    w.d3 = days_ahead(3)  # w.session (coach, 10:00) is on this local day
    w.d4 = days_ahead(4)  # w.session2 (coach2, 10:00)
    w.monday = w.d3 - timedelta(days=w.d3.weekday())
    a, b = w.academy.pk, w.other_academy.pk
    fragments = {
        "res_f": Reservations.of_family(w.parent_user.pk),
        "sched_f": Schedule.of_family(w.parent_user.pk),
        "res_p": Reservations.of_player(w.child.pk),
        "sched_p": Schedule.of_player(w.child.pk),
        "res_f_other": Reservations.of_family(w.other_parent_user.pk),
        "res_p_mia": Reservations.of_player(w.player.pk),
        "day": DayGrid(a, w.d3),
        "slots": LessonSlots(w.coach.pk, w.lesson_type.pk, w.d3),
        "coachday": CoachDay(w.coach.pk, w.d3),
        "coachday2": CoachDay(w.coach2.pk, w.d3),
        "cal1_staff": StaffCalendar(a, w.d3, 1),
        "cal7_staff": StaffCalendar(a, w.monday, 7),
        "cal1_coach": CoachCalendar(w.coach.pk, a, w.d3, 1),
        "cal7_coach": CoachCalendar(w.coach.pk, a, w.monday, 7),
        "cal1_coach2": CoachCalendar(w.coach2.pk, a, w.d3, 1),
        "cal7_coach2": CoachCalendar(w.coach2.pk, a, w.monday, 7),
        "b_cal_staff": StaffCalendar(b, w.d3, 1),
        "b_day": DayGrid(b, w.d3),
        "b_coachday": CoachDay(w.foreign_coach.pk, w.d3),
        "b_cal7_coach": CoachCalendar(w.foreign_coach.pk, b, w.monday, 7),
        "b_res_f": Reservations.of_family(w.foreign_parent_user.pk),
    }
    w.k = {name: fragment.key for name, fragment in fragments.items()}
    return w


def _reset_live_path() -> None:
    """Forget this process's store, publisher and hub, so the next use follows the settings."""
    get_store.cache_clear()
    get_publisher.cache_clear()
    hub._hub = None
    hub._starting = None


@pytest.fixture(params=["redis", "memory"])
def backend(request, settings):  # type: ignore[no-untyped-def]
    """Run a test over Redis (several processes) and over the in-memory path (one process)."""
    if request.param == "redis" and not settings.REDIS_URL:
        pytest.skip("needs Redis")
    if request.param == "memory":
        settings.REDIS_URL = ""
        settings.CHANNEL_LAYERS = channel_layers("", settings.LIVE_PREFIX)
    _reset_live_path()
    yield request.param
    get_publisher().wait_idle(10.0)
    _reset_live_path()


@pytest_asyncio.fixture
async def w():  # type: ignore[no-untyped-def]
    world = await sync_to_async(_world)()
    await settle()  # what building the world said is published before any socket opens
    return world


@pytest_asyncio.fixture
async def sockets():  # type: ignore[no-untyped-def]
    """Every communicator a test opens, disconnected at the end whatever happened."""
    opened: list[WebsocketCommunicator] = []
    yield opened
    for comm in opened:
        with contextlib.suppress(BaseException):
            await comm.disconnect()


def _session_cookie(user) -> bytes:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(
    opened: list[WebsocketCommunicator],
    user: Any,
    keys: list[str] | None = None,
    *,
    token: str | None = None,
    origin: bytes | None = ORIGIN,
    cookie: bytes | None = None,
    host: bytes = HOST,
    resume: str = "",
) -> WebsocketCommunicator:
    headers = [(b"host", host)]
    if origin:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", cookie or await sync_to_async(_session_cookie)(user)))
    if token is None:
        token = sign_streams(user.pk, keys or [])
    path = f"/ws/live/?t={quote(token)}" + (f"&r={quote(resume)}" if resume else "")
    comm = WebsocketCommunicator(application, path, headers=headers)
    opened.append(comm)
    return comm


@dataclass
class Sock:
    """A live socket that connected and said ready, and whose user it belongs to."""

    comm: WebsocketCommunicator
    user: Any
    ready: dict[str, Any]
    presence: list[dict[str, Any]] = field(default_factory=list)  # presence frames, in order

    def take(self, message: dict[str, Any]) -> bool:
        """Keep a presence frame aside (they come on their own schedule, not the publisher's)
        and check it: names only to a socket admitted to see them. True if it was one."""
        if message["t"] != "p":
            return False
        assert "who" not in message or self.ready["presence"]["names"], message
        self.presence.append(message)
        return True

    async def send_to(self, **frame: Any) -> None:
        await self.comm.send_to(**frame)


async def live(
    opened: list[WebsocketCommunicator],
    user: Any,
    keys: list[str],
    *,
    cookie: bytes | None = None,
    resume: str = "",
) -> Sock:
    comm = await open_socket(opened, user, keys, cookie=cookie, resume=resume)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    early = []  # presence summaries of others' joins can come before this socket's ready
    ready = json.loads(await comm.receive_from(timeout=5))
    while ready["t"] == "p":
        early.append(ready)
        ready = json.loads(await comm.receive_from(timeout=5))
    assert ready["t"] == "ready", ready
    assert set(ready["seqs"]) == set(keys)
    sock = Sock(comm, user, ready)
    for message in early:
        sock.take(message)
    return sock


async def settle() -> None:
    """Wait until the publisher thread has sent everything committed so far."""
    assert await asyncio.to_thread(get_publisher().wait_idle, 10.0)


def _decode(output: dict[str, Any]) -> dict[str, Any]:
    if output["type"] == "websocket.close":
        return {"t": "close", "code": output.get("code")}
    assert output["type"] == "websocket.send", output
    assert "text" in output, output
    return json.loads(output["text"])


async def collect(*socks: Sock) -> list[list[dict[str, Any]]]:
    """Everything each socket received since the last look, up to now.

    "Now" is a fence: the publisher sends each socket's user a marker note after everything
    it was given before, and the path from the publisher thread to a socket keeps order (one
    publisher thread and Redis connection, one hub connection per process). So what arrives
    before the marker is all the socket will ever get for the changes made so far: an empty
    list proves nothing was sent, without guessing a timeout.
    """
    markers = {id(sock): f"{FENCE}{uuid.uuid4().hex}" for sock in socks}
    get_publisher().submit([], [Note(sock.user.pk, markers[id(sock)]) for sock in socks])
    await settle()
    results = []
    for sock in socks:
        got: list[dict[str, Any]] = []
        while True:
            message = _decode(await sock.comm.receive_output(timeout=5))
            if sock.take(message):
                continue
            if message["t"] == "n" and message["text"] == markers[id(sock)]:
                break
            if message["t"] == "n" and message["text"].startswith(FENCE):
                continue  # another socket's marker (same user)
            got.append(message)
            if message["t"] == "close":
                break
        results.append(got)
    return results


async def presence_settled(*socks: Sock, quiet: float = 0.5) -> None:
    """Wait until no presence summary has come for `quiet` seconds (they follow joins and
    leaves, coalesced), keeping those that came; anything else arriving meanwhile is an error."""
    for sock in socks:
        # receive_nothing looks without waiting on the app (a receive_output that times out
        # would cancel it).
        while not await sock.comm.receive_nothing(timeout=quiet):
            output = await sock.comm.receive_output(timeout=1)
            assert sock.take(_decode(output)), output


async def received(sock: Sock) -> list[dict[str, Any]]:
    return (await collect(sock))[0]


async def received_until_close(sock: Sock) -> list[dict[str, Any]]:
    """For a socket the server closes: what it got up to the close, which must be the end."""
    got: list[dict[str, Any]] = []
    while not got or got[-1]["t"] != "close":
        message = _decode(await sock.comm.receive_output(timeout=5))
        if not sock.take(message):
            got.append(message)
    assert await sock.comm.receive_nothing(timeout=0.1), "data after the close"
    return got


def frags(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Fragment messages by key (each key at most once per change)."""
    found = [m for m in messages if m["t"] == "f"]
    by_key = {m["k"]: m for m in found}
    assert len(by_key) == len(found), f"a key was pushed twice: {[m['k'] for m in found]}"
    return by_key


def toasts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m["t"] == "n"]


def others(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["t"] not in {"f", "n"}]


def assert_no_names(html: str, *players: Player) -> None:
    for player in players:
        assert player.first_name not in html, f"{player.first_name} leaked"
        assert player.last_name not in html, f"{player.last_name} leaked"


# -- who receives what ---------------------------------------------------------------------------


async def test_reservation_reaches_exactly_its_audiences(backend, w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    audiences = {
        "parent": (w.parent_user, [k["res_f"], k["sched_f"], k["res_p"], k["sched_p"]]),
        "staff": (w.staff_user, [k["res_p"], k["cal1_staff"], k["cal7_staff"], k["coachday"]]),
        "coach": (w.coach_user, [k["coachday"], k["cal1_coach"], k["cal7_coach"]]),
        "coach2": (w.coach2_user, [k["coachday2"], k["cal1_coach2"], k["cal7_coach2"]]),
        "other_parent": (w.other_parent_user, [k["day"], k["slots"], k["res_f_other"]]),
        "player": (w.player_user, [k["res_p_mia"], k["day"]]),
        "admin": (w.admin_user, [k["cal1_staff"], k["res_p"]]),
        "foreign_staff": (w.foreign_staff_user, [k["b_cal_staff"], k["b_day"]]),
        "foreign_coach": (w.foreign_coach_user, [k["b_coachday"], k["b_cal7_coach"]]),
        "foreign_parent": (w.foreign_parent_user, [k["b_res_f"]]),
    }
    expected = {
        "parent": {k["res_f"], k["sched_f"], k["res_p"], k["sched_p"]},
        "staff": {k["res_p"], k["cal1_staff"], k["cal7_staff"], k["coachday"]},
        "coach": {k["coachday"], k["cal1_coach"], k["cal7_coach"]},
        "coach2": {k["cal1_coach2"], k["cal7_coach2"]},  # their own day is not touched
        "other_parent": {k["day"]},  # not the slots: a reservation leaves lesson slots as they were
        "player": {k["day"]},
        "admin": {k["cal1_staff"], k["res_p"]},
        "foreign_staff": set(),
        "foreign_coach": set(),
        "foreign_parent": set(),
    }
    comms = {}
    for name, (user, keys) in audiences.items():
        comms[name] = await live(sockets, user, keys)

    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    names = list(audiences)
    got = dict(zip(names, await collect(*(comms[n] for n in names)), strict=True))

    for name, keys in expected.items():
        assert set(frags(got[name])) == keys, name
        assert others(got[name]) == [], name
    # Toasts: the coach hears of the booking; the parent, who made it, hears nothing.
    assert toasts(got["coach"]) == [
        f"New booking: Leo, {w.session.starts_at.astimezone(w.academy.tz):%a %H:%M} "
        f"{w.group_type.name}"
    ]
    for name in audiences:
        if name != "coach":
            assert toasts(got[name]) == [], name

    full_name = w.child.full_name
    # Family lists show the booking (and, for a family list, whose it is).
    for key in expected["parent"]:
        html = frags(got["parent"])[key]["h"]
        assert w.group_type.name in html and 'hx-swap-oob="outerHTML"' in html
    assert full_name in frags(got["parent"])[k["res_f"]]["h"]
    # Staff and the session's own coach see the attendee's name on the coach's day; the
    # calendars' cards carry the occupancy (names are on each card's details view).
    for name, key in [("staff", k["coachday"]), ("coach", k["coachday"])]:
        assert full_name in frags(got[name])[key]["h"], (name, key)
    for name, key in [
        ("staff", k["cal1_staff"]),
        ("staff", k["cal7_staff"]),
        ("coach", k["cal1_coach"]),
        ("coach", k["cal7_coach"]),
        ("admin", k["cal1_staff"]),
    ]:
        html = frags(got[name])[key]["h"]
        assert "1/4" in html and f"cal-g{w.session.pk}" in html, (name, key)
        assert_no_names(html, w.child)
    # Another coach sees the session fill up, never who is in it.
    for key in (k["cal1_coach2"], k["cal7_coach2"]):
        html = frags(got["coach2"])[key]["h"]
        assert "1/4" in html
        assert_no_names(html, w.child, w.child2, w.other_child)
    # Shared fragments carry no player names at all.
    for name, key in [
        ("other_parent", k["day"]),
        ("player", k["day"]),
    ]:
        assert_no_names(frags(got[name])[key]["h"], w.child, w.child2, w.other_child, w.player)
    assert "3 of 4 spots left" in frags(got["player"])[k["day"]]["h"]
    # Render once per stream: every socket of a stream gets the same bytes and number.
    for key, names in [
        (k["res_p"], ["parent", "staff", "admin"]),
        (k["coachday"], ["staff", "coach"]),
        (k["day"], ["other_parent", "player"]),
        (k["cal1_staff"], ["staff", "admin"]),
    ]:
        assert len({json.dumps(frags(got[n])[key], sort_keys=True) for n in names}) == 1, key


async def test_personal_streams_and_toasts_are_pushed_before_shared_calendars(w, sockets):  # type: ignore[no-untyped-def]
    """A family's list and a coach's toast do not wait for the pass over shared calendars."""
    k = w.k
    parent = await live(sockets, w.parent_user, [k["day"], k["res_f"]])
    coach = await live(sockets, w.coach_user, [k["cal7_coach"], k["coachday"], k["cal1_coach"]])
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    got_parent, got_coach = await collect(parent, coach)
    assert [m.get("k") for m in got_parent if m["t"] == "f"] == [k["res_f"], k["day"]]
    kinds = [m["t"] for m in got_coach if m["t"] in ("f", "n")]
    assert kinds == ["n", "f", "f", "f"]


async def test_lesson_booking_and_cancel_reach_slots_calendars_and_coach(w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    starts = local(w.academy, w.d3, 14)
    slot_value = f"{w.coach.pk}|{w.lesson_type.pk}|{starts.isoformat()}"
    parent = await live(sockets, w.parent_user, [k["res_f"], k["sched_p"]])
    coach = await live(sockets, w.coach_user, [k["coachday"], k["cal1_coach"]])
    coach2 = await live(sockets, w.coach2_user, [k["cal1_coach2"], k["coachday2"]])
    shared = await live(sockets, w.other_parent_user, [k["slots"], k["day"]])
    staff = await live(sockets, w.staff_user, [k["cal7_staff"]])
    foreign = await live(sockets, w.foreign_staff_user, [k["b_cal_staff"]])

    booking = await sync_to_async(services.individual_booking_create)(
        player=w.child,
        coach=w.coach,
        session_type=w.lesson_type,
        starts_at=starts,
        actor=w.parent_user,
    )
    await settle()
    got_parent = await received(parent)
    got_coach = await received(coach)
    got_coach2 = await received(coach2)
    got_shared = await received(shared)
    got_staff = await received(staff)
    assert await received(foreign) == []

    assert set(frags(got_parent)) == {k["res_f"], k["sched_p"]} and toasts(got_parent) == []
    assert w.lesson_type.name in frags(got_parent)[k["res_f"]]["h"]
    assert set(frags(got_coach)) == {k["coachday"], k["cal1_coach"]}
    assert toasts(got_coach) == [f"New booking: Leo, {starts:%a %H:%M} {w.lesson_type.name}"]
    assert w.child.full_name in frags(got_coach)[k["coachday"]]["h"]
    # coach2's calendar shows the lesson, not whose it is; coach2's own day is untouched.
    assert set(frags(got_coach2)) == {k["cal1_coach2"]} and toasts(got_coach2) == []
    cal2 = frags(got_coach2)[k["cal1_coach2"]]["h"]
    assert w.lesson_type.name in cal2
    assert_no_names(cal2, w.child)
    # Lessons change slots, not the day's group sessions.
    assert set(frags(got_shared)) == {k["slots"]}
    slots_html = frags(got_shared)[k["slots"]]["h"]
    assert slot_value not in slots_html  # the 14:00 Book button is gone
    assert_no_names(slots_html, w.child, w.child2, w.other_child, w.player)
    assert w.lesson_type.name in frags(got_staff)[k["cal7_staff"]]["h"]

    # The coach cancels it: the family is told who did it; the coach hears nothing of it.
    await sync_to_async(services.individual_booking_cancel)(booking=booking, actor=w.coach_user)
    await settle()
    got_parent = await received(parent)
    got_coach = await received(coach)
    got_shared = await received(shared)
    assert toasts(got_parent) == [
        f"{w.coach.display_name} cancelled {w.lesson_type.name} on {starts:%a %H:%M} for Leo."
    ]
    assert toasts(got_coach) == []
    assert slot_value in frags(got_shared)[k["slots"]]["h"]  # bookable again
    assert w.child.full_name not in frags(got_coach)[k["coachday"]]["h"]
    assert await received(foreign) == []

    # The parent books again and cancels it: now the coach is told, the parent is not.
    booking = await sync_to_async(services.individual_booking_create)(
        player=w.child,
        coach=w.coach,
        session_type=w.lesson_type,
        starts_at=starts,
        actor=w.parent_user,
    )
    await settle()
    await received(coach)
    await received(parent)
    await sync_to_async(services.individual_booking_cancel)(booking=booking, actor=w.parent_user)
    await settle()
    assert toasts(await received(coach)) == [
        f"Cancelled: Leo, {starts:%a %H:%M} {w.lesson_type.name}"
    ]
    assert toasts(await received(parent)) == []


async def test_reservation_cancels_tell_the_other_side(backend, w, sockets):  # type: ignore[no-untyped-def]
    k = w.k

    def setup():  # type: ignore[no-untyped-def]
        leo = services.reservation_create(player=w.child, session=w.session, actor=w.parent_user)
        kai = services.reservation_create(
            player=w.other_child, session=w.session, actor=w.other_parent_user
        )
        return leo, kai

    leo, kai = await sync_to_async(setup)()
    await settle()
    when = w.session.starts_at.astimezone(w.academy.tz).strftime("%a %H:%M")
    title = w.group_type.name
    parent = await live(sockets, w.parent_user, [k["res_f"]])
    other = await live(sockets, w.other_parent_user, [k["res_f_other"]])
    coach = await live(sockets, w.coach_user, [k["coachday"]])
    staff = await live(sockets, w.staff_user, [k["cal1_staff"]])

    # The coach cancels Leo: Leo's family is told, Kai's family and the coach are not.
    await sync_to_async(services.reservation_cancel)(reservation=leo, actor=w.coach_user)
    await settle()
    got = await received(parent)
    assert toasts(got) == [f"{w.coach.display_name} cancelled {title} on {when} for Leo."]
    assert "No upcoming reservations." in frags(got)[k["res_f"]]["h"]
    assert await received(other) == []
    got = await received(coach)
    assert toasts(got) == [] and w.child.full_name not in frags(got)[k["coachday"]]["h"]
    assert w.other_child.full_name in frags(got)[k["coachday"]]["h"]
    assert toasts(await received(staff)) == []

    # The parent books Leo again and cancels: the coach is told, the parent is not.
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    await settle()
    assert toasts(await received(coach)) == [f"New booking: Leo, {when} {title}"]
    await received(parent)
    await received(staff)
    leo = await sync_to_async(SessionReservation.objects.get)(pk=leo.pk)
    await sync_to_async(services.reservation_cancel)(reservation=leo, actor=w.parent_user)
    await settle()
    assert toasts(await received(coach)) == [f"Cancelled: Leo, {when} {title}"]
    assert toasts(await received(parent)) == []
    await received(staff)

    # The front desk cancels Kai: Kai's family is told by "the academy", and so is the session's
    # coach, whoever cancelled (issue 12); staff hear nothing.
    await sync_to_async(services.reservation_cancel)(reservation=kai, actor=w.staff_user)
    await settle()
    got = await received(other)
    assert toasts(got) == [f"The academy cancelled {title} on {when} for Kai."]
    assert toasts(await received(coach)) == [f"The academy cancelled Kai, {when} {title}"]
    assert toasts(await received(staff)) == []
    assert await received(parent) == []


async def test_session_cancel_tells_every_family_once(w, sockets):  # type: ignore[no-untyped-def]
    k = w.k

    def setup() -> None:
        services.reservation_create(player=w.child, session=w.session, actor=w.parent_user)
        services.reservation_create(
            player=w.other_child, session=w.session, actor=w.other_parent_user
        )
        services.reservation_create(player=w.child2, session=w.session2, actor=w.parent_user)

    await sync_to_async(setup)()
    await settle()
    title = w.group_type.name
    when = w.session.starts_at.astimezone(w.academy.tz).strftime("%a %H:%M")
    when2 = w.session2.starts_at.astimezone(w.academy.tz).strftime("%a %H:%M")
    parent = await live(sockets, w.parent_user, [k["res_f"]])
    other = await live(sockets, w.other_parent_user, [k["res_f_other"]])
    coach = await live(sockets, w.coach_user, [k["coachday"]])
    coach2 = await live(sockets, w.coach2_user, [k["cal1_coach2"]])
    viewer = await live(sockets, w.player_user, [k["day"]])
    foreign = await live(sockets, w.foreign_coach_user, [k["b_coachday"]])

    await sync_to_async(services.group_session_cancel)(session=w.session, actor=w.coach_user)
    await settle()
    got_parent = await received(parent)
    got_other = await received(other)
    assert toasts(got_parent) == [f"{w.coach.display_name} cancelled {title} on {when} for Leo."]
    assert toasts(got_other) == [f"{w.coach.display_name} cancelled {title} on {when} for Kai."]
    assert toasts(await received(coach)) == []
    day_html = frags(await received(viewer))[k["day"]]["h"]
    assert "No group sessions on this day." in day_html
    got_coach2 = await received(coach2)
    assert toasts(got_coach2) == []
    assert_no_names(frags(got_coach2)[k["cal1_coach2"]]["h"], w.child, w.other_child)
    assert await received(foreign) == []

    # The front desk cancels coach2's session: Ada's family hears it from "the academy".
    await sync_to_async(services.group_session_cancel)(session=w.session2, actor=w.staff_user)
    await settle()
    assert toasts(await received(parent)) == [f"The academy cancelled {title} on {when2} for Ada."]
    assert await received(other) == []
    # Its coach hears it once, whoever called it off (not once per reservation); coach2's d3
    # calendar is untouched (session2 is on d4).
    got_coach2 = await received(coach2)
    assert frags(got_coach2) == {}
    assert toasts(got_coach2) == [f"The academy cancelled the session {title} on {when2}."]


# -- nothing before COMMIT; sequence numbers ----------------------------------------------------


async def test_rolled_back_change_sends_nothing(backend, w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    parent = await live(sockets, w.parent_user, [k["res_f"], k["res_p"]])
    coach = await live(sockets, w.coach_user, [k["coachday"], k["cal1_coach"]])
    shared = await live(sockets, w.other_parent_user, [k["day"], k["slots"]])
    await presence_settled(parent, coach, shared)

    def change_then_fail() -> None:
        with contextlib.suppress(RuntimeError), transaction.atomic():
            services.reservation_create(player=w.child, session=w.session, actor=w.parent_user)
            services.individual_booking_create(
                player=w.child2,
                coach=w.coach,
                session_type=w.lesson_type,
                starts_at=local(w.academy, w.d3, 15),
                actor=w.parent_user,
            )
            raise RuntimeError("roll it back")

    await sync_to_async(change_then_fail)()
    await settle()
    quiet = [sock.comm.receive_nothing(timeout=1.0) for sock in (parent, coach, shared)]
    assert await asyncio.gather(*quiet) == [True, True, True]
    assert await collect(parent, coach, shared) == [[], [], []]
    assert not await sync_to_async(SessionReservation.objects.filter(player=w.child).exists)()

    # The sockets are alive, and the rolled-back change used up no sequence number.
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    await settle()
    got = frags(await received(parent))
    for key in (k["res_f"], k["res_p"]):
        assert got[key]["s"] == parent.ready["seqs"][key] + 1


async def test_sequence_numbers_count_changes_per_stream(backend, w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    parent = await live(sockets, w.parent_user, [k["res_f"], k["res_p"]])
    staff = await live(sockets, w.staff_user, [k["res_p"]])
    assert staff.ready["seqs"][k["res_p"]] == parent.ready["seqs"][k["res_p"]]
    start = dict(parent.ready["seqs"])
    seen: dict[str, list[int]] = {k["res_f"]: [], k["res_p"]: []}

    async def step(action, expect_keys) -> None:  # type: ignore[no-untyped-def]
        await sync_to_async(action)()
        await settle()
        got = frags(await received(parent))
        assert set(got) == expect_keys
        for key, message in got.items():
            seen[key].append(message["s"])
        if k["res_p"] in expect_keys:
            assert frags(await received(staff))[k["res_p"]]["s"] == got[k["res_p"]]["s"]

    both = {k["res_f"], k["res_p"]}
    await step(
        lambda: services.reservation_create(player=w.child, session=w.session, actor=w.parent_user),
        both,
    )
    # Ada's booking touches the family list, not Leo's own stream.
    await step(
        lambda: services.reservation_create(
            player=w.child2, session=w.session2, actor=w.parent_user
        ),
        {k["res_f"]},
    )
    await step(
        lambda: services.reservation_cancel(
            reservation=SessionReservation.objects.get(player=w.child), actor=w.parent_user
        ),
        both,
    )
    assert seen[k["res_f"]] == [start[k["res_f"]] + n for n in (1, 2, 3)]
    assert seen[k["res_p"]] == [start[k["res_p"]] + n for n in (1, 2)]

    await parent.send_to(text_data='{"t":"ping"}')
    pong = json.loads(await parent.comm.receive_from(timeout=5))
    current = {key: numbers[-1] for key, numbers in seen.items()}
    assert pong["t"] == "pong" and pong["seqs"] == current
    assert pong["epoch"] and pong["epoch"] == parent.ready["epoch"]  # the same numbering


async def test_a_failed_render_still_shows_the_page_it_is_behind(backend, w, sockets):  # type: ignore[no-untyped-def]
    """The publisher cannot render a fragment (the database refuses a connection for a moment):
    nothing is pushed, but the stream's number still moves on, so the page's next heartbeat
    (pong) shows it is behind and it resyncs. Otherwise it would stay stale until the next
    change on that stream."""
    k = w.k
    parent = await live(sockets, w.parent_user, [k["res_f"], k["res_p"]])
    real_resolve = resolve

    def flaky(key):  # type: ignore[no-untyped-def]
        if key == k["res_p"]:
            raise OperationalError("too many clients already")
        return real_resolve(key)

    with mock.patch("realtime.publisher.resolve", flaky):
        await sync_to_async(services.reservation_create)(
            player=w.child, session=w.session, actor=w.parent_user
        )
        got = await received(parent)
    # The other stream of the same change still arrived.
    assert set(frags(got)) == {k["res_f"]}
    await parent.send_to(text_data='{"t":"ping"}')
    pong = json.loads(await parent.comm.receive_from(timeout=5))
    assert pong["seqs"][k["res_p"]] > parent.ready["seqs"][k["res_p"]]


async def test_a_reloaded_page_still_gets_updates(w, sockets):  # type: ignore[no-untyped-def]
    """Closing the last socket of a stream and opening a new one at once (a page reload) must
    leave this process listening on the stream."""
    key = w.k["coachday"]
    for _ in range(3):
        first = await live(sockets, w.coach_user, [key])
        await first.comm.disconnect()
        second = await live(sockets, w.coach_user, [key])
        await sync_to_async(services.reservation_create)(
            player=w.child, session=w.session, actor=w.parent_user
        )
        await settle()
        got = await received(second)
        assert set(frags(got)) == {key}
        await sync_to_async(services.reservation_cancel)(
            reservation=await sync_to_async(SessionReservation.objects.get)(player=w.child),
            actor=w.parent_user,
        )
        await settle()
        assert set(frags(await received(second))) == {key}
        await second.comm.disconnect()


# -- access -----------------------------------------------------------------------------------


async def test_unlinking_a_guardian_closes_their_socket_for_the_child(backend, w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    child_socket = await live(sockets, w.parent_user, [k["res_p"]])
    family_socket = await live(sockets, w.parent_user, [k["res_f"]])
    staff = await live(sockets, w.staff_user, [k["res_p"]])

    unlink = GuardianLink.objects.filter(guardian=w.parent_user, player=w.child).delete
    await sync_to_async(unlink)()
    # The family list is still theirs: it stays open and re-renders without Leo.
    got_family, got_staff = await collect(family_socket, staff)
    assert [m["t"] for m in got_family] == ["f"]
    assert w.child.full_name not in got_family[0]["h"]
    # Staff still read Leo's stream.
    assert set(frags(got_staff)) == {k["res_p"]}
    # The parent's socket for Leo closed, and nothing about Leo arrived on it before or after.
    assert await received_until_close(child_socket) == [{"t": "close", "code": 4403}]

    # Leo's next booking (by staff) reaches staff, and never the closed socket.
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.staff_user
    )
    got_family, got_staff = await collect(family_socket, staff)
    assert set(frags(got_staff)) == {k["res_p"]} and got_family == []
    assert await child_socket.comm.receive_nothing(timeout=0.2)


async def test_access_check_finishes_before_the_next_message_is_written(backend, w, sockets):  # type: ignore[no-untyped-def]
    """The hub handles a process's messages in the order the publisher sent them: after an
    access message, the socket is re-checked (and closed) before anything else reaches it,
    however long the check takes. Here the publisher's two messages are handed to the hub
    back to back, with the link already gone from the database."""
    k = w.k
    child_socket = await live(sockets, w.parent_user, [k["res_p"]])
    link = GuardianLink.objects.filter(guardian=w.parent_user, player=w.child)
    await sync_to_async(link._raw_delete)(link.db)  # no signal: we play the publisher
    secret = messages.fragment(k["res_p"], 99, "<p>Leo's secret</p>")
    own = user_stream(w.parent_user.pk)
    if backend == "memory":
        hub.deliver_local(own, messages.ACCESS_CHECK)
        hub.deliver_local(k["res_p"], secret)
    else:
        layer = get_channel_layer()
        for key, text in [(own, messages.ACCESS_CHECK), (k["res_p"], secret)]:
            await layer.group_send(
                group_name(key), {"type": "live.message", "key": key, "text": text}
            )
    assert await received_until_close(child_socket) == [{"t": "close", "code": 4403}]


async def test_a_failed_access_check_closes_that_socket_and_delivery_goes_on(  # type: ignore[no-untyped-def]
    backend, w, sockets
):
    """If re-checking a socket's access fails (the database is away for a moment), that
    socket is closed (it reconnects and is checked afresh), not left open unchecked, and
    the process keeps delivering to everyone else."""
    k = w.k
    parent = await live(sockets, w.parent_user, [k["res_p"]])
    staff = await live(sockets, w.staff_user, [k["res_p"]])

    def unavailable(user, keys):  # type: ignore[no-untyped-def]
        raise OperationalError("the database went away")

    with mock.patch("realtime.consumers.authorize", unavailable):
        staff_change = Event("staff", {"academy": w.academy.pk, "users": [w.parent_user.pk]})
        get_publisher().submit([staff_change])
        got = await received_until_close(parent)
    assert got[-1]["t"] == "close" and got[-1]["code"] in {4503, 1011}
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.staff_user
    )
    assert set(frags(await received(staff))) == {k["res_p"]}


# -- refused sockets ------------------------------------------------------------------------------


async def refused(comm: WebsocketCommunicator) -> int:
    """Connect and return the close code, after checking that nothing but the close arrived."""
    connected, code = await comm.connect(timeout=5)
    if connected:
        output = await comm.receive_output(timeout=5)
        assert output["type"] == "websocket.close", output
        code = output.get("code")
    assert await comm.receive_nothing(timeout=0.1), "data after the close"
    return code


def _forged(user_id: int, keys: list[str]) -> str:
    return signing.dumps({"u": user_id, "k": keys}, key="not-our-secret", salt=tokens.SALT)


async def test_unauthorized_sockets_are_refused_with_nothing_sent(w, sockets):  # type: ignore[no-untyped-def]
    k = w.k
    own = [k["res_f"]]
    expired = None
    with mock.patch("django.core.signing.time.time", return_value=1_000_000_000):
        expired = sign_streams(w.parent_user.pk, own)
    cases = [
        ("anonymous", None, sign_streams(w.parent_user.pk, own), ORIGIN, 4401),
        ("foreign origin", w.parent_user, None, b"https://evil.example", 4403),
        ("no origin", w.parent_user, None, None, 4403),
        ("origin lookalike", w.parent_user, None, b"http://testserver.evil.example", 4403),
        (
            "another user's token",
            w.parent_user,
            sign_streams(w.other_parent_user.pk, own),
            ORIGIN,
            4401,
        ),
        ("garbage token", w.parent_user, "not-a-token", ORIGIN, 4401),
        ("no token", w.parent_user, "", ORIGIN, 4401),
        ("forged token", w.parent_user, _forged(w.parent_user.pk, own), ORIGIN, 4401),
        ("expired token", w.parent_user, expired, ORIGIN, 4401),
        ("too many streams", w.parent_user, sign_streams(w.parent_user.pk, own * 13), ORIGIN, 4401),
        (
            "other family's child",
            w.parent_user,
            sign_streams(w.parent_user.pk, [Reservations.of_player(w.other_child.pk).key]),
            ORIGIN,
            4403,
        ),
        (
            "one forbidden among allowed",
            w.parent_user,
            sign_streams(w.parent_user.pk, [k["res_f"], k["day"], k["res_f_other"]]),
            ORIGIN,
            4403,
        ),
        (
            "coach2 on coach's day",
            w.coach2_user,
            sign_streams(w.coach2_user.pk, [k["coachday"]]),
            ORIGIN,
            4403,
        ),
        (
            "coach2 on coach's calendar variant",
            w.coach2_user,
            sign_streams(w.coach2_user.pk, [k["cal1_coach"]]),
            ORIGIN,
            4403,
        ),
        (
            "coach on the staff calendar",
            w.coach_user,
            sign_streams(w.coach_user.pk, [k["cal1_staff"]]),
            ORIGIN,
            4403,
        ),
        (
            "parent on a coach day",
            w.parent_user,
            sign_streams(w.parent_user.pk, [k["coachday"]]),
            ORIGIN,
            4403,
        ),
        (
            "another academy's staff",
            w.foreign_staff_user,
            sign_streams(w.foreign_staff_user.pk, [k["cal7_staff"], k["day"]]),
            ORIGIN,
            4403,
        ),
        (
            "another academy's coach on shared slots",
            w.foreign_coach_user,
            sign_streams(w.foreign_coach_user.pk, [k["slots"]]),
            ORIGIN,
            4403,
        ),
        (
            "a key naming nothing",
            w.parent_user,
            sign_streams(w.parent_user.pk, [Reservations.of_player(999999999).key]),
            ORIGIN,
            4403,
        ),
        (
            "a malformed key",
            w.parent_user,
            sign_streams(w.parent_user.pk, ["notify:u1"]),
            ORIGIN,
            4403,
        ),
        (
            "a user's own stream, named as a fragment",
            w.parent_user,
            sign_streams(w.parent_user.pk, [user_stream(w.parent_user.pk)]),
            ORIGIN,
            4403,
        ),
        (
            "a week not starting on Monday",
            w.staff_user,
            sign_streams(
                w.staff_user.pk,
                [StaffCalendar(w.academy.pk, w.monday + timedelta(days=1), 7).key],
            ),
            ORIGIN,
            4403,
        ),
    ]
    for name, user, token, origin, code in cases:
        if token is None:
            token = sign_streams(user.pk, own)
        comm = await open_socket(sockets, user, token=token, origin=origin)
        assert await refused(comm) == code, name

    # Nothing that happens afterwards reaches any of them either (they joined no stream),
    # while a socket that was let in gets it.
    sock = await live(sockets, w.other_parent_user, [k["res_f_other"]])
    await sync_to_async(services.reservation_create)(
        player=w.other_child, session=w.session, actor=w.other_parent_user
    )
    assert set(frags(await received(sock))) == {k["res_f_other"]}
    for comm in sockets[:-1]:
        assert await comm.receive_nothing(timeout=0.01)


# -- frames from the browser ------------------------------------------------------------------


async def test_bad_frames_close_the_socket_and_ping_answers(w, sockets):  # type: ignore[no-untyped-def]
    key = w.k["res_f"]
    cases = [
        # 4000-range codes: daphne (autobahn) cannot send 1009 or 1003 (it sent 1011 instead)
        ({"text_data": "x" * 1025}, {4413}),
        ({"text_data": json.dumps({"t": "ping", "pad": "y" * 1020})}, {4413}),
        ({"bytes_data": b"\x00\x01"}, {4415}),  # binary: the client only sends JSON text
        ({"text_data": "{not json"}, {4400}),
        ({"text_data": "[]"}, {4400}),
        ({"text_data": '"ping"'}, {4400}),
        ({"text_data": '{"t":"subscribe","k":"reservations:player:1"}'}, {4400}),
        ({"text_data": '{"type":"ping"}'}, {4400}),
    ]
    for frame, codes in cases:
        sock = await live(sockets, w.parent_user, [key])
        await sock.send_to(**frame)
        got = await received_until_close(sock)
        assert len(got) == 1 and got[0]["t"] == "close" and got[0]["code"] in codes, (frame, got)

    sock = await live(sockets, w.parent_user, [key])
    for _ in range(2):
        await sock.send_to(text_data='{"t":"ping"}')
        pong = json.loads(await sock.comm.receive_from(timeout=5))
        assert pong == {"t": "pong", "epoch": sock.ready["epoch"], "seqs": sock.ready["seqs"]}
    await sock.send_to(text_data="x" * 1024)  # exactly the limit: malformed, not too big
    assert await received_until_close(sock) == [{"t": "close", "code": 4400}]
