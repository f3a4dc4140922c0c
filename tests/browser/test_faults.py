"""Faults on the real stack, watched through real Chromium windows: PostgreSQL, a Redis server
of the tests' own and two ASGI worker processes (`manage.py serve --workers 2`).

- Redis stops: pages and bookings keep working over HTTP, the indicator says Offline and pages
  poll; Redis starts again: Live, resynced, and pushes flow again, without a reload.
- A worker is killed (SIGKILL; serve starts another): its pages reconnect and resync.
- A crowd books and cancels concurrently while a worker is killed and restarted: afterwards
  every open page equals a fresh render and the database holds no overbooking.

The Redis server runs on a spare port and the database is created for this module and dropped
after it; the machine's shared Redis and databases are never touched.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from realtime.hub import HEALTH_INTERVAL
from tests.browser.conftest import Users, windows_fixture
from tests.browser.helpers import (
    HttpUser,
    active_reservations,
    http_user,
    press,
    states,
    wait_converged,
    wait_live,
)
from tests.browser.pagebits import card, entry, presence, reserve_button, status
from tests.browser.stack import Stack, TcpProxy

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="needs the redis-server program to run a Redis of the tests' own",
    ),
]

POLL_FAST = "try { localStorage.setItem('courtside-poll-ms', '1500'); } catch (e) {}"
BACK_LIVE = 40_000  # ms: reconnect backoff tops out at 8 s, plus a busy machine


@pytest.fixture(scope="module")
def world(real_stack: Stack) -> dict[str, Any]:
    return real_stack.setup


@pytest.fixture(scope="module")
def real_users(browser, real_stack: Stack) -> Iterator[Users]:  # type: ignore[no-untyped-def]
    users = Users(browser, real_stack, init_script=POLL_FAST)
    yield users
    users.close()


windows = windows_fixture("real_users")


def indicator(page):  # type: ignore[no-untyped-def]
    return page.locator("#live-indicator")


def test_redis_stops_and_starts_again(windows, world, redis_server, real_stack) -> None:  # type: ignore[no-untyped-def]
    s, oliver_id, name = world["redis_down"], world["players"]["oliver"], world["names"]["oliver"]
    oliver = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="oliver")
    coach = windows.open("coach", f"/coach/?date={s['date']}", label="coach")
    parent = windows.open("parent", "/parent/?tab=reservations", label="parent")
    pages = [oliver, coach, parent]
    desk = http_user(real_stack, "staff")
    # Live through Redis, and each worker publishes once (the other frozen, so this one serves
    # the request): each then holds a connection to the Redis that is about to go away.
    first, second = real_stack.worker_pids()
    with real_stack.only_worker(first):
        answer, _ = desk.post("/reserve/", {"session": s["id"], "player": oliver_id})
        assert answer == 200
    expect(card(coach, s)).to_contain_text(name)
    expect(entry(parent, s, name)).to_have_count(1)
    expect(entry(oliver, s)).to_have_count(1)
    with real_stack.only_worker(second):
        (ident,) = real_stack.sql(
            "SELECT id FROM bookings_sessionreservation WHERE status = 'reserved' "
            f"AND session_id = {int(s['id'])} AND player_id = {int(oliver_id)}"
        )[0]
        answer, _ = desk.post("/cancel/", {"reservation": ident})
        assert answer == 200
    expect(card(coach, s)).not_to_contain_text(name)
    expect(entry(parent, s, name)).to_have_count(0)
    expect(entry(oliver, s)).to_have_count(0)

    redis_server.stop()

    for page in pages:
        expect(indicator(page)).to_have_text("Offline (polling)", timeout=BACK_LIVE)
        expect(status(page)).to_contain_text("Realtime connection lost. Using polling.")
    press(oliver, reserve_button(s))  # plain HTTP: works without Redis
    expect(status(oliver)).to_contain_text(f"Reserved {s['title']} for {name}")
    assert active_reservations(real_stack, s["id"], oliver_id) == 1
    expect(card(coach, s)).to_contain_text(name)  # the other pages poll
    expect(entry(parent, s, name)).to_have_count(1)
    for page in pages:
        expect(indicator(page)).to_have_text("Offline (polling)")
    assert redis_reads(desk) == "Down"

    redis_server.start()

    for page in pages:
        expect(indicator(page)).to_have_text("Live", timeout=BACK_LIVE)
        wait_converged(page)
    # The live metrics say so too, for both workers: one that no page came back to keeps
    # checking Redis after losing it, so its last check is not the failed one for good.
    deadline = time.monotonic() + 3 * HEALTH_INTERVAL + 5
    while (said := redis_reads(desk)) != "Up":
        assert time.monotonic() < deadline, f"the metrics page still says Redis is {said}"
        time.sleep(0.5)
    # Live again means pushed again (polling stops once live): the next change reaches every
    # page within seconds, though Redis forgot the streams' sequence numbers and the workers'
    # old connections to it are dead.
    entry(parent, s, name).locator("button", has_text="Cancel").click()
    expect(status(parent)).to_contain_text(f"Cancelled {s['title']} for {name}")
    expect(card(coach, s)).not_to_contain_text(name)
    expect(entry(oliver, s)).to_have_count(0)
    for page in pages:
        wait_converged(page)
        assert states(page)[-1] == "live"


def redis_reads(desk: HttpUser) -> str:
    """What the staff's live metrics page says of Redis (Up, Down, or a dash before any check)."""
    answer, html = desk.get("/staff/metrics/")
    assert answer == 200
    found = re.search(r'data-metric="redis">(?:<span[^>]*>)?([^<]+)<', html)
    assert found, "no Redis figure on the metrics page"
    return found.group(1).strip()


