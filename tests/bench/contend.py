"""One process of the contended-reservation race: T threads, each with its own database
connection and its own players, reserving and cancelling spots in a few small sessions through
bookings.services until the deadline. Prints one JSON line of per-second counts.

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
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.settings")


def worker(
    index: int,
    players: list[list[int]],
    sessions: list[int],
    loaded: threading.Barrier,
    window: dict[str, float],
    go: threading.Event,
    out: dict,
) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bookings.errors import BookingError
    from bookings.models import Player
    from bookings.services import reservation_cancel, reservation_create
    from scheduling.models import GroupSession

    rng = random.Random(index)
    users = get_user_model().objects.in_bulk([u for _, u in players])
    player_objs = Player.objects.in_bulk([p for p, _ in players])
    session_objs = GroupSession.objects.in_bulk(sessions)
    held: dict[tuple[int, int], Any] = {}
    per_second: dict[int, Counter[str]] = defaultdict(Counter)
    refusals: Counter[str] = Counter()
    latencies: list[float] = []
    connection.ensure_connection()
    loaded.wait()
    go.wait()
    start, end = window["start"], window["end"]
    while time.time() < start:
        time.sleep(0.002)
    while (now := time.time()) < end:
        second = int(now - start)
        bucket = per_second[second]
        if held and rng.random() < 0.5:
            pair = rng.choice(list(held))
            op = "cancel"
        else:
            pair = (rng.choice(players)[0], rng.choice(sessions))
            op = "cancel" if pair in held else "reserve"
        pid, sid = pair
        actor = users[next(u for p, u in players if p == pid)]
        bucket["attempts"] += 1
        t0 = time.perf_counter()
        try:
            if op == "cancel":
                reservation_cancel(reservation=held.pop(pair), actor=actor)
            else:
                held[pair] = reservation_create(
                    player=player_objs[pid], session=session_objs[sid], actor=actor
                )
            bucket["successes"] += 1
            bucket[f"{op}_ok"] += 1
        except BookingError as exc:
            bucket["refusals"] += 1
            refusals[exc.code] += 1
        except Exception as exc:  # deadlocks or serialization failures would show here
            bucket["errors"] += 1
            refusals[f"error:{type(exc).__name__}"] += 1
            connection.close()
        latencies.append(time.perf_counter() - t0)
    connection.close()
    out[index] = {
        "per_second": {str(k): dict(v) for k, v in per_second.items()},
        "refusals": dict(refusals),
        "latencies": latencies,
    }


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
        threading.Thread(
            target=worker, args=(i, chunk, params["sessions"], loaded, window, go, out)
        )
        for i, chunk in enumerate(chunks)
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
