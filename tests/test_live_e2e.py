"""The real stack, end to end: `manage.py serve --workers 2` on PostgreSQL and Redis, real
logins over HTTP, real WebSocket clients that follow the browser client's rules
(static/js/courtside.js: apply only newer sequence numbers, resync on ready and on a gap,
reconnect with jittered backoff).

It measures and prints commit-to-fragment latency (from just before the booking POST to the
pushed fragment's arrival) and, after SIGKILLing a worker, the time until every dropped client
is live again. The database, Redis keys and every process it starts are removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import html as html_lib
import http.cookiejar
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from bookings.live.calendars import CoachDay

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(180)]

BASE_DIR = Path(settings.BASE_DIR)
PASSWORD = "e2e-pass-1"

SEED = r"""
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test.utils import override_settings
from bookings.models import Player
from tests.factories import build_world, days_ahead

with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
    w = build_world()
get_user_model().objects.update(password=make_password(sys.argv[1]))  # one real hash for all
for player, surname in [(w.child, "Quillfeather"), (w.child2, "Thistlewood"),
                        (w.other_child, "Brambleworth")]:
    Player.objects.filter(pk=player.pk).update(last_name=surname)
print(json.dumps({
    "academy": w.academy.pk, "session": w.session.pk, "coach": w.coach.pk,
    "child": w.child.pk, "child2": w.child2.pk, "other_child": w.other_child.pk,
    "title": w.group_type.name, "d3": days_ahead(3).isoformat(),
}))
"""


# -- the stack -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    port: int
    env: dict[str, str]
    world: dict[str, Any]
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    browsers: dict[str, Browser] = field(default_factory=dict)

    def browser(self, username: str) -> Browser:
        """A logged-in browser per user, shared by the tests (a login costs a password hash)."""
        if username not in self.browsers:
            self.browsers[username] = Browser(self, username)
        return self.browsers[username]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The workers alive now: the first ones from the banner, and any started again."""
        pids: list[int] = []
        for line in list(self.output):
            if m := re.search(r"worker\(s\): \[([\d, ]+)\]", line):
                pids = [int(p) for p in m.group(1).split(",")]
            if m := re.search(r"worker (\d+) exited", line):
                pids = [p for p in pids if p != int(m.group(1))]
            if m := re.search(r"started worker (\d+)", line):
                pids.append(int(m.group(1)))
        return [p for p in pids if Path(f"/proc/{p}").exists()] or pids


