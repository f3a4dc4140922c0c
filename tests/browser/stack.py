"""Start a throwaway Courtside server for browser tests and screenshots.

SQLite file + in-memory layer (one worker) by default; with database/redis URLs, the real
stack with several workers. Every process it starts is stopped on exit.

Also here, for the fault tests: a Redis server of their own (`RedisServer`), a PostgreSQL
database of their own (`postgres_database`), and a TCP proxy that can cut every connection
through it (`TcpProxy`), because Chromium's offline mode leaves an open WebSocket alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

# Migrations, the demo data (unless demo=False) and an optional `module:function` of the caller's
# (whose result is written as JSON) in one Python process: Django's start-up is the slow part on
# a busy machine.
PREPARE = """
import json, os, sys, importlib
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
if os.environ["COURTSIDE_STACK_DEMO"] == "1":
    call_command("load_demo", stdout=open(os.devnull, "w"))
target = os.environ.get("COURTSIDE_STACK_SETUP")
if target:
    module, _, name = target.partition(":")
    result = getattr(importlib.import_module(module), name)()
    with open(os.environ["COURTSIDE_STACK_SETUP_OUT"], "w") as out:
        json.dump(result, out)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    setup: Any = None  # what running_stack(setup=...) returned, parsed from JSON
    port: int = 0

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def log(self) -> str:
        """What the server and its workers wrote so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The daphne worker processes `manage.py serve` runs now."""
        return sorted(_children(self.process.pid))

    def worker_connections(self) -> dict[int, int]:
        """Established TCP connections each worker holds on the server's port."""
        inodes = _established_inodes(self.port)
        counts = {}
        for pid in self.worker_pids():
            held = 0
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        link = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if link.startswith("socket:[") and link[8:-1] in inodes:
                            held += 1
            counts[pid] = held
        return counts

    def wait_for_workers(
        self, count: int, *, exclude: Collection[int] = (), timeout: float = 60.0
    ) -> None:
        """Until `serve` runs `count` workers again, none of them in `exclude` (the dead), and
        the server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = set(self.worker_pids())
            if len(pids) == count and not pids.intersection(exclude):
                wait_for(self.url + "/login/", timeout=max(1.0, deadline - time.monotonic()))
                return
            time.sleep(0.2)
        raise RuntimeError(f"workers did not come back: {self.worker_pids()}")

    @contextlib.contextmanager
    def only_worker(self, pid: int) -> Iterator[None]:
        """Freeze the other workers meanwhile: new connections are served by this one (frozen
        processes do not accept from the socket they share)."""
        others = [other for other in self.worker_pids() if other != pid]
        for other in others:
            os.kill(other, signal.SIGSTOP)
        try:
            yield
        finally:
            for other in others:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(other, signal.SIGCONT)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Read the server's database directly (tests check invariants with it)."""
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite"):
            import sqlite3

            path = urlparse(url).path
            with contextlib.closing(sqlite3.connect(path, timeout=20)) as db:
                return db.execute(query).fetchall()
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            return db.execute(query).fetchall()  # type: ignore[arg-type]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _established_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                if local_port == port and parts[3] == "01":  # 01: ESTABLISHED
                    inodes.add(parts[9])
    return inodes


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not come up")


@contextlib.contextmanager
def running_stack(
    *,
    database_url: str | None = None,
    redis_url: str = "",
    workers: int = 1,
    demo: bool = True,
    setup: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """demo: load the demo academy (the browser tests build their own instead). setup:
    "module:function" run after that, in the same process; its JSON-able result is
    Stack.setup. The server's output goes to Stack.log_path (never a full pipe)."""
    with tempfile.TemporaryDirectory(prefix="courtside-stack-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url or f"sqlite:///{tmp}/db.sqlite3",
            "REDIS_URL": redis_url,
            "SECRET_KEY": "courtside-browser-tests",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_COOKIES": "0",
            "DEBUG": "1",
            "LIVE_PREFIX": f"courtside-browser-{os.getpid()}-{port}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **(extra_env or {}),
        }
        env.pop("COURTSIDE_DEMO", None)
        setup_out = Path(tmp) / "setup.json"
        prepare = subprocess.run(
            [sys.executable, "-c", PREPARE],
            cwd=ROOT,
            env={
                **env,
                "COURTSIDE_STACK_DEMO": "1" if demo else "0",
                "COURTSIDE_STACK_SETUP": setup or "",
                "COURTSIDE_STACK_SETUP_OUT": str(setup_out),
            },
            capture_output=True,
            text=True,
        )
        if prepare.returncode:
            raise RuntimeError(f"preparing the stack failed:\n{prepare.stdout}\n{prepare.stderr}")
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(url + "/login/", timeout=120)
            result = json.loads(setup_out.read_text()) if setup else None
            yield Stack(url, env, process, log_path=log_path, setup=result, port=port)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


# -- a Redis server and a PostgreSQL database of the tests' own ---------------------------------


@dataclass
class RedisServer:
    """`redis-server` on a spare port, never the machine's shared one; stop() and start() again
    on the same port to play an outage."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited")
            time.sleep(0.1)
        raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A database of our own on this PostgreSQL server, dropped afterwards."""
    import psycopg

    parsed = urlparse(server_url)
    name = f"courtside_browser_{os.getpid()}_{free_port()}"
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield parsed._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


# -- a proxy that can pull the plug ----------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the server. cut() closes every connection through it and
    refuses new ones until restore(): what a browser sees when its network really goes away
    (Chromium's offline emulation fails new requests but leaves an open WebSocket alone)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.open = True
        self.closed = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                _shut(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 5)
                upstream.settimeout(None)
            except OSError:
                _shut(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                _shut(s)
                with self._lock:
                    self._sockets.discard(s)

    def cut(self) -> None:
        self.open = False
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            _shut(s)

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        _shut(self.listener)


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
