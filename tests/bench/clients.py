"""The viewers: many WebSocket clients (the `websockets` package) in one asyncio process.

No Django here: each viewer has a session cookie and a signed stream token made by the
orchestrator. It reads commands as JSON lines on stdin and answers each with one JSON line on
stdout (see `Clients.handle`). Every received message is timestamped with time.time() as soon
as the client coroutine gets it, and kept (its head only) until collected.

Like static/js/courtside.js, a viewer whose socket closes reconnects after a backoff of 0.5 s
doubling to 8 s with jitter (delay/2 + random * delay/2), and after a "ready" that follows a
drop it resyncs with GET /live/?k=... (its cookie). Auth refusals (4401/4403) are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import re
import resource
import sys
import time
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

READY = re.compile(r'\{"t":\s*"ready"')
PRESENCE = re.compile(r'\{"t":"p","k":"([^"]*)","v":(\d+),"n":(\d+)')  # realtime.messages
NOTE = re.compile(r'\{"t":"n","text":"([^"]{0,60})')
SIDE = re.compile(r'\{"t":"[pnh]"')  # presence, toasts, holds: beside the pushes counted
HEAD = re.compile(r'"t":\s*"(\w+)"(?:,\s*"k":\s*"([^"]*)",\s*"s":\s*(\d+))?')
BACKOFF_MIN, BACKOFF_MAX = 0.5, 8.0
NO_RETRY = {4401, 4403}


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Http:
    """A minimal HTTP/1.1 keep-alive GET client. Like a browser tab it reuses idle connections
    and opens another when all are busy (fetches of several fragments run in parallel)."""

    def __init__(
        self, host: str, port: int, src: str, cookie: str, gate: asyncio.Semaphore
    ) -> None:
        self.host, self.port, self.src, self.cookie = host, port, src, cookie
        self.gate = gate
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.errors: list[str] = []

    async def get(self, path: str) -> tuple[int, int]:
        async with self.gate:
            return await self._get(path)

    async def _get(self, path: str) -> tuple[int, int]:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nCookie: {self.cookie}\r\n"
            "Accept: text/html\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        for attempt in range(2):
            conn = None
            try:
                if self.idle and not attempt:  # a retry never reuses an idle connection
                    conn = self.idle.pop()
                else:
                    conn = await asyncio.open_connection(
                        self.host, self.port, local_addr=(self.src, 0), limit=2**22
                    )
                reader, writer = conn
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        chunk = await reader.readexactly(size + 2)
                        if size == 0:
                            break
                        body += chunk[:-2]
                else:
                    body = await reader.read()
                    headers["connection"] = "close"
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                else:
                    self.idle.append(conn)
                return status, len(body)
            except (
                OSError,
                RuntimeError,
                ValueError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
            ) as exc:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn[1].close()
                if attempt:
                    self.errors.append(repr(exc)[:200])
                    return 0, 0
        return 0, 0

    def close(self) -> None:
        for _, writer in self.idle:
            with contextlib.suppress(Exception):
                writer.close()
        self.idle.clear()


class Viewer:
    def __init__(self, group: Group, spec: dict[str, Any]) -> None:
        self.group = group
        self.keys: list[str] = spec.get("keys", [])
        self.cookie: str = spec.get("cookie", "")
        self.token: str = spec.get("token", "")
        self.resume = ""  # as courtside.js: the last socket's resumption ticket, if any
        self.src: str = spec.get("src", "127.0.0.1")
        self.ws: Any = None
        self.stopping = False
        self.attempts = 0
        self.ready_once = asyncio.Event()
        self.failed_code: int | None = None
        self.is_ready = False
        self.msgs: list[tuple[float, str]] = []  # (time, head of the message)
        self.events: list[tuple[float, str, Any]] = []  # connection history, for reconnection
        self.fetches: list[tuple[str, int, float, float, int, int]] = []
        self.fstate: dict[str, list[int]] = {}  # key -> [wanted seq, fetched seq, in flight]
        self.epoch: str | None = None  # as courtside.js: the numbers' epoch and the last seen
        self.last: dict[str, int] = {}
        self.http: Http | None = None
        self.task: asyncio.Task[None] | None = None
        self.background: set[asyncio.Task[Any]] = set()

    def _http(self) -> Http:
        if self.http is None:
            g = self.group
            self.http = Http(g.host, g.port, self.src, self.cookie, g.http_gate)
        return self.http

    async def run(self) -> None:
        g = self.group
        page_url = g.url + (f"?t={quote(self.token)}" if self.token else "")
        first = True
        while not self.stopping:
            code = 1006
            url = page_url + (f"&r={quote(self.resume)}" if self.resume else "")
            try:
                if first:
                    async with g.gate:
                        await self._connect(url)
                else:
                    await self._connect(url)
                first = False
                assert self.ws is not None
                async for message in self.ws:
                    self._on_message(message)
                code = self.ws.close_code or 1006
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, reset, handshake timeout
                code = getattr(getattr(exc, "response", None), "status_code", None) or 1006
            first = False
            self.is_ready = False
            if self.stopping:
                break
            self.events.append((time.time(), "closed", code))
            if code in NO_RETRY:
                self.failed_code = code
                self.ready_once.set()  # so the opener stops waiting for this one
                return
            self.attempts += 1
            delay = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (self.attempts - 1))
            await asyncio.sleep(delay / 2 + random.random() * delay / 2)

    async def _connect(self, url: str) -> None:
        g = self.group
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self.ws = await connect(
            url,
            origin=g.origin,
            additional_headers=headers,
            compression=None,
            proxy=None,  # only ever 127.0.0.1, whatever the environment says
            open_timeout=300,  # browsers wait minutes for a handshake, not seconds
            ping_interval=None,
            close_timeout=2,
            max_size=None,
            max_queue=None,
            user_agent_header=None,
            local_addr=(self.src, 0),
        )
        if g.mode == "plain":  # the plain server sends no "ready": open is ready
            self._ready(time.time())
            return
        # Wait for "ready" here, so the opener's gate covers the whole handshake.
        first = await self.ws.recv()
        self._on_message(first)

    def _ready(self, t: float, message: str | None = None) -> None:
        reconnected = self.attempts > 0 or bool(self.events)
        self.attempts = 0
        self.is_ready = True
        self.events.append((t, "ready", None))
        self.ready_once.set()
        behind = self._behind(message)
        if self.group.resync == "always":
            self._spawn(self._resync(self.keys))
        elif self.group.resync == "reconnect" and reconnected:
            # As courtside.js does: fetch only the streams that moved while the socket was down
            # (all of them if the numbers' epoch changed); with none, it is already in sync.
            if behind:
                self._spawn(self._resync(behind))
            else:
                self.events.append((t, "resynced", "current"))

    def _behind(self, message: str | None) -> list[str]:
        """The streams whose number in a "ready" is above the last one this viewer saw. The
        first "ready" stands for the page's render: its numbers are the starting point."""
        if message is None:
            return []
        ready = json.loads(message)
        self.resume = ready.get("resume") or ""
        seqs = {k: int(v) for k, v in (ready.get("seqs") or {}).items()}
        if self.epoch is None or ready.get("epoch") != self.epoch:
            first = self.epoch is None
            self.epoch = ready.get("epoch")
            self.last = {k: seqs.get(k, 0) for k in self.keys}
            return [] if first else list(self.keys)
        return [k for k in self.keys if seqs.get(k, 0) > self.last.get(k, 0)]

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _resync(self, keys: list[str]) -> None:
        query = "&".join("k=" + quote(k) for k in keys)
        status, _size = await self._http().get(f"/live/?{query}")
        self.events.append((time.time(), "resynced", status))

    def _on_message(self, message: str | bytes) -> None:
        t = time.time()
        if isinstance(message, bytes):
            message = message.decode()
        if READY.match(message):
            self._ready(t, message)
            return
        if message.startswith('{"t": "resume"'):
            self.resume = json.loads(message).get("r") or ""
            return
        head = message[:160]
        self.msgs.append((t, head))
        if head.startswith('{"t":"f"'):
            m = HEAD.match(head, 1)
            if m and m.group(2) is not None:
                self.last[m.group(2)] = max(self.last.get(m.group(2), 0), int(m.group(3)))
        if self.group.mode == "notify" and message.startswith('{"t":"c"'):
            note = json.loads(message)
            self._notice(note["k"], note["s"])

    # -- notify-then-refetch --

    def _notice(self, key: str, seq: int) -> None:
        state = self.fstate.setdefault(key, [0, 0, 0])
        state[0] = max(state[0], seq)
        if not state[2]:
            state[2] = 1
            self._spawn(self._fetch_loop(key, state))

    async def _fetch_loop(self, key: str, state: list[int]) -> None:
        """One fetch in flight per fragment; notices meanwhile coalesce into one more fetch."""
        try:
            while state[0] > state[1]:
                seq = state[0]
                start = time.time()
                status, size = await self._http().get(f"/live/{quote(key)}/")
                self.fetches.append((key, seq, start, time.time(), status, size))
                state[1] = seq
        finally:
            state[2] = 0

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.http is not None:
            self.http.close()

    def report(self) -> dict[str, Any]:
        msgs, presence, notes, other = [], [], [], 0
        for t, head in self.msgs:
            m = HEAD.search(head)
            if m and m.group(2) is not None:
                msgs.append((round(t, 6), m.group(2), int(m.group(3))))
            elif p := PRESENCE.match(head):
                presence.append((round(t, 6), p.group(1), int(p.group(2)), int(p.group(3))))
            elif n := NOTE.match(head):
                notes.append((round(t, 6), n.group(1)))
            else:
                other += 1
        return {
            "keys": self.keys,
            "msgs": msgs,
            "presence": presence,  # (time, key, version, people)
            "notes": notes,  # (time, start of the text)
            "other": other,
            "fetches": self.fetches,
            "events": self.events,
            "ready": self.is_ready,
            "failed": self.failed_code,
            "http_errors": self.http.errors if self.http else [],
        }