def _run(args: list[str], env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run(
        args, env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory):  # type: ignore[no-untyped-def]
    import redis

    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    dbname = f"courtside_e2e_{tag}"
    admin_url = urllib.parse.urlparse(settings.TEST_DATABASE_URL)._replace(path="/postgres")
    admin_dsn = urllib.parse.urlunparse(admin_url)
    db_url = urllib.parse.urlunparse(admin_url._replace(path=f"/{dbname}"))
    prefix = f"courtside-e2e-{tag}"
    tmp = tmp_path_factory.mktemp("e2e")
    # The production settings, except static files: no collectstatic manifest to build (a
    # deployment runs collectstatic; nothing here is about static files).
    (tmp / "e2e_settings.py").write_text(
        "from config.settings import *  # noqa: F403\n"
        "STORAGES['staticfiles'] = "
        "{'BACKEND': 'django.contrib.staticfiles.storage.StaticFilesStorage'}\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "TEST_", "COURTSIDE_", "DATABASE_", "REDIS_"))
        and k not in {"DEBUG", "LIVE_PREFIX", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="e2e_settings",
        PYTHONPATH=os.pathsep.join([str(tmp), str(BASE_DIR)]),
        DATABASE_URL=db_url,
        REDIS_URL=settings.TEST_REDIS_URL,
        LIVE_PREFIX=prefix,
        SECRET_KEY=f"e2e-{uuid.uuid4().hex}",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_COOKIES="0",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    port = _free_port()
    process = None
    _admin_sql(admin_dsn, f'CREATE DATABASE "{dbname}"')
    try:
        python = sys.executable
        _run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env, timeout=120)
        # The server starts while the world is written (they need only the schema).
        seed = subprocess.Popen(
            [python, "-c", SEED, PASSWORD],
            env=env,
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        process = subprocess.Popen(
            [python, "manage.py", "serve", "--workers", "2", "--port", str(port)],
            env=env,
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the workers die with it
        )
        running = Stack(port, env, {}, process)
        threading.Thread(target=_pump, args=(process, running.output), daemon=True).start()
        seeded, errors = seed.communicate(timeout=120)
        assert seed.returncode == 0, f"seeding failed:\n{seeded}\n{errors}"
        running.world = json.loads(seeded.strip().splitlines()[-1])
        _wait_until_serving(running)
        yield running
    finally:
        if process is not None:
            _stop(process)
        try:
            _admin_sql(admin_dsn, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        finally:
            r = redis.Redis.from_url(settings.TEST_REDIS_URL)
            keys = list(r.scan_iter(f"{prefix}:*"))
            if keys:
                r.delete(*keys)


def _admin_sql(dsn: str, sql: str, patience: float = 30) -> None:
    """Run one statement on the maintenance database, waiting out a full connection table
    (other test runs on the same server may hold most of max_connections for a while)."""
    import psycopg

    deadline = time.monotonic() + patience
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql)
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _pump(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the server (it stops its workers), then SIGKILL whatever of its group is left."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group we started (workers included)


def _wait_until_serving(stack: Stack, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    ok = 0
    while time.monotonic() < deadline:
        assert stack.process.poll() is None, "serve exited:\n" + "\n".join(stack.output)
        try:
            with urllib.request.urlopen(stack.base + "/login/", timeout=2) as response:
                ok = ok + 1 if response.status == 200 else 0
        except OSError:
            ok = 0
        if ok >= 4 and len(stack.worker_pids()) == 2:
            return
        time.sleep(0.1)
    raise AssertionError("serve did not answer:\n" + "\n".join(stack.output))


# -- a browser: cookies, CSRF, pages ----------------------------------------------------------


class Browser:
    def __init__(self, stack: Stack, username: str) -> None:
        self.stack = stack
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        status, _, body = self.get("/login/")
        assert status == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
        status, _, body = self.request(
            "POST",
            "/login/",
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        assert status == 200 and "sessionid" in self.cookies(), f"login failed for {username}"

    def cookies(self) -> dict[str, str]:
        return {c.name: c.value for c in self.jar}

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies().items())

    def request(
        self, method: str, path: str, data: dict[str, str] | None = None, headers=None
    ) -> tuple[int, dict[str, str], str]:  # type: ignore[no-untyped-def]
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(
            self.stack.base + path, data=body, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(req, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path)

    def htmx_post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        headers = {"HX-Request": "true", "X-CSRFToken": self.cookies()["csrftoken"]}
        status, _, body = self.request("POST", path, data, headers)
        return status, body

    def resync(self, keys: list[str]) -> tuple[dict[str, int], dict[str, str]]:
        status, headers, body = self.get(
            "/live/?" + urllib.parse.urlencode([("k", k) for k in keys])
        )
        assert status == 200, (status, keys)
        seqs = json.loads(headers["X-Live-Seqs"])
        return seqs, split_fragments(body)


def split_fragments(body: str) -> dict[str, str]:
    """Out-of-band fragments by key (each is one top-level <div data-live=...>)."""
    found = {}
    starts = [
        m for m in re.finditer(r'<div id="[^"]+" class="live-fragment" data-live="([^"]+)"', body)
    ]
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(body)
        found[m.group(1)] = body[m.start() : end].strip()
    return found


def outer_element(html: str, start: int) -> str:
    """The whole element whose start tag begins at `start`."""
    tag = re.match(r"<([a-zA-Z0-9]+)", html[start:]).group(1)  # type: ignore[union-attr]
    depth = 0
    for m in re.compile(rf"<(/?){tag}\b[^>]*>").finditer(html, start):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return html[start : m.end()]
    raise ValueError(f"unclosed <{tag}>")


OOB = re.compile(r'<[a-zA-Z0-9]+ id="([^"]+)"[^>]*hx-swap-oob')


def apply_push(current: str, key: str, push: str) -> tuple[str, list[str]]:
    """What htmx makes of a push: each top-level out-of-band element replaces the element
    with its id (the whole fragment, or one card or day column of it). Returns the new HTML
    and the ids it found nothing to replace."""
    missed, pos = [], 0
    while m := OOB.search(push, pos):
        element = outer_element(push, m.start())
        pos = m.start() + len(element)
        if m.group(1) == "live-" + key.replace(":", "-"):
            current = element
            continue
        old = re.search(rf'<[a-zA-Z0-9]+ id="{re.escape(m.group(1))}"', current)
        if old is None:
            missed.append(m.group(1))
            continue
        before = outer_element(current, old.start())
        current = current[: old.start()] + element + current[old.start() + len(before) :]
    return current, missed


def normal(html: str) -> str:
    """For comparing a patched fragment with a fresh render: no swap markers, no layout."""
    return re.sub(r">\s+<", "><", re.sub(r' hx-swap-oob="[^"]*"', "", html)).strip()


def page_meta(body: str) -> tuple[list[str], str]:
    tag = re.search(r'<div id="live-meta"[^>]*>', body).group(0)
    keys = html_lib.unescape(re.search(r'data-live-keys="([^"]*)"', tag).group(1)).split()
    token = html_lib.unescape(re.search(r'data-live-token="([^"]*)"', tag).group(1))
    return keys, token


# -- a live client, by the browser client's rules ---------------------------------------------


class LiveClient:
    def __init__(self, name: str, browser: Browser, page: str) -> None:
        self.name = name
        self.browser = browser
        status, _, body = browser.get(page)
        assert status == 200, (name, page, status)
        self.keys, self.token = page_meta(body)
        self.state: dict[str, tuple[int, str]] = {}  # key -> (seq, html) as shown
        self.pushes: list[tuple[float, dict[str, Any]]] = []  # (arrival, message)
        self.toasts: list[str] = []
        self.missed: list[str] = []  # pushed pieces with nothing on the page to replace
        self.ws: Any = None
        self.ready_at: float | None = None
        self.drops: list[float] = []  # when the socket closed under us
        self.auto_reconnect = False  # reconnect on a drop, as the browser does
        self.task: asyncio.Task[None] | None = None
        self.reconnecting: asyncio.Task[None] | None = None
        self.arrived = asyncio.Condition()

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        stack = self.browser.stack
        url = f"ws://127.0.0.1:{stack.port}/ws/live/?t={urllib.parse.quote(self.token)}"
        self.ws = await connect(
            url,
            origin=stack.base,
            additional_headers={"Cookie": self.browser.cookie_header()},
            open_timeout=5,
            ping_interval=None,
        )
        ready = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        while ready["t"] == "p":  # others' presence can come before this socket's ready
            self.pushes.append((time.perf_counter(), ready))
            ready = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        assert ready["t"] == "ready", ready
        self.ready_at = time.perf_counter()
        await self.resync(self.keys)  # as the browser does on every ready
        self.task = asyncio.create_task(self._read())

    async def resync(self, keys: list[str]) -> None:
        seqs, found = await asyncio.to_thread(self.browser.resync, keys)
        for key in keys:
            seq = seqs[key]
            if seq >= self.state.get(key, (0, ""))[0]:
                self.state[key] = (seq, found[key])

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                message = json.loads(raw)
                now = time.perf_counter()
                self.pushes.append((now, message))
                if message["t"] == "f":
                    seen = self.state.get(message["k"], (0, ""))[0]
                    if message["s"] > seen:
                        shown = self.state.get(message["k"], (0, ""))[1]
                        html, missed = apply_push(shown, message["k"], message["h"])
                        self.missed += missed
                        self.state[message["k"]] = (message["s"], html)
                        if seen and message["s"] > seen + 1:
                            await self.resync([message["k"]])  # a message was lost
                elif message["t"] == "n":
                    self.toasts.append(message["text"])
                async with self.arrived:
                    self.arrived.notify_all()
        except ConnectionClosed:
            pass
        self.drops.append(time.perf_counter())
        if self.auto_reconnect:
            self.reconnecting = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """The browser's backoff: 500 ms doubling to 8 s, each halved plus jitter."""
        attempts = 0
        deadline = time.perf_counter() + 15
        while time.perf_counter() < deadline:
            attempts += 1
            delay = min(8.0, 0.5 * 2 ** (attempts - 1))
            await asyncio.sleep(delay / 2 + random.random() * delay / 2)
            try:
                await self.connect()
                return
            except Exception:  # refused, reset, timed out: try again later
                continue

    @property
    def live(self) -> bool:
        return self.ready_at is not None and (not self.drops or self.ready_at > self.drops[-1])

    async def wait_push(
        self, since: float, key: str, contains: str = "", lacks: str | None = None, timeout=5.0
    ) -> float:  # type: ignore[no-untyped-def]
        """Arrival time of the first push of `key` after `since` whose HTML contains `contains`
        and not `lacks`."""

        def match() -> float | None:
            for at, m in self.pushes:
                if at < since or m["t"] != "f" or m["k"] != key:
                    continue
                if contains in m["h"] and (lacks is None or lacks not in m["h"]):
                    return at
            return None

        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: match() is not None), timeout)
        found = match()
        assert found is not None
        return found

    def server_port_of_socket(self) -> int:
        return self.ws.local_address[1]

    async def close(self) -> None:
        self.auto_reconnect = False
        if self.reconnecting is not None:
            self.reconnecting.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


def worker_of(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """Which worker process holds the server end of a client's TCP connection (Linux /proc)."""
    inode = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if local.endswith(f":{server_port:04X}") and remote.endswith(f":{client_port:04X}"):
                inode = parts[9]
    if inode is None:
        return None
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
    return None


def run_on_own_loop(body: Any, *args: Any) -> list[str]:
    """Run an async test body on a fresh event loop in a thread of its own, so it does not
    depend on the main thread's loop (Playwright's sync API, which the browser tests use in
    this session, leaves one set there). Returns the lines the body reports."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["lines"] = asyncio.run(body(*args))
        except BaseException as error:  # handed to the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, name="e2e-test-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["lines"]


def report(capsys, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    with capsys.disabled():
        for line in lines:
            print(f"\n[e2e] {line}", flush=True)


# -- the tests ---------------------------------------------------------------------------------


def test_booking_reaches_coach_and_parent_not_a_stranger(stack, capsys):  # type: ignore[no-untyped-def]
    report(capsys, run_on_own_loop(_booking_reaches_coach_and_parent, stack))


def test_killed_worker_clients_reconnect_and_converge(stack, capsys):  # type: ignore[no-untyped-def]
    report(capsys, run_on_own_loop(_killed_worker_clients_reconnect_and_converge, stack))


async def _booking_reaches_coach_and_parent(stack: Stack) -> list[str]:
    lines: list[str] = []
    w = stack.world
    d3 = w["d3"]
    parent = await asyncio.to_thread(stack.browser, "parent")
    coach_b = await asyncio.to_thread(stack.browser, "coach")
    stranger_b = await asyncio.to_thread(stack.browser, "other_parent")
    coach = await asyncio.to_thread(LiveClient, "coach", coach_b, f"/coach/?date={d3}")
    family = await asyncio.to_thread(LiveClient, "parent", parent, "/parent/?tab=reservations")
    page = await asyncio.to_thread(
        LiveClient, "parent-page", parent, f"/parent/schedule/?date={d3}"
    )
    stranger = await asyncio.to_thread(
        LiveClient, "stranger", stranger_b, "/parent/?tab=reservations"
    )
    clients = [coach, family, page, stranger]
    coach_key = CoachDay(w["coach"], date.fromisoformat(d3)).key
    family_key = family.keys[0]
    assert coach.keys[0] == coach_key and family_key.startswith("reservations:family:")
    assert all(c.keys[-1].startswith("inbox:") for c in clients)  # every page: the badge
    assert stranger.keys[0].startswith("reservations:family:") and stranger.keys != family.keys
    try:
        for client in clients:
            await client.connect()
        latencies, post_times = [], []
        reservation_id = None
        for round_ in range(5):
            booking = round_ % 2 == 0
            t0 = time.perf_counter()
            if booking:
                status, body = await asyncio.to_thread(
                    parent.htmx_post,
                    "/reserve/",
                    {
                        "session": str(w["session"]),
                        "player": str(w["child"]),
                        "live": " ".join(page.keys),
                    },
                )
            else:
                status, body = await asyncio.to_thread(
                    parent.htmx_post,
                    "/cancel/",
                    {"reservation": str(reservation_id), "live": " ".join(page.keys)},
                )
            post_times.append(time.perf_counter() - t0)
            assert status == 200, body
            name = "Leo Quillfeather"
            if booking:
                at_coach = await coach.wait_push(t0, coach_key, name)
                at_family = await family.wait_push(t0, family_key, name)
                html = family.state[family_key][1]
                reservation_id = re.search(r'name="reservation" value="(\d+)"', html).group(1)
            else:
                at_coach = await coach.wait_push(t0, coach_key, lacks=name)
                at_family = await family.wait_push(t0, family_key, "No upcoming reservations.")
            latencies += [at_coach - t0, at_family - t0]
        # The stranger's page was not touched by any of it: no fragment, no toast.
        await asyncio.sleep(0.5)
        assert [m for _, m in stranger.pushes] == []
        # The coach was told of each booking and cancellation; the parent of nothing.
        assert sum("New booking: Leo" in t for t in coach.toasts) == 3
        assert sum("Cancelled: Leo" in t for t in coach.toasts) == 2
        assert family.toasts == [] and page.toasts == []
        lines.append(
            "commit-to-fragment (POST start -> push received): "
            f"median {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} pushes; "
            f"POST response median {statistics.median(post_times) * 1000:.1f} ms, "
            f"max {max(post_times) * 1000:.1f} ms",
        )
    finally:
        for client in clients:
            await client.close()
    return lines


async def _killed_worker_clients_reconnect_and_converge(stack: Stack) -> list[str]:
    lines: list[str] = []
    w = stack.world
    d3 = w["d3"]
    parent = await asyncio.to_thread(stack.browser, "parent")
    other = await asyncio.to_thread(stack.browser, "other_parent")
    coach_b = await asyncio.to_thread(stack.browser, "coach")
    staff_b = await asyncio.to_thread(stack.browser, "staff")
    pages = [
        (coach_b, f"/coach/?date={d3}"),
        (parent, "/parent/?tab=reservations"),
        (parent, f"/parent/schedule/?date={d3}"),
        (other, "/parent/?tab=reservations"),
        (staff_b, f"/staff/calendar/?date={d3}"),
        (staff_b, f"/staff/calendar/?view=day&date={d3}"),
    ]
    clients = []
    for n in range(3):
        for i, (browser, path) in enumerate(pages):
            clients.append(await asyncio.to_thread(LiveClient, f"c{n}.{i}", browser, path))
    try:
        await asyncio.gather(*(c.connect() for c in clients))
        pids = stack.worker_pids()
        assert len(pids) == 2, stack.output
        placement = {
            c.name: worker_of(c.server_port_of_socket(), stack.port, pids) for c in clients
        }
        counts = {pid: sum(1 for p in placement.values() if p == pid) for pid in pids}
        victim = max(pids, key=lambda pid: counts[pid])
        mapped = all(p is not None for p in placement.values())

        for client in clients:
            client.auto_reconnect = True
        t_kill = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        # Changes while the worker is down and being restarted.
        posts = [
            (parent, {"session": str(w["session"]), "player": str(w["child2"])}),
            (other, {"session": str(w["session"]), "player": str(w["other_child"])}),
            (parent, {"session": str(w["session"]), "player": str(w["child"])}),
        ]
        for browser, data in posts:
            status, body = await asyncio.to_thread(browser.htmx_post, "/reserve/", data)
            assert status in (200, 409), body  # 409: Leo may still be booked from before

        # Clients whose socket died reconnect on their own, like the browser (see _reconnect).
        on_victim = {name for name, pid in placement.items() if pid == victim}
        until = time.perf_counter() + 10
        while time.perf_counter() < until:
            dropped = [c for c in clients if c.drops]
            all_seen = not mapped or {c.name for c in dropped} >= on_victim
            settled = dropped or time.perf_counter() - t_kill > 1
            if all_seen and settled and all(c.live for c in dropped):
                break
            await asyncio.sleep(0.02)
        dropped = [c for c in clients if c.drops]
        assert dropped, "no client was on the killed worker"
        if mapped:
            assert {c.name for c in dropped} == on_victim
        assert all(c.live for c in dropped), [c.name for c in dropped if not c.live]
        back = max(c.ready_at for c in dropped) - t_kill  # type: ignore[operator]

        # Every client converges on the database: its fragments equal a fresh render.
        names = ["Leo Quillfeather", "Ada Thistlewood", "Kai Brambleworth"]

        async def converged() -> list[str]:
            """Clients whose shown fragments differ from a fresh render (one per page)."""
            pages = {(id(c.browser), tuple(c.keys)): c for c in clients}
            fresh = await asyncio.gather(
                *(asyncio.to_thread(c.browser.resync, c.keys) for c in pages.values())
            )
            renders = dict(zip(pages, (found for _, found in fresh), strict=True))
            wrong = []
            for client in clients:
                render = renders[(id(client.browser), tuple(client.keys))]
                for key in client.keys:
                    if normal(client.state.get(key, (0, ""))[1]) != normal(render[key]):
                        wrong.append(f"{client.name} {key}")
            return wrong

        until = time.perf_counter() + 5
        while (wrong := await converged()) and time.perf_counter() < until:
            await asyncio.sleep(0.2)
        assert wrong == [], "\n".join(stack.output[-40:])
        assert [c.missed for c in clients if c.missed] == []
        converged_after = time.perf_counter() - t_kill
        for client in clients:
            shown = " ".join(h for _, h in client.state.values())
            if client.keys[0].startswith("coachday:"):
                assert all(n in shown for n in names), client.name
            elif client.keys[0].startswith(("calendar:", "coachcal:")):  # names: on details
                assert not any(n in shown for n in names), client.name
            elif client.browser is other:
                assert "Kai Brambleworth" in shown and "Leo" not in shown, client.name
        # The server started a new worker for the killed one.
        assert any(f"worker {victim} exited" in line for line in stack.output), stack.output
        noticed = min(c.drops[0] for c in dropped) - t_kill
        ready = sorted(c.ready_at - t_kill for c in dropped)  # type: ignore[operator]
        lines.append(
            f"SIGKILLed worker {victim} holding {len(dropped)}/{len(clients)} sockets "
            f"(placement from /proc: {mapped}); drops seen {noticed * 1000:.0f} ms after the "
            f"kill; dropped clients ready again after {ready[0] * 1000:.0f}..{back * 1000:.0f} ms "
            f"(median {statistics.median(ready) * 1000:.0f} ms; first retry waits 250-500 ms "
            f"like the browser); goal < 2 s {'met' if back < 2 else 'MISSED'}; all "
            f"{len(clients)} clients equal a fresh render {converged_after * 1000:.0f} ms "
            f"after the kill",
        )
        # The 2 s goal is reported, not asserted: on a loaded machine it is not ours to keep.
        assert back < 10.0, f"reconnecting took {back:.2f} s"

        # The restarted worker serves too: new sockets (spread by the kernel) all get live.
        fresh_clients = []
        for n in range(6):
            fresh_clients.append(
                await asyncio.to_thread(LiveClient, f"new{n}", coach_b, f"/coach/?date={d3}")
            )
        clients += fresh_clients
        await asyncio.gather(*(c.connect() for c in fresh_clients))
        t0 = time.perf_counter()
        status, body = await asyncio.to_thread(
            staff_b.htmx_post,
            "/cancel/",
            {"reservation": _reservation_id(clients[0], "Ada Thistlewood")},
        )
        assert status == 200, body
        key = fresh_clients[0].keys[0]
        for client in [c for c in clients if c.keys[0] == key]:
            await client.wait_push(t0, key, "Kai Brambleworth", lacks="Ada Thistlewood")
            assert "Ada Thistlewood" not in client.state[key][1], client.name
    finally:
        for client in clients:
            await client.close()
    return lines


def _reservation_id(coach_client: LiveClient, name: str) -> str:
    html = coach_client.state[coach_client.keys[0]][1]
    m = re.search(r'value="(\d+)"\s+data-confirm="Cancel ' + re.escape(name), html)
    assert m, html
    return m.group(1)


def test_a_killed_workers_viewers_leave_presence_within_10_s(stack, capsys):  # type: ignore[no-untyped-def]
    report(capsys, run_on_own_loop(_killed_workers_viewers_leave_presence, stack))


def _present(client: LiveClient) -> set[str] | None:
    """Who the newest presence summary a client got names (None: none came yet)."""
    summaries = [m for _, m in client.pushes if m["t"] == "p"]
    if not summaries:
        return None
    return {p["name"] for p in max(summaries, key=lambda m: m["v"]).get("who", [])}


async def _killed_workers_viewers_leave_presence(stack: Stack) -> list[str]:
    """The parent's socket is on one worker, the front desk's on the other. The parent's worker
    is killed (its sockets never say goodbye): the desk stops seeing the parent within 10 s,
    when the dead worker's entry expires and the survivor sweeps it."""
    w = stack.world
    d3 = w["d3"]
    await asyncio.to_thread(_wait_until_serving, stack)  # both workers (one may be new)
    parent_b = await asyncio.to_thread(stack.browser, "parent")
    staff_b = await asyncio.to_thread(stack.browser, "staff")
    clients: list[LiveClient] = []
    try:
        parent = await asyncio.to_thread(
            LiveClient, "parent", parent_b, f"/parent/schedule/?date={d3}"
        )
        clients.append(parent)
        await parent.connect()
        pids = stack.worker_pids()
        doomed = worker_of(parent.server_port_of_socket(), stack.port, pids)
        assert doomed is not None
        # New connections spread over the workers as the kernel hands them out: connect desks
        # until one is on the other worker (the rest close at the end).
        desk = None
        for n in range(40):
            candidate = await asyncio.to_thread(
                LiveClient, f"desk{n}", staff_b, f"/staff/players/{w['child']}/book/?date={d3}"
            )
            clients.append(candidate)
            await candidate.connect()
            if worker_of(candidate.server_port_of_socket(), stack.port, pids) not in (
                None,
                doomed,
            ):
                desk = candidate
                break
            await asyncio.sleep(0.2)
        assert desk is not None, "forty desk sockets all landed on the parent's worker"
        deadline = time.perf_counter() + 5
        while "parent" not in (_present(desk) or set()) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        assert "parent" in (_present(desk) or set()), desk.pushes[-3:]

        t_kill = time.perf_counter()
        os.kill(doomed, signal.SIGKILL)
        while "parent" in (_present(desk) or set()) and time.perf_counter() - t_kill < 15:
            await asyncio.sleep(0.05)
        gone = time.perf_counter() - t_kill
        assert "parent" not in (_present(desk) or set())
        assert gone < 10, f"the dead worker's viewer stayed {gone:.1f} s"
        return [f"presence: a killed worker's viewer left the others' pages after {gone:.1f} s"]
    finally:
        for client in clients:
            await client.close()
