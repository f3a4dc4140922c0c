"""Presence and holds (seed 004): who else is looking, and "someone is booking this".

Staff and coaches see who (names and roles), families only how many, never a name; a person
with several tabs counts once; a closed tab leaves at once; a dead process's viewers are swept;
one socket's flood of updates closes that socket only. Holds name a socket, never a person, and
only on streams whose kind has them. Sockets are real (WebsocketCommunicator through
config.asgi), over Redis and over the in-memory path.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from bookings.live.schedule import SessionEditor
from realtime import ephemeral, presence
from realtime.ephemeral import get_ephemeral
from tests.test_live_streams import (
    Sock,
    _decode,
    backend,  # noqa: F401  (a fixture)
    live,
    presence_settled,
    received,
    received_until_close,
    sockets,  # noqa: F401  (a fixture)
    w,  # noqa: F401  (a fixture)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def latest(sock: Sock) -> dict[str, Any]:
    assert sock.presence, "no presence summary arrived"
    return max(sock.presence, key=lambda m: m["v"])


def names_in(message: dict[str, Any]) -> set[str]:
    return {person["name"] for person in message.get("who", [])}


async def test_staff_and_coaches_see_names_families_a_count(backend, w, sockets):  # type: ignore[no-untyped-def]
    day = w.k["day"]
    staff = await live(sockets, w.staff_user, [day])
    coach2 = await live(sockets, w.coach2_user, [day])
    parent = await live(sockets, w.parent_user, [day])
    parent_tab = await live(sockets, w.parent_user, [day])  # a second tab of the same person
    other = await live(sockets, w.other_parent_user, [day])
    player = await live(sockets, w.player_user, [day])
    everyone = [staff, coach2, parent, parent_tab, other, player]
    await presence_settled(*everyone)

    for sock in (staff, coach2):
        assert sock.ready["presence"]["names"] is True
        summary = latest(sock)
        assert summary["n"] == 5  # six sockets, five people
        who = {p["name"]: p["role"] for p in summary["who"]}
        assert who[w.parent_user.username] == "parent"
        assert who[w.staff_user.username] == "front desk"
        assert who[w.coach2_user.username] == "coach"
        assert who[w.player_user.username] == "player"
    for sock in (parent, parent_tab, other, player):
        assert sock.ready["presence"] == {
            "k": day,
            "place": sock.ready["presence"]["place"],
            "names": False,
        }
        for frame in sock.presence:  # every frame, not just the last: never a name
            assert set(frame) == {"t", "k", "v", "n"}, frame
            text = json.dumps(frame)
            for user in (w.parent_user, w.other_parent_user, w.player_user, w.staff_user):
                assert user.username not in text
        assert latest(sock)["n"] == 5

    # A closed tab leaves at once; the person stays while another tab is open.
    await parent_tab.comm.disconnect()
    await presence_settled(staff, other)
    assert latest(staff)["n"] == 5 and latest(other)["n"] == 5
    await parent.comm.disconnect()
    await presence_settled(staff, other)
    assert latest(staff)["n"] == 4 and w.parent_user.username not in names_in(latest(staff))
    assert latest(other)["n"] == 4


async def test_summaries_are_versioned_and_coalesced(w, sockets):  # type: ignore[no-untyped-def]
    staff = await live(sockets, w.staff_user, [w.k["cal7_staff"]])
    for _ in range(5):
        await live(sockets, w.coach_user, [w.k["cal7_coach"]])  # another stream: not counted
        await live(sockets, w.admin_user, [w.k["cal7_staff"]])
    await presence_settled(staff)
    versions = [m["v"] for m in staff.presence]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert len(staff.presence) < 6  # five joins within the coalescing window, not five sends
    assert latest(staff)["n"] == 2  # staff and the admin (five tabs)


async def test_a_dead_processs_viewers_are_swept(backend, w, sockets, monkeypatch):  # type: ignore[no-untyped-def]
    """Another process's entry that is never refreshed again (its process was killed) leaves
    everyone's page after the entry's time to live."""
    monkeypatch.setattr(ephemeral, "PRESENCE_TTL", 1.0)
    monkeypatch.setattr(presence, "REFRESH", 0.3)
    day = w.k["day"]
    ghost = json.dumps([w.coach2_user.pk, "ghost-tab", "Ghost Coach", "coach", False])
    await sync_to_async(get_ephemeral().presence_join)(day, ghost)
    staff = await live(sockets, w.staff_user, [day])
    await presence_settled(staff, quiet=0.3)
    assert "Ghost Coach" in names_in(latest(staff))
    await asyncio.sleep(1.6)  # past its time to live and a sweep
    await presence_settled(staff, quiet=0.3)
    assert "Ghost Coach" not in names_in(latest(staff)) and latest(staff)["n"] == 1


async def test_a_flood_of_updates_closes_only_that_socket(backend, w, sockets):  # type: ignore[no-untyped-def]
    day = w.k["day"]
    flooder = await live(sockets, w.parent_user, [day])
    staff = await live(sockets, w.staff_user, [day])
    await presence_settled(flooder, staff)
    for away in [True, False, True, False, True]:  # five in 30 s are allowed
        await flooder.comm.send_to(text_data=json.dumps({"t": "presence", "away": away}))
    await presence_settled(staff)
    assert latest(staff)["who"][-1]["away"] is True  # the parent is away (sorted last)
    await flooder.comm.send_to(text_data='{"t":"presence","away":false}')
    assert (await received_until_close(flooder))[-1] == {"t": "close", "code": 4429}
    # Everyone else carries on, and the flooder has left their page.
    await presence_settled(staff)
    assert latest(staff)["n"] == 1
    await staff.comm.send_to(text_data='{"t":"ping"}')
    assert json.loads(await staff.comm.receive_from(timeout=5))["t"] == "pong"


async def test_bad_presence_and_hold_frames_are_refused(w, sockets):  # type: ignore[no-untyped-def]
    cases = [
        ({"t": "presence", "away": "yes"}, [w.k["day"]]),
        ({"t": "presence"}, [w.k["day"]]),
        ({"t": "hold", "k": w.k["cal1_staff"], "i": "s1"}, [w.k["cal1_staff"]]),  # no holds
        ({"t": "hold", "k": w.k["slots"], "i": "s1"}, [w.k["day"]]),  # not its stream
        ({"t": "hold", "k": w.k["day"], "i": "<b>x</b>"}, [w.k["day"]]),
        ({"t": "hold", "k": w.k["day"], "i": 5}, [w.k["day"]]),
        ({"t": "hold", "k": w.k["day"], "i": "x" * 61}, [w.k["day"]]),
    ]
    for frame, keys in cases:
        user = w.staff_user
        sock = await live(sockets, user, keys)
        await sock.comm.send_to(text_data=json.dumps(frame))
        assert (await received_until_close(sock))[-1] == {"t": "close", "code": 4400}, frame


async def test_holds_tell_the_others_without_a_name(backend, w, sockets):  # type: ignore[no-untyped-def]
    slots = w.k["slots"]
    booker = await live(sockets, w.parent_user, [slots])
    other = await live(sockets, w.other_parent_user, [slots])
    staff = await live(sockets, w.staff_user, [slots])
    await presence_settled(booker, other, staff)

    await booker.comm.send_to(text_data=json.dumps({"t": "hold", "k": slots, "i": "1765200000"}))
    frames = [await other.comm.receive_from(timeout=5), await staff.comm.receive_from(timeout=5)]
    for text in frames:
        hold = json.loads(text)
        assert hold == {
            "t": "h",
            "k": slots,
            "i": "1765200000",
            "by": booker.ready["you"]["tag"],
            "on": True,
            "ttl": 60.0,
        }
        assert w.parent_user.username not in text and str(w.parent_user.pk) not in text
    # Someone else cannot take it over while it lasts; a newcomer is told of it on connect.
    await other.comm.send_to(text_data=json.dumps({"t": "hold", "k": slots, "i": "1765200000"}))
    late = await live(sockets, w.player_user, [slots])
    assert late.ready["holds"] == {slots: {"1765200000": booker.ready["you"]["tag"]}}
    assert await received(staff) == []  # nothing from the refused hold

    # Leaving the page lets go of it, for everyone.
    await booker.comm.disconnect()
    got = _decode(await staff.comm.receive_output(timeout=5))
    while got["t"] == "p":
        got = _decode(await staff.comm.receive_output(timeout=5))
    assert got["t"] == "h" and got["on"] is False and got["i"] == "1765200000"
    assert await sync_to_async(get_ephemeral().holds)(slots) == {}


async def test_two_editors_of_a_session_know_of_each_other(w, sockets):  # type: ignore[no-untyped-def]
    """The session's edit form (bookings.live.schedule.SessionEditor): the front desk and the
    session's coach see each other there before either saves."""
    key = SessionEditor(w.session.pk).key
    staff = await live(sockets, w.staff_user, [key])
    coach = await live(sockets, w.coach_user, [key])
    await presence_settled(staff, coach)

    for sock, other in ((staff, w.coach_user), (coach, w.staff_user)):
        assert sock.ready["presence"]["names"] is True
        assert sock.ready["presence"]["place"].startswith("the edit form of ")
        assert other.username in names_in(latest(sock))


