"""`make chaos`: python -m tests.chaos [--ops 1000] [--seconds 240] [--writers 5] [--out PATH]

The live path under faults, on the real stack of the browser tests (tests/browser/stack.py: a
PostgreSQL database and a Redis server of its own, `manage.py serve` with 2 workers, the world
of tests/browser/world.py). While --ops random bookings, cancellations and session edits run on
the crowd's day from several processes (writer processes through the services, some killing
themselves right after COMMIT; HTTP users through the workers; one-shot `manage.py shell -c`
scripts that commit and exit), workers are SIGKILLed, Redis is restarted, and half of the
WebSocket viewers go through a proxy that loses frames. WebSocket viewers (tests/chaos/
viewers.py) and Chromium pages follow the live pages of every role meanwhile.

At the end: every outbox row sent; within 2 s of the last reconnect every browser page equals a
fresh render of its fragments and every WebSocket viewer holds each stream's current number;
nothing overbooked; no socket received a fragment of a stream its user may not read. The
figures go to --out. Bounded: a watchdog stops everything after --seconds + 480 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.orchestrator import log, watchdog
from tests.browser.helpers import http_user, log_in, stale_fragments, wait_live
from tests.browser.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    RedisServer,
    Stack,
    postgres_database,
    running_stack,
)
from tests.browser.test_faults import crowd_players
from tests.chaos.proxy import LossyProxy
from tests.chaos.viewers import Viewer

KILL_RATE = 0.02  # a writer process's chance, per operation, of dying right after COMMIT
LOSS = 0.05  # the proxy's share of lost frames
WORKER_KILL_EVERY = 20.0
ONE_SHOT_EVERY = 6.0

SIGN_IN = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
out = {}
for user in get_user_model().objects.filter(username__in=%r):
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    out[user.username] = [user.pk, s.session_key]
print(json.dumps(out))
"""

ONE_SHOT = """
import random
from django.contrib.auth import get_user_model
from bookings import services
from bookings.errors import BookingError
from bookings.models import Player, SessionReservation
from scheduling.models import GroupSession
staff = get_user_model().objects.get(username="staff")
rng = random.Random(%d)
sessions = %r
try:
    held = list(SessionReservation.objects.filter(session_id__in=sessions, status="reserved"))
    if held and rng.random() < 0.5:
        services.reservation_cancel(reservation=rng.choice(held), actor=staff)
    else:
        player = Player.objects.order_by("?").first()
        session = GroupSession.objects.get(pk=rng.choice(sessions))
        services.reservation_create(player=player, session=session, actor=staff)
except BookingError:
    pass
"""

# Which user may read which stream, asked of the product's own rules in the stack's database.
ACCESS_CHECK = """
import json, sys
from django.contrib.auth import get_user_model
from realtime.fragments import resolve
from realtime.viewers import viewer_of
bad = []
users = get_user_model().objects.in_bulk()
for user_id, key in json.loads(%r):
    resolved = resolve(key)
    if resolved is None or not resolved.allowed(viewer_of(users[user_id])):
        bad.append([user_id, key])
print(json.dumps(bad))
"""

# Pages followed: (user, path) on the crowd's day, every role.
PAGES = [
    ("staff", "/staff/calendar/?view=day&date={day}"),
    ("admin", "/staff/calendar/?view=day&date={day}"),
    ("coach", "/coach/?date={day}"),
    ("coach", "/coach/schedule/?date={day}"),
    ("elena", "/coach/?date={day}"),
    ("player", "/player/schedule/?date={day}"),
    ("player", "/player/?tab=reservations"),
    ("oliver", "/player/schedule/?date={day}"),
    ("parent", "/parent/?tab=reservations"),
    ("parent", "/parent/schedule/?date={day}"),
    ("pat", "/parent/?tab=reservations"),
    ("priya.patel", "/parent/?tab=reservations"),
]
BROWSER_PAGES = [
    ("staff", "/staff/calendar/?view=day&date={day}"),
    ("coach", "/coach/?date={day}"),
    ("parent", "/parent/?tab=reservations"),
]


