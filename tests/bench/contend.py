"""One process of the contended-reservation race: T threads, each with its own database
connection and its own players, reserving and cancelling spots in a few small sessions through
bookings.services until the deadline. Prints one JSON line of per-second counts. With
"mode": "bare" in its parameters, the same race in plain SQL (bare_attempts): the floor the
service race is compared with.

Usage: python -m tests.bench.contend PARAMS_JSON (written by the orchestrator). The process
prints "ready" once every thread has loaded its objects and connected, then waits for a line
"START END" (epoch seconds) on stdin, so all processes race over the same window."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.settings")


Attempt = Callable[[str, int, int], str]  # (op, player, session) -> refusal code, or ""


def race_loop(
    index: int,
    players: list[list[int]],
    sessions: list[int],
    window: dict[str, float],
    go: threading.Event,
    attempt: Attempt,
) -> dict[str, Any]:
    """What both kinds of racer share: wait for the window, then reserve or cancel (half the
    time one of its own reservations) until it ends, counting per second and timing each."""
    rng = random.Random(index)
    held: set[tuple[int, int]] = set()
    per_second: dict[int, Counter[str]] = defaultdict(Counter)
    refusals: Counter[str] = Counter()
    latencies: list[float] = []
    go.wait()
    start, end = window["start"], window["end"]
    while time.time() < start:
        time.sleep(0.002)
    while (now := time.time()) < end:
        bucket = per_second[int(now - start)]
        if held and rng.random() < 0.5:
            pair = rng.choice(list(held))
            op = "cancel"
        else:
            pair = (rng.choice(players)[0], rng.choice(sessions))
            op = "cancel" if pair in held else "reserve"
        bucket["attempts"] += 1
        t0 = time.perf_counter()
        try:
            refused = attempt(op, *pair)
        except Exception as exc:  # deadlocks or serialization failures would show here
            bucket["errors"] += 1
            refusals[f"error:{type(exc).__name__}"] += 1
        else:
            if refused:
                bucket["refusals"] += 1
                refusals[refused] += 1
            else:
                bucket["successes"] += 1
                bucket[f"{op}_ok"] += 1
                (held.discard if op == "cancel" else held.add)(pair)
        latencies.append(time.perf_counter() - t0)
    return {
        "per_second": {str(k): dict(v) for k, v in per_second.items()},
        "refusals": dict(refusals),
        "latencies": latencies,
    }


def service_attempts(
    players: list[list[int]], sessions: list[int]
) -> tuple[Attempt, Callable[[], None]]:
    """A racer's attempts through bookings.services, as a page's request would call them, and
    what to close after."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bookings.errors import BookingError
    from bookings.models import Player
    from bookings.services import reservation_cancel, reservation_create
    from scheduling.models import GroupSession

    users = get_user_model().objects.in_bulk([u for _, u in players])
    user_of = {p: users[u] for p, u in players}
    player_objs = Player.objects.in_bulk([p for p, _ in players])
    session_objs = GroupSession.objects.in_bulk(sessions)
    reservations: dict[tuple[int, int], Any] = {}

    def attempt(op: str, pid: int, sid: int) -> str:
        try:
            if op == "cancel":
                reservation_cancel(reservation=reservations[pid, sid], actor=user_of[pid])
            else:
                reservations[pid, sid] = reservation_create(
                    player=player_objs[pid], session=session_objs[sid], actor=user_of[pid]
                )
        except BookingError as exc:
            return exc.code
        except Exception:
            connection.close()
            raise
        return ""

    connection.ensure_connection()
    return attempt, connection.close


def bare_attempts(
    players: list[list[int]], sessions: list[int]
) -> tuple[Attempt, Callable[[], None]]:
    """The race's floor: the same rows locked and written as bookings.services does (the
    player's and the session's row locks, the reservation row, the session's counters, an
    activity row and an outbox row), in plain SQL on its own psycopg connection, with no ORM,
    no change capture and no check beyond "active already" and "full". What PostgreSQL and
    this machine allow before Courtside's Python is counted."""
    import psycopg
    from django.db import connection

    from bookings.models import Activity, Player, SessionReservation
    from realtime.models import OutboxEvent
    from scheduling.models import GroupSession

    names = (
        Player._meta.db_table,
        GroupSession._meta.db_table,
        SessionReservation._meta.db_table,
        Activity._meta.db_table,
        OutboxEvent._meta.db_table,
    )
    params = connection.get_connection_params()
    for option in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(option, None)
    db = psycopg.connect(**params, autocommit=False)
    academy = dict(
        db.execute(
            f"SELECT id, academy_id FROM {names[1]} WHERE id = ANY(%s)", [sessions]
        ).fetchall()
    )
    db.rollback()
    user_of = {p: u for p, u in players}

    def attempt(op: str, pid: int, sid: int) -> str:
        try:
            refused = _bare_op(db, op, pid, sid, user_of[pid], academy[sid], names=names)
        except psycopg.Error:
            db.rollback()
            raise
        if refused:
            db.rollback()
        else:
            db.commit()
        return refused

    return attempt, db.close