def test_killed_worker_clients_reconnect_and_resync(windows, world, real_stack) -> None:  # type: ignore[no-untyped-def]
    s, oliver_id, name = world["worker"], world["players"]["oliver"], world["names"]["oliver"]
    pages = [
        windows.open("oliver", f"/player/schedule/?date={s['date']}", label="oliver"),
        windows.open("parent", "/parent/?tab=reservations", label="parent"),
        windows.open("coach", f"/coach/?date={s['date']}", label="coach-home"),
        windows.open("coach", f"/coach/schedule/?date={s['date']}", label="coach-schedule"),
        windows.open("staff", f"/staff/calendar/?view=day&date={s['date']}", label="staff"),
    ]
    oliver, parent, coach_home, coach_schedule, staff = pages
    desk = http_user(real_stack, "staff")
    originals = real_stack.worker_pids()
    reserved = False
    # The worker holding the most connections first. Idle keep-alive HTTP connections count
    # too, so if no page's WebSocket was on it, the other original worker holds them all.
    for _ in range(len(originals)):
        held = real_stack.worker_connections()
        victim = max((pid for pid in held if pid in originals), key=lambda pid: held[pid])
        originals.remove(victim)
        # Frozen first, so what is pushed to its sockets meanwhile is lost with it: only a
        # reconnect and resync can bring that change to its pages.
        os.kill(victim, signal.SIGSTOP)
        try:
            if not reserved:  # a new connection: the other worker answers
                answer, _ = desk.post("/reserve/", {"session": s["id"], "player": oliver_id})
            else:
                (ident,) = real_stack.sql(
                    "SELECT id FROM bookings_sessionreservation WHERE status = 'reserved' "
                    f"AND session_id = {int(s['id'])} AND player_id = {int(oliver_id)}"
                )[0]
                answer, _ = desk.post("/cancel/", {"reservation": ident})
            assert answer == 200
            reserved = not reserved
        finally:
            os.kill(victim, signal.SIGKILL)
        real_stack.wait_for_workers(2, exclude={victim})
        dropped = False
        deadline = time.monotonic() + 3  # a dropped socket shows within milliseconds
        while not dropped and time.monotonic() < deadline:
            dropped = any("reconnecting" in states(page) for page in pages)
            time.sleep(0.1)
        for page in pages:
            wait_live(page, timeout=BACK_LIVE)
        if dropped:
            break
    else:
        pytest.fail("no page lost its connection when either original worker was killed")

    if reserved:
        expect(card(coach_home, s)).to_contain_text(name)
    else:
        expect(card(coach_home, s)).not_to_contain_text(name)
    # the calendars' cards carry the occupancy (names are on each card's details view)
    booked = f"{s['reserved'] + (1 if reserved else 0)}/{s['capacity']} booked"
    for calendar in (coach_schedule, staff):
        expect(card(calendar, s)).to_contain_text(booked)
    expect(entry(oliver, s)).to_have_count(1 if reserved else 0)
    expect(entry(parent, s, name)).to_have_count(1 if reserved else 0)
    for page in pages:
        wait_converged(page)