class Loop:
    """An asyncio loop in a thread of its own (the viewers and the proxy), driven from here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="chaos-loop", daemon=True).start()

    def run(self, coroutine: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


class Chaos:
    def __init__(
        self, stack: Stack, redis: RedisServer, ops: int, seconds: float, writers: int
    ) -> None:
        self.stack, self.redis, self.ops, self.seconds = stack, redis, ops, seconds
        self.writers = writers
        self.crowd = stack.setup["crowd"]
        self.day = self.crowd["date"]
        self.sessions = [s["id"] for s in self.crowd["sessions"]]
        self.counts: Counter[str] = Counter()
        self.rng = random.Random(15)
        self.loop = Loop()
        self.viewers: list[Viewer] = []
        self.pages: list[Any] = []
        self.done_ops = 0
        self.lock = threading.Lock()

    # -- set-up --

    def _shell(self, code: str) -> str:
        """What `manage.py shell -c` printed last (its own notices come first)."""
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.stack.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py shell failed:\n{done.stderr[-3000:]}")
        return done.stdout.strip().splitlines()[-1]

    def sign_in(self) -> dict[str, list[Any]]:
        users = sorted({user for user, _ in PAGES})
        return json.loads(self._shell(SIGN_IN % (users,)))

    def open_viewers(self) -> None:
        signed = self.sign_in()
        self.proxy = LossyProxy(self.stack.port, LOSS, seed=15)
        self.loop.run(self.proxy.start())
        for via in ("direct", "lossy"):
            for username, path in PAGES:
                user_id, session = signed[username]
                self.viewers.append(
                    Viewer(
                        label=f"{username} {path.split('?')[0]} ({via})",
                        user_id=user_id,
                        base=self.stack.url,
                        ws_port=self.stack.port if via == "direct" else self.proxy.port,
                        session=session,
                        path=path.format(day=self.day),
                    )
                )

        async def start() -> None:
            await asyncio.gather(*(v.open_page() for v in self.viewers))
            self.tasks = [asyncio.ensure_future(v.run()) for v in self.viewers]
            await asyncio.wait_for(asyncio.gather(*(v.ready.wait() for v in self.viewers)), 60)

        self.loop.run(start())
        log(f"{len(self.viewers)} WebSocket viewers live")

    def open_pages(self, browser: Any) -> None:
        for username, path in BROWSER_PAGES:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            context.set_default_timeout(30_000)
            page = context.new_page()
            log_in(page, self.stack.url, username)
            page.goto(self.stack.url + path.format(day=self.day))
            wait_live(page)
            self.pages.append(page)
        log(f"{len(self.pages)} browser pages live")

    # -- the faults and the writes --

    def writer(self, seed: int, count: int) -> None:
        """One writer's share, in as many processes as it takes (each may die after a COMMIT)."""
        left = count
        while left > 0 and time.time() < self.until:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.chaos.writer",
                    str(seed),
                    str(left),
                    str(KILL_RATE),
                    json.dumps(self.crowd),
                    str(self.until),
                ],
                cwd=ROOT,
                env=self.stack.env,
                capture_output=True,
                text=True,
            )
            lines = done.stdout.splitlines()
            with self.lock:
                for line in lines:
                    self.counts["write " + line] += 1
                self.done_ops += len(lines)
            if done.returncode == -signal.SIGKILL:
                self.counts["writers killed right after COMMIT"] += 1
                left -= len(lines) + 1  # the one that died had committed
                with self.lock:
                    self.done_ops += 1
                    self.counts["write committed, then killed"] += 1
            elif done.returncode != 0:
                raise RuntimeError(f"writer failed:\n{done.stderr[-2000:]}")
            else:
                left = 0
            seed += 1000

    def http_crowd(self, username: str, players: list[int], count: int, seed: int) -> None:
        """Bookings and cancellations over HTTP, through the workers (which get killed)."""
        rng = random.Random(seed)
        user = http_user(self.stack, username)
        sessions = ", ".join(map(str, self.sessions))
        mine = ", ".join(map(str, players))
        for _ in range(count):
            if time.time() > self.until:
                return
            try:
                if rng.random() < 0.6:
                    answer, _ = user.post(
                        "/reserve/",
                        {"session": rng.choice(self.sessions), "player": rng.choice(players)},
                    )
                else:
                    held = self.stack.sql(
                        "SELECT id FROM bookings_sessionreservation WHERE status = 'reserved' "
                        f"AND player_id IN ({mine}) AND session_id IN ({sessions})"
                    )
                    if not held:
                        continue
                    answer, _ = user.post("/cancel/", {"reservation": rng.choice(held)[0]})
                key = f"http {answer}"
            except OSError:
                key = "http connection lost (worker killed)"
            with self.lock:
                self.counts[key] += 1
                self.done_ops += 1

    def faults(self, stop: threading.Event) -> None:
        """Worker kills and Redis restarts until `stop`."""
        started = time.monotonic()
        next_kill = started + WORKER_KILL_EVERY / 2
        redis_at = [started + self.seconds * f for f in (0.35, 0.7)]
        while not stop.wait(0.2):
            now = time.monotonic()
            if now >= next_kill:
                next_kill = now + WORKER_KILL_EVERY
                pids = self.stack.worker_pids()
                if pids:
                    victim = self.rng.choice(pids)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(victim, signal.SIGKILL)
                    self.counts["workers SIGKILLed"] += 1
                    log(f"SIGKILL worker {victim}")
            if redis_at and now >= redis_at[0]:
                redis_at.pop(0)
                log("restarting Redis")
                self.redis.stop()
                time.sleep(1.0)
                self.redis.start()
                self.counts["Redis restarts"] += 1

    def one_shots(self, stop: threading.Event) -> None:
        """`manage.py shell -c` scripts that book or cancel once and exit at once."""
        while not stop.wait(ONE_SHOT_EVERY):
            try:
                self._shell(ONE_SHOT % (self.rng.randrange(10**6), self.sessions))
            except RuntimeError:
                self.counts["one-shot scripts failed"] += 1
                continue
            with self.lock:
                self.counts["one-shot scripts (commit and exit)"] += 1
                self.done_ops += 1

    def run_writes(self) -> float:
        stop = threading.Event()
        side = [
            threading.Thread(target=self.faults, args=(stop,), daemon=True),
            threading.Thread(target=self.one_shots, args=(stop,), daemon=True),
        ]
        http_share = self.ops // 4
        per_writer = (self.ops - http_share) // self.writers
        players = crowd_players(self.stack)
        crowd = [(name, ids) for name, ids in players.items() if ids]
        threads = [
            threading.Thread(target=self.writer, args=(n, per_writer), daemon=True)
            for n in range(self.writers)
        ]
        threads += [
            threading.Thread(
                target=self.http_crowd,
                args=(name, ids, http_share // len(crowd), 100 + n),
                daemon=True,
            )
            for n, (name, ids) in enumerate(crowd)
        ]
        start = time.monotonic()
        self.until = time.time() + self.seconds
        for thread in side:
            thread.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # each stops by self.until
        stop.set()
        for thread in side:
            thread.join()
        return time.monotonic() - start

    # -- the end --

    def stop_viewers(self) -> None:
        async def stop() -> None:
            await asyncio.gather(*(v.stop() for v in self.viewers))

        self.loop.run(stop())

    def unsent(self) -> int:
        return self.stack.sql("SELECT count(*) FROM realtime_outboxevent WHERE sent_at IS NULL")[0][
            0
        ]

    def settle(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.stack.wait_for_workers(2, timeout=60)
        if not self.redis.answers():
            self.redis.start()
        t0 = time.monotonic()
        while self.unsent() and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        out["outbox unsent at the end"] = self.unsent()
        out["outbox drained after the writes (s)"] = round(time.monotonic() - t0, 1)
        self.drained_at = time.monotonic()

        async def all_ready() -> list[str]:
            waits = [asyncio.ensure_future(v.ready.wait()) for v in self.viewers]
            await asyncio.wait(waits, timeout=60)
            return [f"{v.label}: {dict(v.counts)}" for v in self.viewers if not v.ready.is_set()]

        out["WebSocket viewers not live again after 60 s"] = self.loop.run(all_ready())
        for page in self.pages:
            wait_live(page, timeout=60_000)
        # From the later of the last reconnect and the outbox's last send: by then every change
        # is out, and a page must show it within 2 s.
        since = max(max(v.ready_at for v in self.viewers), self.drained_at, time.monotonic() - 2)

        async def behind() -> list[str]:
            await asyncio.gather(*(v.heartbeat() for v in self.viewers))  # resync if behind
            seqs = await asyncio.gather(*(v.heartbeat() for v in self.viewers))
            return [
                v.label
                for v, s in zip(self.viewers, seqs, strict=True)
                if s is None or any(v.last.get(k, 0) < n for k, n in s.items())
            ]

        lagging = self.loop.run(behind())
        while lagging and time.monotonic() - since < 2.0:
            lagging = self.loop.run(behind())
        stale = {}
        for page in self.pages:
            differ = stale_fragments(page)
            while differ and time.monotonic() - since < 2.0:
                time.sleep(0.2)
                differ = stale_fragments(page)
            if differ:
                stale[page.url] = differ
        out["all checked within (s)"] = round(time.monotonic() - since, 2)
        out["WebSocket viewers at every stream's current number"] = (
            f"{len(self.viewers) - len(lagging)} of {len(self.viewers)}"
        )
        out["WebSocket viewers behind"] = lagging
        out["browser pages equal to a fresh render"] = (
            f"{len(self.pages) - len(stale)} of {len(self.pages)}"
        )
        out["stale browser pages"] = stale
        return out

    def checks(self) -> dict[str, Any]:
        over = self.stack.sql(
            "SELECT count(*) FROM scheduling_groupsession s WHERE s.reserved_count > s.capacity "
            "OR s.reserved_count <> (SELECT count(*) FROM bookings_sessionreservation r "
            "WHERE r.session_id = s.id AND r.status = 'reserved')"
        )[0][0]
        pairs = sorted({(v.user_id, key) for v in self.viewers for key in v.received})
        bad = json.loads(self._shell(ACCESS_CHECK % (json.dumps(pairs),)))
        received = sum(sum(v.received.values()) for v in self.viewers)
        return {
            "sessions overbooked or miscounted": over,
            "fragments received by WebSocket viewers": received,
            "(user, stream) pairs received": len(pairs),
            "fragments of a stream the socket's user may not read": len(bad),
            "forbidden pairs": bad,
        }


def report(path: Path, command: str, figures: dict[str, Any]) -> None:
    lines = [
        "# Chaos run",
        "",
        "The live path under faults (issue 15): `tests/chaos/` (see its docstring for what it",
        "does). Rerun with:",
        "",
        f"    {command}",
        "",
        "What it checks at the end: every outbox row sent (events of writers killed right",
        "after COMMIT are published by a serving process's sweeper); within 2 s of the later",
        "of the last reconnect and the outbox's last send, every Chromium page's live",
        "fragments equal a fresh render (GET /live/) and every WebSocket viewer holds each",
        "stream's current number (after the resyncs a heartbeat's pong asks for, as the",
        "page's script does); no session over capacity or with a count that differs from",
        "its active reservations; and every (user, stream) a socket received a fragment of",
        "is readable by that user under bookings/access.py. Half the WebSocket viewers go",
        "through a proxy that drops 5% of the server's text frames.",
        "",
        "Operations run is what the writers managed before the time limit on this machine (2",
        "cores shared with other jobs, load average 20-30 during the run): wall-clock times",
        "are noisy.",
        "",
        "| what | count |",
        "|---|---|",
    ]
    for key, value in figures.items():
        if isinstance(value, dict | list):
            value = json.dumps(value) if value else "none"
        lines.append(f"| {key} | {value} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=240.0, help="the writes' time limit")
    parser.add_argument("--writers", type=int, default=5, help="writer processes at once")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "chaos.md")
    args = parser.parse_args(argv)
    watchdog(args.seconds + 480)
    database = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    from playwright.sync_api import sync_playwright

    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as exits:
        redis = RedisServer()
        redis.start()
        exits.callback(redis.stop)
        url = exits.enter_context(postgres_database(database))
        log("starting the stack (2 workers, PostgreSQL, a Redis of its own)")
        stack = exits.enter_context(
            running_stack(
                database_url=url,
                redis_url=redis.url,
                workers=2,
                demo=False,
                setup="tests.browser.world:prepare",
                # Small pools: PostgreSQL's connections are shared with whatever else runs.
                extra_env={"DB_POOL_SIZE": "3"},
            )
        )
        chaos = Chaos(stack, redis, args.ops, args.seconds, args.writers)
        chaos.open_viewers()
        pw = exits.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        exits.callback(browser.close)
        chaos.open_pages(browser)
        log(f"{args.ops} writes with faults, at most {args.seconds:.0f} s")
        took = chaos.run_writes()
        figures["operations run"] = chaos.done_ops
        figures["seconds of writes"] = round(took, 1)
        figures.update(sorted(chaos.counts.items()))
        log("writes done: settling")
        figures.update(chaos.settle())
        figures.update(chaos.checks())
        viewer_counts: Counter[str] = Counter()
        for viewer in chaos.viewers:
            viewer_counts.update(viewer.counts)
        figures.update({f"viewers: {k}": v for k, v in sorted(viewer_counts.items())})
        figures["proxy: frames dropped"] = chaos.proxy.dropped
        figures["proxy: frames forwarded"] = chaos.proxy.forwarded
        chaos.stop_viewers()
    command = "python -m tests.chaos " + " ".join(argv if argv is not None else sys.argv[1:])
    report(args.out, command.strip(), figures)
    for key, value in figures.items():
        log(f"{key}: {value}")
    ok = (
        figures["sessions overbooked or miscounted"] == 0
        and figures["fragments of a stream the socket's user may not read"] == 0
        and figures["outbox unsent at the end"] == 0
        and not figures["stale browser pages"]
        and not figures["WebSocket viewers behind"]
        and not figures["WebSocket viewers not live again after 60 s"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
