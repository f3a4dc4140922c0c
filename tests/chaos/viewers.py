"""The chaos run's WebSocket viewers (the `websockets` package), each one page of one user.

Like static/js/courtside.js: it opens the page over HTTP for its keys and signed token,
reconnects after a backoff (as tests/bench/clients.py: 0.5 s doubling, with jitter), and
resyncs over HTTP (GET /live/?k=...) after a reconnect that finds a stream moved, on a gap in a
stream's numbers, and when a heartbeat's pong shows the server ahead. It keeps every stream key
a fragment arrived for, for the access check at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import random
import re
import time
import urllib.request
from collections import Counter
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.bench.clients import BACKOFF_MAX, BACKOFF_MIN, NO_RETRY

META = re.compile(r'data-live-keys="([^"]*)" data-live-token="([^"]*)"')


class Viewer:
    def __init__(
        self, *, label: str, user_id: int, base: str, ws_port: int, session: str, path: str
    ) -> None:
        self.label, self.user_id, self.base, self.path = label, user_id, base, path
        self.ws_url = f"ws://127.0.0.1:{ws_port}/ws/live/"
        self.origin = base
        self.cookie = f"sessionid={session}"
        self.keys: list[str] = []
        self.token = ""
        self.epoch: str | None = None
        self.last: dict[str, int] = {}
        self.received: Counter[str] = Counter()  # fragments per stream key
        self.counts: Counter[str] = Counter()  # connects, reconnects, gaps, resyncs, ...
        self.ready_at = 0.0
        self.ready = asyncio.Event()
        self.ws: Any = None
        self.stopping = False
        self.pong: asyncio.Future[dict[str, Any]] | None = None

    def _get(self, path: str) -> tuple[int, dict[str, str], str]:
        request = urllib.request.Request(self.base + path, headers={"Cookie": self.cookie})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), ""

    async def open_page(self) -> None:
        status, _, body = await asyncio.to_thread(self._get, self.path)
        found = META.search(body)
        if status != 200 or not found:
            raise RuntimeError(f"{self.label}: {self.path} answered {status} with no live keys")
        self.keys = html.unescape(found.group(1)).split()
        self.token = html.unescape(found.group(2))

    async def run(self) -> None:
        attempts = 0
        while not self.stopping:
            try:
                async with connect(
                    f"{self.ws_url}?t={quote(self.token)}",
                    origin=self.origin,  # type: ignore[arg-type]
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=30,
                    ping_interval=None,
                    close_timeout=2,
                    max_size=None,
                    proxy=None,
                ) as ws:
                    self.ws = ws
                    self.counts["connects"] += 1
                    async for message in ws:
                        attempts = 0
                        await self._on(json.loads(message))
                    code = ws.close_code
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
            except (OSError, TimeoutError, Exception):  # refused, reset, handshake failed
                code = 1006
            self.ws = None
            self.ready.clear()
            if self.stopping:
                return
            self.counts[f"closed {code}"] += 1
            if code in NO_RETRY:
                return
            attempts += 1
            delay = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (attempts - 1))
            await asyncio.sleep(delay / 2 + random.random() * delay / 2)

    async def _on(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "ready":
            seqs = {k: int(v) for k, v in (message.get("seqs") or {}).items()}
            first = self.epoch is None
            if first or message.get("epoch") != self.epoch:
                self.epoch = message.get("epoch")
                behind = [] if first else list(self.keys)
                if first:
                    self.last = dict(seqs)
            else:
                behind = [k for k in self.keys if seqs.get(k, 0) > self.last.get(k, 0)]
            if not first:
                self.counts["reconnects"] += 1
            if behind:
                await self.resync(behind)
            self.ready_at = time.monotonic()
            self.ready.set()
        elif kind == "f":
            key, seq = message["k"], int(message["s"])
            self.received[key] += 1
            if seq <= self.last.get(key, 0):
                self.counts["duplicates dropped"] += 1
            elif seq > self.last.get(key, 0) + 1:
                self.counts["gaps"] += 1
                await self.resync([key])
            self.last[key] = max(self.last.get(key, 0), seq)
        elif kind == "pong":
            if self.pong is not None and not self.pong.done():
                self.pong.set_result(message)
        elif kind == "n":
            self.counts["toasts"] += 1

    async def resync(self, keys: list[str]) -> None:
        query = "&".join("k=" + quote(k) for k in keys)
        status, headers, _ = await asyncio.to_thread(self._get, f"/live/?{query}")
        self.counts["resyncs"] += 1
        if status != 200:
            self.counts[f"resync {status}"] += 1
            return
        seqs = json.loads(headers.get("X-Live-Seqs", "{}"))
        for key, seq in seqs.items():
            self.last[key] = max(self.last.get(key, 0), int(seq))

    async def heartbeat(self) -> dict[str, int] | None:
        """A ping; resync what the pong shows behind; the server's numbers (None: no socket)."""
        if self.ws is None:
            return None
        self.pong = asyncio.get_running_loop().create_future()
        try:
            await self.ws.send('{"t":"ping"}')
            pong = await asyncio.wait_for(self.pong, 5)
        except Exception:
            return None
        seqs = {k: int(v) for k, v in pong.get("seqs", {}).items()}
        behind = [k for k, s in seqs.items() if s > self.last.get(k, 0)]
        if behind:
            self.counts["behind at a heartbeat"] += 1
            await self.resync(behind)
        return seqs

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)