# -- the crowd ---------------------------------------------------------------------------------

CROWD = ["player", "oliver", "parent", "pat", "noah.clarke", "sofia.garcia", "priya.patel"]
CROWD_SECONDS = 8.0
KILL_AFTER = 3.0


def crowd_players(stack: Stack) -> dict[str, list[int]]:
    """Whom each crowd member may book for: themself and their children."""
    names = ", ".join(f"'{n}'" for n in CROWD)
    own = stack.sql(
        "SELECT u.username, p.id FROM bookings_player p JOIN auth_user u ON u.id = p.user_id "
        f"WHERE u.username IN ({names})"
    )
    children = stack.sql(
        "SELECT u.username, l.player_id FROM bookings_guardianlink l "
        f"JOIN auth_user u ON u.id = l.guardian_id WHERE u.username IN ({names})"
    )
    players: dict[str, list[int]] = {name: [] for name in CROWD}
    for username, player_id in [*own, *children]:
        players[username].append(player_id)
    return players


def crowd_member(
    stack: Stack,
    username: str,
    players: list[int],
    crowd: dict[str, Any],
    rng: random.Random,
    start: threading.Barrier,
    results: Counter[str],
) -> None:
    """Log in, then reserve, book and cancel on the crowd's day for CROWD_SECONDS, counting
    the answers."""
    user = http_user(stack, username)
    sessions = [s["id"] for s in crowd["sessions"]]
    mine = ", ".join(map(str, players))
    start.wait()
    until = time.monotonic() + CROWD_SECONDS
    while time.monotonic() < until:
        roll = rng.random()
        try:
            if roll < 0.45:
                answer, _ = user.post(
                    "/reserve/", {"session": rng.choice(sessions), "player": rng.choice(players)}
                )
            elif roll < 0.65:
                slot = rng.choice(crowd["slots"])["value"]
                answer, _ = user.post("/book/", {"slot": slot, "player": rng.choice(players)})
            else:
                held = stack.sql(
                    "SELECT 'reservation', id FROM bookings_sessionreservation "
                    f"WHERE status = 'reserved' AND player_id IN ({mine}) "
                    f"AND session_id IN ({', '.join(map(str, sessions))}) "
                    "UNION ALL SELECT 'booking', id FROM bookings_individualbooking "
                    f"WHERE status = 'booked' AND player_id IN ({mine}) "
                    f"AND starts_at >= '{crowd['date']}' AND starts_at < "
                    f"(DATE '{crowd['date']}' + 1)"
                )
                if not held:
                    continue
                field, ident = rng.choice(held)
                answer, _ = user.post("/cancel/", {field: ident})
        except (OSError, http.client.HTTPException):  # the killed worker's connections
            results["connection lost"] += 1
            continue
        results[str(answer)] += 1