class _Process:
    """What a tracker needs of its process's hub: its loop, background tasks, and a broadcast
    that here only records what would be said (the four trackers below stand for four worker
    processes; their shared state is the real Redis)."""

    def __init__(self, said: list[tuple[float, dict[str, Any]]]) -> None:
        self.loop = asyncio.get_running_loop()
        self.said = said
        self.tasks: set[asyncio.Task[Any]] = set()

    def background(self, coroutine: Any) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def broadcast(self, key: str, text: str, variants: dict[str, str] | None = None) -> None:
        self.said.append((self.loop.time(), json.loads(text)))


@pytest.mark.redis
async def test_four_processes_say_one_summary_per_turn_and_miss_no_change(settings):  # type: ignore[no-untyped-def]
    """Viewers arriving on one stream through four processes (a page load or a reconnection
    storm): one summary per turn for the stream, not one per process per coalescing window,
    and each arrival is in a summary within 1 s."""
    import uuid

    from realtime.ephemeral import RedisEphemeral
    from realtime.fragments import Presence

    store = RedisEphemeral(settings.TEST_REDIS_URL, f"test-turn-{uuid.uuid4().hex}")
    said: list[tuple[float, dict[str, Any]]] = []
    processes = [_Process(said) for _ in range(4)]
    trackers = [presence.PresenceTracker(p) for p in processes]  # type: ignore[arg-type]
    for tracker in trackers:
        tracker.store = store
    key, loop = "day:test:2026-12-01", asyncio.get_running_loop()
    joined: list[float] = []
    for n in range(40):  # 40 arrivals over ~1.2 s, round robin over the processes
        seat = presence.Seat(key, Presence(f"P{n}", "player", False, "Tuesday"), n, f"tab{n}")
        await trackers[n % 4].join(object(), seat)
        joined.append(loop.time())
        await asyncio.sleep(0.03)
    await asyncio.sleep(1.2)

    span = joined[-1] - joined[0] + 1.0
    assert 2 <= len(said) <= span / presence.TURN + 2, [round(t - joined[0], 2) for t, _ in said]
    versions = [m["v"] for _, m in said]
    assert versions == sorted(versions)
    assert said[-1][1]["n"] == 40
    for n, at in enumerate(joined):  # said within 1 s, with at least everyone up to them
        assert any(at <= t <= at + 1.0 and m["n"] >= n + 1 for t, m in said), (n, said)