def _bare_op(
    db: Any, op: str, pid: int, sid: int, uid: int, academy: int, *, names: tuple[str, ...]
) -> str:
    """One reservation or cancellation in the open transaction; a refusal's code, or ""."""
    t_player, t_session, t_res, t_act, t_out = names
    db.execute(f"SELECT id FROM {t_player} WHERE id = %s FOR UPDATE", [pid])
    capacity, reserved = db.execute(
        f"SELECT capacity, reserved_count + held_count FROM {t_session} WHERE id = %s FOR UPDATE",
        [sid],
    ).fetchone()
    row = db.execute(
        f"SELECT id, status FROM {t_res} WHERE session_id = %s AND player_id = %s "
        "ORDER BY id DESC LIMIT 1",
        [sid, pid],
    ).fetchone()
    active = row is not None and row[1] == "reserved"
    if op == "reserve":
        if active:
            return "already_reserved"
        if reserved >= capacity:
            return "session_full"
        if row is None:
            db.execute(
                f"INSERT INTO {t_res} (session_id, player_id, status, reserved_by_id, "
                "created_at, updated_at) VALUES (%s, %s, 'reserved', %s, now(), now())",
                [sid, pid, uid],
            )
        else:
            db.execute(
                f"UPDATE {t_res} SET status = 'reserved', reserved_by_id = %s, "
                "cancelled_by_id = NULL, cancelled_at = NULL, updated_at = now() WHERE id = %s",
                [uid, row[0]],
            )
        step, verb = 1, "booked"
    else:
        if not active:
            return "not_active"
        db.execute(
            f"UPDATE {t_res} SET status = 'cancelled', cancelled_by_id = %s, "
            "cancelled_at = now(), updated_at = now() WHERE id = %s",
            [uid, row[0]],
        )
        step, verb = -1, "cancelled"
    db.execute(
        f"UPDATE {t_session} SET reserved_count = reserved_count + %s, version = version + 1 "
        "WHERE id = %s",
        [step, sid],
    )
    db.execute(
        f"INSERT INTO {t_act} (academy_id, at, verb, actor_id, player_id, session_id, detail) "
        "VALUES (%s, now(), %s, %s, %s, %s, '')",
        [academy, verb, uid, pid, sid],
    )
    # Marked sent: the servers' outbox sweep must not publish the floor's rows.
    db.execute(
        f"INSERT INTO {t_out} (name, data, created_at, due_at, sent_at) "
        "VALUES ('bench.bare', '{}', now(), now(), now())"
    )
    return ""


def racer(
    index: int,
    params: dict[str, Any],
    loaded: threading.Barrier,
    window: dict[str, float],
    go: threading.Event,
    out: dict[int, Any],
) -> None:
    """One thread of the race: its players' attempts (`params["mode"]`: "bare" for plain SQL),
    made ready before the start, then the loop."""
    players, sessions = params["players"][index], params["sessions"]
    make = bare_attempts if params.get("mode") == "bare" else service_attempts
    attempt, close = make(players, sessions)
    loaded.wait()
    out[index] = race_loop(index, players, sessions, window, go, attempt)
    close()


def main() -> None:
    with open(sys.argv[1]) as f:
        params = json.load(f)
    import django

    django.setup()
    # Warm what a long-running worker has long loaded (the publisher's Redis client and the
    # channel layer), so importing them is not timed as part of the race.
    from channels.layers import get_channel_layer

    from realtime.store import get_store

    get_store().watched_shared()
    get_channel_layer()
    out: dict[int, Any] = {}
    chunks = params["players"]
    loaded = threading.Barrier(len(chunks) + 1)
    window: dict[str, float] = {}
    go = threading.Event()
    threads = [
        threading.Thread(target=racer, args=(i, params, loaded, window, go, out))
        for i in range(len(chunks))
    ]
    for t in threads:
        t.start()
    loaded.wait()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    start, end = map(float, sys.stdin.readline().split())
    window.update(start=start, end=end)
    go.set()
    for t in threads:
        t.join()
    from realtime.publisher import get_publisher

    get_publisher().wait_idle(5)
    sys.stdout.write(json.dumps(list(out.values())) + "\n")


if __name__ == "__main__":
    main()