class Group:
    def __init__(self, cmd: dict[str, Any]) -> None:
        self.mode: str = cmd["mode"]
        self.url: str = cmd["url"]
        self.host: str = cmd.get("host", "127.0.0.1")
        self.port: int = cmd.get("port", 0)
        self.origin: str = cmd.get("origin", f"http://{self.host}:{self.port}")
        self.resync: str = cmd.get("resync", "never")
        self.gate = asyncio.Semaphore(cmd.get("concurrency", 64))
        # Every concurrent Django request holds a database connection, and the PostgreSQL the
        # bench shares allows 100: the group's clients keep at most this many GETs in flight.
        self.http_gate = asyncio.Semaphore(cmd.get("http_concurrency", 32))
        self.viewers: list[Viewer] = []


class Clients:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}

    async def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        name = cmd.get("group", "")
        op = cmd["cmd"]
        if op == "open":
            return await self.open(cmd)
        if op == "mark":
            for group in self._groups(name):
                for v in group.viewers:
                    v.msgs.clear()
                    v.fetches.clear()
                    v.events.clear()
            return {"t": time.time()}
        if op == "status":
            viewers = [v for g in self._groups(name) for v in g.viewers]
            return {
                "viewers": len(viewers),
                "ready": sum(v.is_ready for v in viewers),
                "resynced": sum(any(e[1] == "resynced" for e in v.events) for v in viewers),
                "dropped": sum(any(e[1] == "closed" for e in v.events) for v in viewers),
            }
        if op == "count":
            viewers = [v for g in self._groups(name) for v in g.viewers]
            return {
                # Pushed fragments (and the other paths' messages), not presence or toasts.
                "msgs": sum(1 for v in viewers for _, h in v.msgs if not SIDE.match(h)),
                "notes": sum(1 for v in viewers for _, h in v.msgs if NOTE.match(h)),
                "fetches": sum(len(v.fetches) for v in viewers),
                "inflight": sum(1 for v in viewers for st in v.fstate.values() if st[2]),
            }
        if op == "collect":
            return {"viewers": [v.report() for g in self._groups(name) for v in g.viewers]}
        if op == "close":
            for group in self._groups(name):
                await asyncio.gather(*(v.stop() for v in group.viewers))
                self.groups.pop(next(k for k, g in self.groups.items() if g is group))
            gc.collect()
            return {"closed": True}
        if op == "ping":
            return {"t": time.time()}
        raise ValueError(f"unknown command {op}")

    def _groups(self, name: str) -> list[Group]:
        return [g for k, g in self.groups.items() if not name or k == name]

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.get(cmd["group"])
        if group is None:
            group = self.groups[cmd["group"]] = Group(cmd)
        start = time.time()
        new = [Viewer(group, spec) for spec in cmd["specs"]]
        group.viewers.extend(new)
        for v in new:
            v.task = asyncio.ensure_future(v.run())
        waits = [asyncio.ensure_future(v.ready_once.wait()) for v in new]
        pending: set[asyncio.Future[Any]] = set()
        if waits:  # a group smaller than the client processes leaves some with none
            _done, pending = await asyncio.wait(waits, timeout=cmd.get("timeout", 120))
        for w in pending:
            w.cancel()
        gc.collect()
        gc.freeze()  # the long-lived viewers leave the collector's generations
        codes: dict[str, int] = {}
        drops: dict[str, int] = {}
        for v in new:
            if v.failed_code is not None:
                codes[str(v.failed_code)] = codes.get(str(v.failed_code), 0) + 1
            for e in v.events:
                if e[1] == "closed":
                    drops[str(e[2])] = drops.get(str(e[2]), 0) + 1
        return {
            "opened": len(new),
            "ready": sum(v.is_ready for v in new),
            "refused": codes,
            "seconds": round(time.time() - start, 3),
            "retries": sum(1 for v in new for e in v.events if e[1] == "closed"),
            "close_codes": drops,
        }


async def main() -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    clients = Clients()
    out = sys.stdout
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        if cmd["cmd"] == "exit":
            break
        try:
            reply = await clients.handle(cmd)
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply, separators=(",", ":")) + "\n")
        out.flush()
    for group in list(clients.groups.values()):
        await asyncio.gather(*(v.stop() for v in group.viewers), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