def test_concurrent_bookings_while_a_worker_restarts(windows, world, real_stack) -> None:  # type: ignore[no-untyped-def]
    crowd = world["crowd"]
    day, slot = crowd["date"], crowd["slots"][0]
    pages = [
        windows.open("staff", f"/staff/calendar/?view=day&date={day}", label="staff-day"),
        windows.open("coach", f"/coach/?date={day}", label="coach-day"),
        windows.open("coach", f"/coach/?tab=full&date={day}", label="coach-full"),
        windows.open("oliver", f"/player/schedule/?{slot['query']}", label="oliver"),
        windows.open("parent", f"/parent/schedule/?{slot['query']}", label="parent"),
        windows.open("player", "/player/?tab=reservations", label="mia"),
    ]
    players = crowd_players(real_stack)
    results: Counter[str] = Counter()
    start = threading.Barrier(len(CROWD) + 1, timeout=120)
    threads = [
        threading.Thread(
            target=crowd_member,
            args=(real_stack, name, players[name], crowd, random.Random(n), start, results),
        )
        for n, name in enumerate(CROWD)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(KILL_AFTER)
    held = real_stack.worker_connections()
    victim = max(held, key=lambda pid: held[pid])
    os.kill(victim, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=120)

    real_stack.wait_for_workers(2, exclude={victim})
    assert results["200"] >= 10, results
    assert set(results) <= {"200", "409", "connection lost"}, results  # refusals, never errors
    for page in pages:
        wait_live(page, timeout=BACK_LIVE)
    for page in pages:
        wait_converged(page, timeout=30)

    overbooked = real_stack.sql(
        "SELECT s.id, s.capacity, s.reserved_count, s.status, count(r.id) "
        "FROM scheduling_groupsession s LEFT JOIN bookings_sessionreservation r "
        "ON r.session_id = s.id AND r.status = 'reserved' "
        f"WHERE s.academy_id = {int(world['academy'])} "
        "GROUP BY s.id, s.capacity, s.reserved_count, s.status "
        "HAVING s.reserved_count <> count(r.id) OR count(r.id) > s.capacity "
        "OR (s.status = 'cancelled' AND count(r.id) > 0)"
    )
    assert overbooked == [], overbooked
    double = real_stack.sql(
        "SELECT a.id, b.id FROM bookings_individualbooking a JOIN bookings_individualbooking b "
        "ON a.id < b.id AND (a.coach_id = b.coach_id OR a.player_id = b.player_id) "
        "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at "
        "WHERE a.status = 'booked' AND b.status = 'booked'"
    )
    assert double == [], double


def test_a_killed_workers_viewers_leave_everyones_page(windows, world, real_stack) -> None:  # type: ignore[no-untyped-def]
    """Every worker dies with a viewer's socket on it (and that viewer cannot come back): once
    the desk's page is live again, the viewer is gone from it within 10 s (the dead workers'
    presence entries expire and are swept). tests/test_live_e2e.py times it from the kill with
    the desk on a surviving worker."""
    proxy = TcpProxy(real_stack.port)
    try:
        day = world["presence"]["date"]
        mia = world["players"]["mia"]
        desk = windows.open("staff", f"/staff/players/{mia}/book/?date={day}", label="desk")
        windows.open("parent", f"/parent/schedule/?date={day}", base=proxy.url, label="parent")
        expect(presence(desk)).to_contain_text("Hannah Wright (parent)", timeout=5_000)

        workers = real_stack.worker_pids()
        for pid in workers:  # frozen: their sockets stay open, nothing leaves
            os.kill(pid, signal.SIGSTOP)
        proxy.cut()  # the parent's browser will not get back in
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        real_stack.wait_for_workers(len(workers), exclude=set(workers))
        wait_live(desk, timeout=30_000)
        back = time.monotonic()
        expect(presence(desk)).not_to_contain_text("Hannah", timeout=10_000)
        assert time.monotonic() - back < 10.5
    finally:
        proxy.close()
