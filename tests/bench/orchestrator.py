"""The run: database, server, clients, the measurements in order, the report, the clean-up.

This process is also the trigger (changes through bookings.services; its publisher thread
renders and sends through Redis to the workers' hubs), so it sets Django up with the bench
settings on the fresh database it created."""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.bench import procs
from tests.bench.stats import (
    delivery,
    push_latency,
    ratio,
    refetch_latency,
    summary_ms,
    time_pages,
    timed,
)

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass
class Plan:
    name: str
    levels: list[int]  # viewers for the latency runs and the side-by-side comparison
    ramp: list[int]  # concurrent idle connections to try, in order
    changes: int  # changes at 1/s per latency run
    burst_rate: float
    burst_seconds: float
    burst_threads: int  # trigger threads in a burst (one booking takes tens of ms)
    notify_changes: int
    notify_changes_large: int  # above 100 viewers: every change costs a render per viewer
    notify_wait: float  # seconds the refetches get after the last change
    plain_broadcasts: int
    inject_rates: list[int]  # broadcasts/s offered in the delivery-capacity steps
    inject_seconds: float
    inject_level: int
    reconnect_viewers: int
    reconnect_small: int  # a first, small reconnection (the seeds' scale); 0: none
    race_procs: int
    race_threads: int
    race_seconds: float
    render_repeats: int
    ops_series: int = 20  # weekly series made in the ops phase (20 x 15 weeks: 300 sessions)
    ops_weeks: int = 15
    ops_repeats: int = 30  # cancellations timed per kind in the ops phase
    big_sessions: int = 1050  # group sessions in the big academy's week (render times)
    history_sessions: int = 2000  # a coach's year, for the dashboard's rows (10 attendees each)
    browser_pages: int = 30  # Chromium pages of the browser phase (tests/bench/browser.py)
    browser_clicks: int = 10
    wait_restart: bool = False  # after the reconnection test, wait for the new worker
    step_scale: float = 1.0  # how long this plan's steps take, against the full plan's
    # As README deploys it on 2 cores: 4 workers, so a dead one drops a quarter of the sockets
    # and three survivors share its pages.
    workers: int = 4
    client_procs: int = 1
    deadline: float = 660.0  # the whole run, seconds; then everything is killed
    # The ramp's step at which latency, the plain broadcast and a worker's kill are measured
    # with every open socket (0: at the last step held); later steps measure memory only.
    level_at: int = 0
    max_level_changes: int = 10
    phases: list[str] = field(default_factory=list)


FULL = Plan(
    name="full",
    levels=[100, 1000],
    ramp=[1000, 3000, 5000, 10000, 20000],
    level_at=5000,
    # 20,000 sockets: two client processes (each under the 20,000 open-file limit).
    client_procs=2,
    deadline=1200.0,
    changes=12,
    burst_rate=50,
    burst_seconds=2,
    burst_threads=4,
    notify_changes=4,
    notify_changes_large=2,
    notify_wait=15,
    plain_broadcasts=20,
    inject_rates=[25, 50, 100, 200],
    inject_seconds=2,
    inject_level=1000,
    reconnect_viewers=1000,
    reconnect_small=100,
    race_procs=4,
    race_threads=6,
    race_seconds=8,
    render_repeats=2,
)
SMOKE = Plan(
    name="smoke",
    levels=[8],
    ramp=[8],
    changes=3,
    burst_rate=10,
    burst_seconds=0.5,
    burst_threads=2,
    notify_changes=2,
    notify_changes_large=2,
    notify_wait=20,
    plain_broadcasts=3,
    inject_rates=[20],
    inject_seconds=0.5,
    inject_level=8,
    reconnect_viewers=8,
    reconnect_small=0,
    workers=2,
    race_procs=1,
    race_threads=3,
    race_seconds=1.5,
    render_repeats=1,
    ops_series=2,
    ops_weeks=3,
    ops_repeats=2,
    big_sessions=70,
    history_sessions=60,
    step_scale=0.1,
    max_level_changes=2,
    browser_pages=3,
    browser_clicks=2,
    deadline=150.0,
)
ALL_PHASES = [
    "levels",
    "collab",
    "saturation",
    "ramp",
    "reconnect",
    "race",
    "render",
    "ops",
    "browser",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def log(text: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


class ClientPool:
    """N client processes (tests.bench.clients) driven by JSON lines; specs split among them."""

    def __init__(self, n: int, env: dict[str, str], logfile: Path) -> None:
        self.procs = [
            procs.spawn(
                procs.python("tests.bench.clients"),
                env=env,
                log=logfile,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for _ in range(n)
        ]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _send(self, proc: subprocess.Popen[bytes], cmd: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(cmd, separators=(",", ":")) + "\n").encode())
        proc.stdin.flush()

    def _recv(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client process {proc.pid} died (see var/bench/clients.log)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"client process {proc.pid}: {reply['error']}")
        return reply

    def call(self, cmd: dict[str, Any]) -> list[dict[str, Any]]:
        for p in self.procs:
            self._send(p, cmd)
        return [self._recv(p) for p in self.procs]

    def open(self, group: str, specs: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        n = len(self.procs)
        for i, p in enumerate(self.procs):
            self._send(p, {"cmd": "open", "group": group, "specs": specs[i::n], **kw})
        replies = [self._recv(p) for p in self.procs]
        refused: dict[str, int] = defaultdict(int)
        codes: dict[str, int] = defaultdict(int)
        for r in replies:
            for code, count in r["refused"].items():
                refused[code] += count
            for code, count in r["close_codes"].items():
                codes[code] += count
        return {
            "opened": sum(r["opened"] for r in replies),
            "ready": sum(r["ready"] for r in replies),
            "refused": dict(refused),
            "retries": sum(r["retries"] for r in replies),
            "close_codes": dict(codes),
            "seconds": max(r["seconds"] for r in replies),
        }

    def total(self, cmd: str, group: str = "") -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for reply in self.call({"cmd": cmd, "group": group}):
            for k, v in reply.items():
                out[k] += v
        return dict(out)

    def collect(self, group: str) -> list[dict[str, Any]]:
        # The orchestrator is also the trigger: keep its heap small and out of the collector's
        # way, or its renders (in the publisher thread) slow down as the run goes on.
        gc.collect()
        return [v for r in self.call({"cmd": "collect", "group": group}) for v in r["viewers"]]

    def close(self, group: str) -> None:
        self.call({"cmd": "close", "group": group})

    def exit(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                self._send(p, {"cmd": "exit"})


class Bench:
    def __init__(self, plan: Plan, *, db_name: str, out: Path, docs: Path | None, command: str):
        self.plan = plan
        self.db_name = db_name
        self.out = out
        self.docs = docs
        self.command = command
        self.var = ROOT / "var" / "bench"
        self.var.mkdir(parents=True, exist_ok=True)
        for name in ("server.log", "clients.log", "plain.log", "race.log"):
            (self.var / name).unlink(missing_ok=True)  # this run's logs only
        self.port = free_port()
        self.plain_port = free_port()
        self.prefix = f"courtside-bench-{os.getpid()}"
        self.results: dict[str, Any] = {"plan": asdict(plan), "notes": []}
        self.db_created = False
        self.serve: subprocess.Popen[bytes] | None = None
        self.clients: ClientPool | None = None
        self.pg: procs.BackendSampler | None = None
        self.rss_baseline = 0

    # -- set-up ---------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.bench.settings",
            BENCH_DATABASE_URL=f"postgres://postgres@{HOST}:5432/{self.db_name}",
            REDIS_URL=os.environ.get("BENCH_REDIS_URL", f"redis://{HOST}:6379/0"),
            LIVE_PREFIX=self.prefix,
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
        env.pop("COURTSIDE_DEMO", None)
        env.pop("DEBUG", None)
        return env

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@{HOST}:5432/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{self.db_name}"')
        self.db_created = True
        self.pg = procs.BackendSampler(self.db_name)

    def drop_database(self) -> None:
        if not self.db_created:
            return
        import psycopg

        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        try:
            with psycopg.connect(
                f"postgresql://postgres@{HOST}:5432/postgres", autocommit=True
            ) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self.db_created = False
        except Exception as exc:
            log(f"could not drop database {self.db_name}: {exc}")

    def clean_redis(self) -> None:
        with contextlib.suppress(Exception):
            import redis

            r = redis.Redis.from_url(self.env["REDIS_URL"])
            for key in r.scan_iter(match=f"{self.prefix}*", count=1000):
                r.delete(key)

    def setup(self) -> None:
        self.env = self.environment()
        os.environ.update(self.env)
        procs.raise_fd_limit()
        self.create_database()
        import django

        django.setup()
        from django.core.management import call_command

        t0 = time.time()
        call_command("migrate", verbosity=0)
        self.results["setup"] = {"migrate_s": round(time.time() - t0, 1)}
        from tests.bench import data

        t0 = time.time()
        self.max_viewers = max([*self.plan.levels, *self.plan.ramp, self.plan.reconnect_viewers])
        self.world = data.build(
            viewers=self.max_viewers,
            big_sessions=self.plan.big_sessions,
            race_players=self.plan.race_procs * self.plan.race_threads * 8,
        )
        self.specs = data.viewer_specs(self.world, self.max_viewers)
        self.results["setup"]["data_s"] = round(time.time() - t0, 1)
        from tests.bench import history

        t0 = time.time()
        self.history = history.build(sessions=self.plan.history_sessions)
        self.results["setup"]["history_s"] = round(time.time() - t0, 1)
        self.results["data"] = {
            "day": self.world.day.isoformat(),
            "day_sessions": len(self.world.day_sessions),
            "viewer_mix": data.MIX,
            "big_sessions_in_week": self.world.big_sessions_in_week,
        }
        from realtime.store import get_store

        self.store = get_store()
        from tests.bench.trigger import Trigger

        self.trigger = Trigger(self.world)

    def start_server(self) -> None:
        args = [
            sys.executable,
            str(ROOT / "manage.py"),
            "serve",
            "--workers",
            str(self.plan.workers),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--app",
            "tests.bench.asgi:application",
        ]
        self.serve = procs.spawn(args, env=self.env, log=self.var / "server.log", cwd=ROOT)
        ok = procs.wait_for(
            lambda: len(procs.children_of(self.serve.pid)) == self.plan.workers and self._http_ok(),
            timeout=120,
            interval=0.25,
        )
        if not ok:
            raise RuntimeError("the server did not come up (see var/bench/server.log)")
        # Every worker answers: a few more requests than workers.
        for _ in range(4 * self.plan.workers):
            self._http_ok()
        self.workers = procs.children_of(self.serve.pid)
        self.plain = procs.spawn(
            procs.python("tests.bench.plain", str(self.plain_port)),
            env=self.env,
            log=self.var / "plain.log",
        )
        if not procs.wait_for(self._plain_ok, timeout=15):
            raise RuntimeError("the plain websockets server did not come up")
        self.clients = ClientPool(self.plan.client_procs, self.env, self.var / "clients.log")
        self.clients.call({"cmd": "ping"})

    def _http_ok(self, path: str = "/login/") -> bool:
        try:
            c = http.client.HTTPConnection(HOST, self.port, timeout=5)
            c.request("GET", path)
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    def _plain_ok(self) -> bool:
        try:
            socket.create_connection((HOST, self.plain_port), 1).close()
            return True
        except OSError:
            return False

    # -- helpers ---------------------------------------------------------------------------------

    def snap(self) -> dict[str, float]:
        import redis

        info = redis.Redis.from_url(self.env["REDIS_URL"]).info("cpu")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        assert self.clients is not None
        return {
            "t": time.time(),
            "server": procs.cpu_seconds(self.workers),
            "redis": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            "trigger": usage.ru_utime + usage.ru_stime,
            "clients": procs.cpu_seconds(self.clients.pids),
            "postgres": self.pg.total() if self.pg else 0.0,
            "machine": procs.system_busy_seconds(),
        }

    @staticmethod
    def cpu_delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: round(b[k] - a[k], 3) for k in a}

    def clear_watched(self) -> None:
        """Between phases, with no socket open: stale watched streams would make the trigger's
        publisher render for nobody."""
        self.store.redis.delete(self.store.WATCHED, self.store.PERSONAL)

    def ws_url(self, path: str) -> dict[str, Any]:
        return {
            "url": f"ws://{HOST}:{self.port}{path}",
            "host": HOST,
            "port": self.port,
            "origin": f"http://{HOST}:{self.port}",
        }

    def keys_of(self, specs: list[dict[str, Any]]) -> list[str]:
        return sorted({k for s in specs for k in s["keys"]})

    def expected_msgs(
        self, specs: list[dict[str, Any]], before: dict[str, int], after: dict[str, int]
    ) -> int:
        return sum(after.get(k, 0) - before.get(k, 0) for s in specs for k in s["keys"])

    def wait_delivered(self, group: str, expected: int, timeout: float, key: str = "msgs") -> bool:
        assert self.clients is not None
        deadline = time.time() + timeout
        while time.time() < deadline:
            counts = self.clients.total("count", group)
            if counts[key] >= expected and counts.get("inflight", 0) == 0:
                return True
            time.sleep(0.1)
        return False

    def open_group(  # type: ignore[no-untyped-def]
        self,
        group: str,
        mode: str,
        specs: list[dict[str, Any]],
        timeout: float = 300,
        plain_port: int | None = None,  # another plain server than the run's own
        **kw: Any,
    ):
        assert self.clients is not None
        paths = {
            "live": "/ws/live/",
            "textbook": "/ws/bench-textbook/",
            "notify": "/ws/bench-notify/",
        }
        if mode == "plain":
            port = plain_port or self.plain_port
            where = {"url": f"ws://{HOST}:{port}/", "host": HOST, "port": port}
            specs = [{"keys": ["plain"], "src": s["src"]} for s in specs]
        else:
            where = self.ws_url(paths[mode])
        # At most 8 handshakes at a time: more only queue on each worker's one database thread
        # (channels' database_sync_to_async) until daphne's 5 s handshake timeout drops them,
        # and the retries snowball (seen at 32 under load).
        opened = self.clients.open(
            group, specs, mode=mode, timeout=timeout, concurrency=8, **where, **kw
        )
        log(
            f"{group}: {opened['ready']}/{opened['opened']} ready in {opened['seconds']} s"
            + (f", refused {opened['refused']}" if opened["refused"] else "")
            + (f", drops/retries {opened['close_codes']}" if opened["close_codes"] else "")
        )
        return opened

    # -- Courtside (and textbook) push runs ------------------------------------------------------

    def push_run(
        self,
        group: str,
        specs: list[dict[str, Any]],
        *,
        count: int,
        rate: float,
        publisher: Any,
    ) -> dict[str, Any]:
        assert self.clients is not None
        keys = self.keys_of(specs)
        self.trigger.reset()
        self.clients.call({"cmd": "mark", "group": group})
        before = self.store.current_seqs(keys)
        s0 = self.snap()
        threads = 1 if rate <= 5 else self.plan.burst_threads
        run = self.trigger.run(count=count, rate=rate, threads=threads)
        publisher.wait_idle(60)
        after = self.store.current_seqs(keys)
        expected = self.expected_msgs(specs, before, after)
        settled = self.wait_delivered(group, expected, timeout=60)
        s1 = self.snap()
        viewers = self.clients.collect(group)
        lat = push_latency(self.trigger.events, viewers)
        deliv = delivery(viewers, before, after)
        times = [m[0] for v in viewers for m in v["msgs"]]
        commits = [c["commit"] for c in self.trigger.changes if "commit" in c]
        span = (max(times) - min(commits)) if times and commits else 0
        cpu = self.cpu_delta(s0, s1)
        n_changes = len(commits)
        messages = deliv["received"]
        return {
            "changes": n_changes,
            "refused_changes": len(self.trigger.refused),
            "rate": rate,
            "achieved_rate": round(run["achieved_rate"], 1),
            "stream_messages": sum(after.get(k, 0) - before.get(k, 0) for k in keys),
            "latency_ms": lat["all"],
            "latency_by_stream_ms": lat["by_stream"],
            "last_client_day_grid": lat["last_client_day_grid"],
            "unmatched": lat["missing"],
            "delivery": {**deliv, "settled": settled},
            "delivered_per_s": round(messages / span, 1) if span else None,
            "cpu_s": cpu,
            "server_cpu_ms_per_change": round(cpu["server"] * 1000 / n_changes, 1)
            if n_changes
            else None,
            "server_cpu_us_per_message": round(cpu["server"] * 1e6 / messages, 1)
            if messages
            else None,
        }

    def live_level(self, n: int, group: str = "live", opened: bool = False) -> dict[str, Any]:
        from tests.bench.trigger import use_publisher

        specs = self.specs[:n]
        self.trigger.watch(self.keys_of(specs))
        publisher = use_publisher("live")
        out: dict[str, Any] = {}
        if not opened:
            self.clear_watched()
            rss0 = procs.rss_bytes(self.workers)
            out["connect"] = self.open_group(group, "live", specs, resync="reconnect")
            out["server_rss_per_connection_kib"] = round(
                (procs.rss_bytes(self.workers) - rss0) / n / 1024, 1
            )
        changes = self.plan.changes if n <= 1000 else self.plan.max_level_changes
        log(f"courtside N={n}: {changes} changes at 1/s")
        out["1/s"] = self.push_run(group, specs, count=changes, rate=1.0, publisher=publisher)
        log(f"courtside N={n}: 1/s {self._brief(out['1/s'])}")
        count = int(self.plan.burst_rate * self.plan.burst_seconds)
        out["burst"] = self.push_run(
            group, specs, count=count, rate=self.plan.burst_rate, publisher=publisher
        )
        log(f"courtside N={n}: burst {self._brief(out['burst'])}")
        return out

    @staticmethod
    def _brief(run: dict[str, Any]) -> str:
        lat = run["latency_ms"]
        d = run["delivery"]
        return (
            f"p50 {lat.get('p50')} p99 {lat.get('p99')} max {lat.get('max')} ms; "
            f"{d['received']}/{d['expected']} msgs, missing {d['missing']}"
        )

    def textbook_level(self, n: int) -> dict[str, Any]:
        from tests.bench.trigger import use_publisher

        specs = self.specs[:n]
        keys = self.keys_of(specs)
        self.trigger.watch(keys)
        self.clear_watched()
        out: dict[str, Any] = {"connect": self.open_group("textbook", "textbook", specs)}
        publisher = use_publisher("textbook")
        self.store.watch(keys)  # textbook consumers do not use the hub; the trigger routes
        log(f"textbook N={n}")
        out["1/s"] = self.push_run(
            "textbook", specs, count=self.plan.changes, rate=1.0, publisher=publisher
        )
        log(f"textbook N={n}: 1/s {self._brief(out['1/s'])}")
        count = int(self.plan.burst_rate * self.plan.burst_seconds)
        self.store.watch(keys)  # a watched stream expires after a minute without a refresh
        out["burst"] = self.push_run(
            "textbook", specs, count=count, rate=self.plan.burst_rate, publisher=publisher
        )
        log(f"textbook N={n}: burst {self._brief(out['burst'])}")
        assert self.clients is not None
        self.clients.close("textbook")
        self.clear_watched()
        use_publisher("live")
        return out

    def notify_level(self, n: int) -> dict[str, Any]:
        from tests.bench.trigger import use_publisher

        assert self.clients is not None
        specs = self.specs[:n]
        keys = self.keys_of(specs)
        self.trigger.watch(keys)
        self.clear_watched()
        out: dict[str, Any] = {"connect": self.open_group("notify", "notify", specs)}
        publisher = use_publisher("notify")
        count = self.plan.notify_changes if n <= 100 else self.plan.notify_changes_large
        log(f"notify-then-refetch N={n}: {count} changes at 1/s")
        self.trigger.reset()
        self.clients.call({"cmd": "mark", "group": "notify"})
        before = self.store.current_seqs(keys)
        s0 = self.snap()
        self.trigger.run(count=count, rate=1.0)
        publisher.wait_idle(60)
        after = self.store.current_seqs(keys)
        notices = self.expected_msgs(specs, before, after)
        # Every client refetches: bounded, and what is not fetched by then counts as at least
        # this late (the summary then gives lower bounds).
        settled = self.wait_delivered("notify", notices, timeout=self.plan.notify_wait)
        s1 = self.snap()
        viewers = self.clients.collect("notify")
        lat = refetch_latency(self.trigger.events, viewers, censor_at=time.time())
        cpu = self.cpu_delta(s0, s1)
        changes = len(self.trigger.changes)
        out.update(
            {
                "changes": changes,
                "latency_ms": lat["all"],
                "unmatched": lat["missing"],
                "lower_bound": lat["missing"] > 0,
                "notices": {"expected": notices, **delivery(viewers, before, after)},
                "fetches": lat["fetches"],
                "failed_fetches": lat["failed_fetches"],
                "fetch_statuses": lat["statuses"],
                "fetch_errors": lat["client_errors"],
                "settled": settled,
                "cpu_s": cpu,
                "server_cpu_ms_per_change": round(cpu["server"] * 1000 / changes, 1)
                if changes
                else None,
            }
        )
        log(
            f"notify N={n}: p50 {lat['all'].get('p50')} p99 {lat['all'].get('p99')} ms, "
            f"{lat['fetches']} fetches ({lat['failed_fetches']} failed), unmatched {lat['missing']}"
        )
        self.clients.close("notify")
        procs.wait_settled(self.workers, timeout=15, quiet=0.1)  # refetches still running
        self.clear_watched()
        use_publisher("live")
        return out

    def plain_level(self, n: int, *, sustained: bool = False, burst: bool = True) -> dict[str, Any]:
        """The plain `websockets` broadcast to n viewers: spaced as the reference spaces them,
        then (with `burst`) a burst at the plan's burst rate (the burst rows' comparison), and
        with `sustained`, rising rates as in the saturation steps (the delivered messages/s
        row's)."""
        from websockets.sync.client import connect

        assert self.clients is not None
        rss0 = procs.rss_bytes([self.plain.pid])
        out: dict[str, Any] = {"connect": self.open_group("plain", "plain", self.specs[:n])}
        time.sleep(1)  # as the ramp waits before it reads the workers' memory
        ready = self.clients.total("status", "plain")["ready"]
        out["connect"]["rss_per_connection_kib"] = (
            round((procs.rss_bytes([self.plain.pid]) - rss0) / ready / 1024, 1) if ready else None
        )
        with connect(
            f"ws://{HOST}:{self.plain_port}/control", compression=None, proxy=None
        ) as control:
            out.update(self._plain_run(control, n, self.plan.plain_broadcasts, rate=2.0))
            log(f"plain N={n}: {self._brief(out)}")
            if burst:
                count = int(self.plan.burst_rate * self.plan.burst_seconds)
                out["burst"] = self._plain_run(control, n, count, rate=self.plan.burst_rate)
                log(f"plain N={n}: burst {self._brief(out['burst'])}")
            if sustained:
                out["saturation"] = self._plain_saturation(control, n)
        self.clients.close("plain")
        return out

    _plain_seq = 0

    def _plain_run(self, control: Any, n: int, count: int, *, rate: float) -> dict[str, Any]:
        """`count` broadcasts of a 1 kB fragment-shaped message at `rate` per second."""
        assert self.clients is not None
        self.clients.call({"cmd": "mark", "group": "plain"})
        s0 = self.snap()
        cpu0 = procs.cpu_seconds([self.plain.pid])
        events = []
        filler = "x" * 1000
        first = self._plain_seq
        payload = ""
        start = time.time()
        for i in range(count):
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            self._plain_seq += 1
            payload = json.dumps(
                {"t": "f", "k": "plain", "s": self._plain_seq, "h": filler}, separators=(",", ":")
            )
            events.append(("plain", self._plain_seq - 1, time.time()))
            control.send(payload)
        sent_s = time.time() - start
        settled = self.wait_delivered("plain", n * count, timeout=30)
        cpu = procs.cpu_seconds([self.plain.pid]) - cpu0
        s1 = self.snap()
        viewers = self.clients.collect("plain")
        lat = push_latency(events, viewers)
        deliv = delivery(viewers, {"plain": first}, {"plain": self._plain_seq})
        times = [m[0] for v in viewers for m in v["msgs"]]
        span = (max(times) - events[0][2]) if times and events else 0
        return {
            "broadcasts": count,
            "rate": rate,
            "achieved_rate": round(count / sent_s, 1) if sent_s else None,
            "payload_bytes": len(payload),
            "latency_ms": lat["all"],
            "last_client": lat["last_client_day_grid"],
            "delivery": {**deliv, "settled": settled},
            "delivered_per_s": round(deliv["received"] / span, 0) if span else None,
            "server_cpu_us_per_message": round(cpu * 1e6 / max(1, deliv["received"]), 1),
            "cpu_s": self.cpu_delta(s0, s1),
        }

    def _plain_saturation(self, control: Any, n: int) -> dict[str, Any]:
        """The saturation steps' rates, broadcast by the plain server to every viewer."""
        steps = []
        for rate in self.plan.inject_rates:
            count = max(1, int(rate * self.plan.inject_seconds))
            run = self._plain_run(control, n, count, rate=rate)
            steps.append(run)
            log(
                f"plain saturation {rate}/s x {n}: {run['delivery']['received']}/{n * count} "
                f"delivered, {run['delivered_per_s']} msg/s, p99 {run['latency_ms'].get('p99')} ms"
            )
            if not run["delivery"]["settled"] or (run["latency_ms"].get("p99") or 0) > 1000:
                break
        sustained = [
            s
            for s in steps
            if s["delivery"]["settled"] and (s["latency_ms"].get("p99") or 1e9) <= 1000
        ]
        best = max(sustained, key=lambda s: s["delivered_per_s"] or 0) if sustained else None
        return {
            "steps": steps,
            "sustained_messages_per_s": best["delivered_per_s"] if best else None,
        }

    def payload_sizes(self, keys: list[str]) -> dict[str, int]:
        from realtime import fragments, messages
        from tests.bench.stats import stream_class

        sizes: dict[str, list[int]] = defaultdict(list)
        for key in keys[:50]:
            f = fragments.resolve(key)
            if f is not None:
                sizes[stream_class(key)].append(len(messages.fragment(key, 1, f.render(oob=True))))
        return {k: int(statistics.mean(v)) for k, v in sizes.items()}

    # -- delivery capacity -------------------------------------------------------------------

    def saturation(self, group: str, n: int) -> dict[str, Any]:
        """Pre-rendered day-grid fragments sent to its group at rising rates: the fan-out's
        capacity without rendering (the trigger's render is not the limit being measured)."""
        from bookings.live.grids import DayGrid
        from tests.bench.trigger import Injector

        assert self.clients is not None
        specs = self.specs[:n]
        key = DayGrid(self.world.live_academy, self.world.day).key
        viewers_of_key = sum(1 for s in specs if key in s["keys"])
        injector = Injector(key)
        steps = []
        try:
            for rate in self.plan.inject_rates:
                self.clients.call({"cmd": "mark", "group": group})
                injector.sent.clear()
                s0 = self.snap()
                run = injector.run(rate=rate, seconds=self.plan.inject_seconds)
                expected = viewers_of_key * run["sent"]
                settled = self.wait_delivered(group, expected, timeout=30)
                s1 = self.snap()
                viewers = self.clients.collect(group)
                sent_at = dict(injector.sent)
                lat = [
                    t - sent_at[s]
                    for v in viewers
                    for t, k, s in v["msgs"]
                    if k == key and s in sent_at
                ]
                got = len(lat)
                last = max((t for v in viewers for t, k, _ in v["msgs"] if k == key), default=0)
                span = last - injector.sent[0][1] if got else 0
                cpu = self.cpu_delta(s0, s1)
                step = {
                    "offered_broadcasts_per_s": round(run["offered_rate"], 1),
                    "viewers": viewers_of_key,
                    "expected": expected,
                    "delivered": got,
                    "settled": settled,
                    "delivered_per_s": round(got / span, 0) if span else None,
                    "latency_ms": summary_ms(lat),
                    "server_cpu_us_per_message": round(cpu["server"] * 1e6 / got, 1)
                    if got
                    else None,
                    "client_cpu_us_per_message": round(cpu["clients"] * 1e6 / got, 1)
                    if got
                    else None,
                    "cpu_s": cpu,
                }
                steps.append(step)
                log(
                    f"saturation {rate}/s x {viewers_of_key}: {got}/{expected} delivered, "
                    f"{step['delivered_per_s']} msg/s, p99 {step['latency_ms'].get('p99')} ms"
                )
                if not settled or (step["latency_ms"].get("p99") or 0) > 1000:
                    break  # past saturation
        finally:
            injector.close()
        sustained = [
            s for s in steps if s["settled"] and (s["latency_ms"].get("p99") or 1e9) <= 1000
        ]
        best = max(sustained, key=lambda s: s["delivered_per_s"] or 0) if sustained else None
        return {
            "steps": steps,
            "sustained_messages_per_s": best["delivered_per_s"] if best else None,
        }

    # -- idle connections ---------------------------------------------------------------------

    def ramp(self, held: int) -> dict[str, Any]:
        """Idle live sockets added up to each target (the `held` ones already open count);
        memory per connection is the slope of the workers' RSS between levels."""
        assert self.clients is not None
        levels: list[dict[str, Any]] = []
        max_held = 0
        prev_rss = procs.rss_bytes(self.workers)
        prev_n = self.clients.total("status")["ready"]
        for target in self.plan.ramp:
            if target > len(self.specs) or not self.time_for(60):
                break
            opened = None
            if target > held:
                # A slow host connects slowly: a step ends with the time limit, not after it.
                left = self.started + self.plan.deadline - 90 * self.plan.step_scale - time.time()
                opened = self.open_group(
                    "idle",
                    "live",
                    self.specs[held:target],
                    timeout=max(30.0, left),
                    resync="reconnect",
                )
                time.sleep(2)
            status = self.clients.total("status")
            rss = procs.rss_bytes(self.workers)
            level = {
                "target": target,
                "ready": status["ready"],
                "connect_s": opened["seconds"] if opened else None,
                "connects_per_s": round(opened["opened"] / opened["seconds"], 1)
                if opened and opened["seconds"]
                else None,
                "drops_while_connecting": opened["close_codes"] if opened else {},
                "server_rss_mib": round(rss / 2**20, 1),
                "server_rss_per_connection_kib": round(
                    (rss - prev_rss) / (status["ready"] - prev_n) / 1024, 1
                )
                if status["ready"] > prev_n
                else None,
                # Against the workers just after start-up (includes what earlier steps left).
                "server_rss_per_connection_vs_start_kib": round(
                    (rss - self.rss_baseline) / status["ready"] / 1024, 1
                )
                if status["ready"]
                else None,
                "per_worker": list(procs.connections_per_pid(self.workers, self.port).values()),
            }
            levels.append(level)
            log(
                f"idle: {status['ready']}/{target} held, "
                f"{level['server_rss_per_connection_kib']} KiB per added connection"
            )
            if status["ready"] < target:
                break
            held = max_held = target
            prev_rss, prev_n = rss, status["ready"]
            if target == self.plan.level_at:
                self.max_level(target, close=False)
                # What that step left (a kill's reconnections) is not the next step's slope.
                prev_rss, prev_n = (
                    procs.rss_bytes(self.workers),
                    self.clients.total("status")["ready"],
                )
        return {
            "levels": levels,
            "max_held": max_held,
            "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        }

    # -- reconnection --------------------------------------------------------------------------

    def reconnect(
        self, open_group: str | None, viewers: int = 0, wait_restart: bool = False
    ) -> dict[str, Any]:
        """SIGKILL the worker holding most sockets; every client reconnects with the browser's
        backoff and resyncs over HTTP. `open_group`: live viewers already connected, if any;
        else `viewers` (default: the plan's) are connected for it."""
        assert self.clients is not None and self.serve is not None
        n = viewers or self.plan.reconnect_viewers
        group = "reconnect" if open_group is None else open_group  # "": every open socket
        if open_group is None:
            self.clear_watched()
            self.open_group(group, "live", self.specs[:n], resync="reconnect")
        n = self.clients.total("status", group)["viewers"]
        per_worker = procs.connections_per_pid(self.workers, self.port)
        victim = max(per_worker, key=lambda p: per_worker[p])
        self.clients.call({"cmd": "mark", "group": group})
        survivors = [p for p in self.workers if p != victim]
        cpu0 = procs.cpu_seconds(survivors)
        with procs.profiled(survivors, f"reconnect-{n}"):
            t_kill = time.time()
            os.kill(victim, signal.SIGKILL)
            log(
                f"reconnect: killed worker {victim}, the one with most connections "
                f"({per_worker[victim]} established, WebSockets and HTTP keep-alives) of "
                f"{n} viewers"
            )
            # A booking while the sockets are down: its push reaches only the survivors'
            # sockets, so the dropped pages that show it must notice (their "ready" says the
            # stream moved) and fetch it; pages whose streams did not move are in sync as soon
            # as they are live.
            outage_change = self.trigger.change()
            # Until everyone is back, or the run's time is up (the reconnection test runs last).
            deadline = min(
                t_kill + 60, self.started + self.plan.deadline - 25 * self.plan.step_scale
            )
            status: dict[str, int] = {}
            while time.time() < deadline:
                status = self.clients.total("status", group)
                if (
                    status["dropped"]
                    and status["ready"] == n
                    and status["resynced"] >= status["dropped"]
                ):
                    break
                time.sleep(0.05)
            done = time.time()
            survivor_cpu = procs.cpu_seconds(survivors) - cpu0
        self.workers = survivors
        viewers = self.clients.collect(group)
        ready, resynced, attempts = [], [], []
        fetched = 0
        for v in viewers:
            closed = [e for e in v["events"] if e[1] == "closed"]
            if not closed:
                continue
            attempts.append(len(closed))
            r = [e[0] for e in v["events"] if e[1] == "ready"]
            s = [e[0] for e in v["events"] if e[1] == "resynced"]
            if r:
                ready.append(max(r) - t_kill)
            if s:
                resynced.append(max(s) - t_kill)
            fetched += any(e[1] == "resynced" and e[2] != "current" for e in v["events"])
        result = {
            "viewers": n,
            "per_worker_before": {str(k): v for k, v in per_worker.items()},
            "dropped": status.get("dropped"),
            "live_again": len(ready),
            "resynced": len(resynced),
            "resynced_by_fetch": fetched,
            "change_during_outage": outage_change.get("what"),
            "all_back": status.get("ready") == n and len(resynced) == status.get("dropped"),
            "ready_s": summary_ms(ready),
            "resynced_s": summary_ms(resynced),
            "all_resynced_after_s": round(max(resynced), 3) if resynced else None,
            "within_1s": sum(1 for x in resynced if x <= 1.0),
            "connect_attempts": {
                "mean": round(statistics.mean(attempts), 2) if attempts else None,
                "max": max(attempts) if attempts else None,
            },
            "waited_s": round(done - t_kill, 2),
            "surviving_workers_cpu_s": round(survivor_cpu, 3),
        }
        log(
            f"reconnect: {result['resynced']}/{result['dropped']} resynced, last after "
            f"{result['all_resynced_after_s']} s"
        )
        if open_group is None:
            self.clients.close(group)
        if self.time_for(30):
            result["plain"] = self.plain_reconnect(n)
        # serve restarts the dead worker; wait for it before going on (the smoke plan goes on).
        procs.wait_for(
            lambda: len(procs.children_of(self.serve.pid)) == self.plan.workers, timeout=10
        )
        if self.plan.wait_restart or wait_restart:
            procs.wait_for(
                lambda: (
                    len(procs.children_of(self.serve.pid)) == self.plan.workers and self._http_ok()
                ),
                timeout=40,
                interval=0.25,
            )
            new = [p for p in procs.children_of(self.serve.pid) if p not in self.workers]
            procs.wait_settled(new, timeout=30)  # its start-up CPU stays out of what follows
        self.workers = procs.children_of(self.serve.pid)
        return result

    def plain_reconnect(self, n: int) -> dict[str, Any]:
        """The reconnection's floor: n plain viewers spread over as many plain `websockets`
        servers as the product has workers (one port, SO_REUSEPORT), the one holding most
        SIGKILLed, its viewers back on the others with the same backoff. Nothing to resync."""
        assert self.clients is not None
        port = free_port()
        servers = [
            procs.spawn(
                procs.python("tests.bench.plain", str(port), "--reuse-port"),
                env=self.env,
                log=self.var / "plain.log",
                stdout=subprocess.PIPE,
            )
            for _ in range(self.plan.workers)
        ]
        try:
            for server in servers:
                assert server.stdout is not None
                if server.stdout.readline().strip() != b"ready":
                    raise RuntimeError("a plain server did not come up (see var/bench/plain.log)")
            self.open_group("plainrc", "plain", self.specs[:n], plain_port=port)
            pids = [s.pid for s in servers]
            per_pid = procs.connections_per_pid(pids, port)
            victim = max(per_pid, key=lambda p: per_pid[p])
            self.clients.call({"cmd": "mark", "group": "plainrc"})
            t_kill = time.time()
            os.kill(victim, signal.SIGKILL)
            procs.wait_for(
                lambda: (
                    (st := self.clients.total("status", "plainrc"))["dropped"] > 0
                    and st["ready"] == n
                ),
                timeout=60,
                interval=0.05,
            )
            back = []
            for v in self.clients.collect("plainrc"):
                if any(e[1] == "closed" for e in v["events"]):
                    ready = [e[0] for e in v["events"] if e[1] == "ready"]
                    back.append(max(ready) - t_kill if ready else None)
            self.clients.close("plainrc")
        finally:
            for server in servers:
                procs.stop(server, timeout=5)
        done = [b for b in back if b is not None]
        result = {
            "viewers": n,
            "dropped": len(back),
            "all_back": len(done) == len(back),
            "all_back_after_s": round(max(done), 3) if done else None,
            "within_1s": sum(1 for b in done if b <= 1.0),
        }
        last = max(done, default=0.0)
        log(f"plain reconnect: {len(done)}/{len(back)} back, last after {last:.3f} s")
        return result

    # -- contended reservations ---------------------------------------------------------------

    def spawn_racers(self, mode: str) -> None:
        """They import Django, load, connect, print "ready" and wait for race()'s start signal.
        `mode`: "service" (bookings.services) or "bare" (the same rows in plain SQL)."""
        plan = self.plan
        players = self.world.race_players
        per_thread = 8
        chunks = [
            [list(p) for p in players[i * per_thread : (i + 1) * per_thread]]
            for i in range(plan.race_procs * plan.race_threads)
        ]
        racers = []
        for i in range(plan.race_procs):
            params = self.var / f"race-{i}.json"
            params.write_text(
                json.dumps(
                    {
                        "players": chunks[i * plan.race_threads : (i + 1) * plan.race_threads],
                        "sessions": self.world.race_sessions,
                        "mode": mode,
                    }
                )
            )
            racers.append(
                procs.spawn(
                    procs.python("tests.bench.contend", str(params)),
                    env=self.env,
                    log=self.var / "race.log",
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            )
        self.racers = racers

    def race(self) -> dict[str, Any]:
        """The contended race through bookings.services, then its floor: the same race in
        plain SQL (contend.bare_attempts) from the same empty sessions, on the same machine."""
        result = self._race("service")
        if self.time_for(25):
            self.empty_race_sessions()
            result["plain"] = self._race("bare")
        return result

    def empty_race_sessions(self) -> None:
        """Every race reservation cancelled and the counters at 0, as the first race began."""
        from bookings.models import SessionReservation
        from scheduling.models import GroupSession

        sessions = self.world.race_sessions
        SessionReservation.objects.filter(session_id__in=sessions).update(status="cancelled")
        GroupSession.objects.filter(pk__in=sessions).update(reserved_count=0)

    def _race(self, mode: str) -> dict[str, Any]:
        plan = self.plan
        self.spawn_racers(mode)
        racers = self.racers
        for p in racers:  # every thread connected and loaded
            assert p.stdout is not None
            if p.stdout.readline().strip() != b"ready":
                raise RuntimeError("a race process failed (see var/bench/race.log)")
        start = time.time() + 0.2
        end = start + plan.race_seconds
        for p in racers:
            assert p.stdin is not None
            p.stdin.write(f"{start} {end}\n".encode())
            p.stdin.flush()
        pg0 = self.pg.total() if self.pg else 0.0
        outputs = []
        for p in racers:
            assert p.stdout is not None
            line = p.stdout.readline()
            p.wait(30)
            outputs.extend(json.loads(line.decode()))
        pg = (self.pg.total() if self.pg else 0.0) - pg0
        per_second: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        refusals: dict[str, int] = defaultdict(int)
        latencies: list[float] = []
        for thread in outputs:
            for sec, counts in thread["per_second"].items():
                for k, v in counts.items():
                    per_second[int(sec)][k] += v
            for code, v in thread["refusals"].items():
                refusals[code] += v
            latencies.extend(thread["latencies"])
        full = [per_second[s] for s in sorted(per_second) if s < int(plan.race_seconds)]
        totals = {
            k: sum(c.get(k, 0) for c in full)
            for k in ("attempts", "successes", "refusals", "errors", "reserve_ok", "cancel_ok")
        }
        secs = max(1, len(full))
        check = self.overbooking_check()
        result = {
            "clients": plan.race_procs * plan.race_threads,
            "processes": plan.race_procs,
            "sessions": len(self.world.race_sessions),
            "spots": 3 * len(self.world.race_sessions),
            "seconds": secs,
            "per_second": [dict(c) for c in full],
            "attempts_per_s": round(totals["attempts"] / secs, 1),
            "successes_per_s": round(totals["successes"] / secs, 1),
            "reserves_per_s": round(totals["reserve_ok"] / secs, 1),
            "cancels_per_s": round(totals["cancel_ok"] / secs, 1),
            "refusals_per_s": round(totals["refusals"] / secs, 1),
            "errors": totals["errors"],
            "refusals": dict(refusals),
            "operation_ms": summary_ms(latencies),
            "postgres_cpu_s": round(pg, 2),
            "check": check,
        }
        log(
            f"race ({mode}): {result['attempts_per_s']} attempts/s, "
            f"{result['successes_per_s']} ok/s, "
            f"{result['refusals_per_s']} refused/s, errors {totals['errors']}; "
            f"overbooked {check['overbooked']}, count mismatches {check['count_mismatch']}"
        )
        return result

    def overbooking_check(self) -> dict[str, Any]:
        from django.db.models import Count, Q

        from scheduling.models import GroupSession

        rows = GroupSession.objects.annotate(
            active=Count("reservations", filter=Q(reservations__status="reserved"))
        ).values_list("pk", "capacity", "reserved_count", "active")
        overbooked = [r for r in rows if r[3] > r[1] or r[2] > r[1]]
        mismatch = [r for r in rows if r[2] != r[3]]
        return {
            "sessions_checked": len(rows),
            "overbooked": len(overbooked),
            "count_mismatch": len(mismatch),
            "ok": not overbooked and not mismatch,
        }

    # -- rendering -----------------------------------------------------------------------------

    def render(self) -> dict[str, Any]:
        from bookings.live.calendars import CoachCalendar, StaffCalendar
        from bookings.live.grids import DayGrid
        from realtime import fragments
        from tests.bench import data

        w = self.world
        mon = w.monday.isoformat()
        reps = self.plan.render_repeats
        out: dict[str, Any] = {"sessions_in_week": w.big_sessions_in_week, "fragments": {}}
        keys = {
            "staff week (big academy)": StaffCalendar(w.big_academy, w.monday, 7).key,
            "coach week (big academy)": CoachCalendar(
                w.big_coach[0], w.big_academy, w.monday, 7
            ).key,
            "day grid (live academy)": DayGrid(w.live_academy, w.day).key,
            "staff week (live academy)": StaffCalendar(w.live_academy, w.monday, 7).key,
        }
        for label, key in keys.items():
            times = []
            size = 0
            for i in range(reps + 1):
                t0 = time.perf_counter()
                fragment = fragments.resolve(key)
                assert fragment is not None, key
                html = fragment.render(oob=True)
                if i:  # the first render warms caches
                    times.append(time.perf_counter() - t0)
                size = len(html)
            out["fragments"][label] = {"key": key, "bytes": size, **self._med(times)}
            log(f"render {label}: median {out['fragments'][label]['median_ms']} ms, {size} bytes")
        out["push"] = self._calendar_push(keys["staff week (big academy)"], reps)
        cookies = data.session_cookies(
            [w.big_staff_user, w.big_coach[1]], extra={"academy_id": w.big_academy}
        )
        pages = {
            "staff calendar week page (big academy)": (f"/staff/calendar/?date={mon}", cookies[0]),
            "coach calendar week page (big academy)": (f"/coach/schedule/?date={mon}", cookies[1]),
        }
        out["http"] = time_pages(HOST, self.port, pages, reps)
        for label, page in out["http"].items():
            median, size = page["median_ms"], page["bytes"]
            log(f"http {label}: {page['status']}, median {median} ms, {size} bytes")
        from tests.bench import history

        out["dashboard"] = dash = history.measure(self.history, self.port, reps)
        for label, push in dash["push"].items():
            log(f"push of a {label}: median {push['cpu_ms']['median_ms']} ms of server CPU")
        log(f"burst: {dash['burst']}")
        return out

    def _calendar_push(self, key: str, reps: int) -> dict[str, Any]:
        """What one change costs the big staff week: the render of its push and its size, for a
        booking (occupancy of one session) and for a session added or moved on one day."""
        from bookings.live.changes import Change
        from realtime import fragments
        from scheduling.models import GroupSession

        w = self.world
        session = GroupSession.objects.filter(academy_id=w.big_academy).order_by("pk").first()
        assert session is not None
        day = session.starts_at.astimezone(session.academy.tz).date()
        changes = {
            "a booking (one session's occupancy)": Change(
                w.big_academy,
                days={day},
                session_ids={session.pk},
                occupancy_only=True,
                group_sessions=True,
            ),
            "a session added or moved (one day)": Change(
                w.big_academy, days={day}, group_sessions=True
            ),
        }
        out: dict[str, Any] = {}
        for label, change in changes.items():
            times, size = [], 0
            for i in range(reps + 1):
                t0 = time.perf_counter()
                fragment = fragments.resolve(key)
                assert fragment is not None, key
                html = fragment.render_change(change)
                if i:
                    times.append(time.perf_counter() - t0)
                size = len(html)
            out[label] = {"key": key, "bytes": size, **self._med(times)}
            log(f"push {label}: median {out[label]['median_ms']} ms, {size} bytes")
        return out

    def ops(self, group: str, viewers: int) -> dict[str, Any]:
        """Running the academy: a term's series pushed to the open pages, and promotion's cost
        on the cancel path (tests/bench/ops.py)."""
        from tests.bench import ops

        out = {
            "series": ops.series_push(
                self, group, viewers, self.plan.ops_series, self.plan.ops_weeks
            )
        }
        s = out["series"]
        log(
            f"ops: {s['series']} series, {s['sessions']} sessions: create median "
            f"{s['create_ms'].get('median_ms')} ms; push p50 {s['latency_ms'].get('p50')} p99 "
            f"{s['latency_ms'].get('p99')} ms to {viewers} viewers; "
            f"{s['delivery']['received']}/{s['delivery']['expected']} msgs"
        )
        out["cancel"] = ops.promotion_cost(self, self.plan.ops_repeats)
        c = out["cancel"]
        log(
            f"ops: cancel median {c['no_waiting_list'].get('median_ms')} ms without a waiting "
            f"list, {c['promotes'].get('median_ms')} ms promoting"
        )
        return out

    @staticmethod
    def _med(times: list[float]) -> dict[str, Any]:
        return timed(times)

    # -- collaboration: presence and announcements ------------------------------------------

    def collab(self, n: int) -> dict[str, Any]:
        """With the level's n viewers open: one more viewer joins the day grid and leaves (how
        soon every viewer of that grid is told), and the front desk sends an announcement to
        the whole academy (how soon every viewer's page shows the toast)."""
        from bookings.live.grids import DayGrid
        from realtime.tokens import sign_streams
        from tests.bench import data

        assert self.clients is not None
        w = self.world
        key = DayGrid(w.live_academy, w.day).key
        specs = self.specs[:n]
        watchers = sum(1 for s in specs if s["keys"] and s["keys"][0] == key)
        out: dict[str, Any] = {"viewers": n, "viewers_of_the_day_grid": watchers}

        # Presence: the probe is one of the front desk (names: the biggest summary).
        desk = w.staff_users[0]
        probe = {
            "keys": [key],
            "cookie": data.session_cookies([desk])[0],
            "token": sign_streams(desk, [key]),
            "src": "127.0.0.250",
        }
        time.sleep(1.0)  # the level's own joins have been summarized
        self.clients.call({"cmd": "mark", "group": "live"})
        t_join = time.time()
        self.open_group("probe", "live", [probe])
        time.sleep(1.5)
        t_leave = time.time()
        self.clients.close("probe")
        time.sleep(1.5)
        viewers = self.clients.collect("live")
        mine = [v for v in viewers if v["keys"] and v["keys"][0] == key]

        def told(after: float, until: float) -> list[float]:
            return [
                min(t for t, k, _v, _n in v["presence"] if k == key and after < t <= until) - after
                for v in mine
                if any(k == key and after < t <= until for t, k, _v, _n in v["presence"])
            ]

        joins, leaves = told(t_join, t_leave), told(t_leave, time.time())
        out["presence"] = {
            "join_ms": summary_ms(joins),
            "leave_ms": summary_ms(leaves),
            "told_of_join": len(joins),
            "told_of_leave": len(leaves),
        }
        log(
            f"presence N={n}: {watchers} viewers of the day grid; join p50 "
            f"{out['presence']['join_ms'].get('p50')} p99 {out['presence']['join_ms'].get('p99')}"
            f" ms ({len(joins)} told), leave p99 {out['presence']['leave_ms'].get('p99')} ms"
        )

        # An announcement to the whole academy, timed from its COMMIT.
        from django.contrib.auth import get_user_model
        from django.db import transaction

        from bookings.services.announcements import announcement_send
        from scheduling.models import Academy
        from tests.bench.trigger import use_publisher

        publisher = use_publisher("live")
        self.clients.call({"cmd": "mark", "group": "live"})
        sender = get_user_model().objects.get(pk=desk)
        committed: dict[str, float] = {}
        with transaction.atomic():
            transaction.on_commit(lambda: committed.setdefault("t", time.time()))
            sent = announcement_send(
                actor=sender,
                academy=Academy.objects.get(pk=w.live_academy),
                text="Courts 2-3 closed this afternoon: rain",
            )
        publisher.wait_idle(60)
        recipients = sent.deliveries.count()
        deadline = time.time() + 30
        expected = [s for s in specs if s.get("uid") != desk]
        while time.time() < deadline:
            got = self.clients.total("count", "live")
            if got.get("notes", 0) >= len(expected):
                break
            time.sleep(0.2)
        viewers = self.clients.collect("live")
        arrivals = [
            min(t for t, text in v["notes"] if text.startswith("Message from")) - committed["t"]
            for v in viewers
            if any(text.startswith("Message from") for _, text in v["notes"])
        ]
        out["announcement"] = {
            "recipients": recipients,
            "viewers_expected": len(expected),
            "viewers_told": len(arrivals),
            "latency_ms": summary_ms(arrivals),
        }
        lat = out["announcement"]["latency_ms"]
        log(
            f"announcement to {recipients} people: {len(arrivals)}/{len(expected)} open pages "
            f"told; p50 {lat.get('p50')} p99 {lat.get('p99')} ms"
        )
        return out

    # -- the run -------------------------------------------------------------------------------

    def level_courtside(self, n: int, *, keep_live: bool) -> None:
        """Courtside at one viewer count (plus the saturation steps at their level).
        keep_live: leave its sockets open (group "live") for what follows."""
        assert self.clients is not None
        specs = self.specs[:n]
        level = self.results.setdefault("levels", {}).setdefault(str(n), {"viewers": n})
        level["payload_bytes"] = self.payload_sizes(self.keys_of(specs))
        level["courtside"] = self.live_level(n)
        if n == self.plan.inject_level and "saturation" in self.plan.phases:
            level["saturation"] = self.saturation("live", n)
        if not keep_live:
            self.clients.close("live")

    def level_compare(self, n: int) -> None:
        """The three other paths on the same viewers, and their ratios against Courtside."""
        level = self.results.setdefault("levels", {}).setdefault(str(n), {"viewers": n})
        level["notify_refetch"] = self.notify_level(n)
        level["textbook"] = self.textbook_level(n)
        level["plain"] = self.plain_level(n, sustained="saturation" in level)
        if "courtside" not in level:
            return
        base = level["courtside"]["1/s"]["latency_ms"]
        level["ratios_vs_courtside_1_per_s"] = {
            "notify_refetch": ratio(level["notify_refetch"]["latency_ms"], base),
            "textbook": ratio(level["textbook"]["1/s"]["latency_ms"], base),
            "plain": ratio(level["plain"]["latency_ms"], base),
        }
        level["ratios_vs_courtside_burst"] = {
            "textbook": ratio(
                level["textbook"]["burst"]["latency_ms"],
                level["courtside"]["burst"]["latency_ms"],
            ),
        }

    def max_level(self, held: int, *, close: bool = True) -> None:
        """Latency at the most concurrent viewers held (every open live socket), a worker killed
        under them, then the plain server with as many. `close`: close the idle sockets after
        (else they stay for the ramp's next steps, and the plain server is measured with them
        open)."""
        assert self.clients is not None
        if str(self.plan.level_at) in self.results.get("levels", {}):
            if close:  # measured at the ramp's level_at step already
                self.clients.close("idle")
            return
        if held > max(self.plan.levels) and self.time_for(45):
            level: dict[str, Any] = {"viewers": held}
            self.results.setdefault("levels", {})[str(held)] = level
            level["courtside"] = self.live_level(held, group="", opened=True)
            if "reconnect" in self.plan.phases and self.time_for(60):
                # A worker killed under every open socket (the 1,000-viewer case runs last).
                self.results["reconnect_max"] = self.reconnect("", wait_restart=True)
            if close:
                self.clients.close("idle")  # the first level's "live" sockets stay, idle
            # No burst here: only the 1/s comparison is a goal at this level, and 100
            # broadcasts to every socket kept the clients busy for half a minute on a slow host.
            level["plain"] = self.plain_level(held, burst=False)
            base = level["courtside"]["1/s"]["latency_ms"]
            level["ratios_vs_courtside_1_per_s"] = {
                "plain": ratio(level["plain"]["latency_ms"], base)
            }
        if close:
            self.clients.close("idle")

    def time_for(self, seconds: float) -> bool:
        """Is there time left for a step of about this many seconds? If not, it is skipped (and
        said so in the report), so the run ends by itself inside its deadline."""
        seconds *= self.plan.step_scale
        left = self.started + self.plan.deadline - 30 * self.plan.step_scale - time.time()
        if left >= seconds:
            return True
        self.results["notes"].append(
            f"skipped a step needing ~{seconds:.0f} s: {left:.0f} s left of the time limit"
        )
        log(self.results["notes"][-1])
        return False

    def run(self) -> int:
        self.started = time.time()
        phases = self.plan.phases or ALL_PHASES
        self.plan.phases = phases
        try:
            log(f"plan {self.plan.name}; database {self.db_name}; server port {self.port}")
            self.results["load_before"] = procs.loadavg()
            self.setup()
            log(
                f"set-up: migrate {self.results['setup']['migrate_s']} s, "
                f"data {self.results['setup']['data_s']} s"
            )
            self.start_server()
            self.warm_up()
            self.rss_baseline = procs.rss_bytes(self.workers)
            m0 = self.snap()
            # Goals first, then what needs the most time; each step checks the time left.
            # The biggest level's live sockets stay open (idle) through the race and the
            # comparisons at that level; a worker is killed under them; the ramp, whose length
            # depends most on the machine, adds to them last.
            if "reconnect" in phases and self.plan.reconnect_small and self.time_for(60):
                # Small first (then the new worker is awaited), so the big one below still
                # finds every socket of the last level connected.
                self.results["reconnect_small"] = self.reconnect(
                    None, viewers=self.plan.reconnect_small, wait_restart=True
                )
            levels = self.plan.levels if "levels" in phases else []
            live_open = 0
            for n in levels[:-1]:
                if self.time_for(90):
                    self.level_courtside(n, keep_live=False)
                    self.level_compare(n)
            if levels and self.time_for(60):
                self.level_courtside(levels[-1], keep_live=True)
                live_open = levels[-1]
            if "collab" in phases and live_open and self.time_for(30):
                self.results["collab"] = self.collab(live_open)
            if "race" in phases and self.time_for(25):
                self.results["race"] = self.race()
            # The other paths at the biggest level before the ramp, whose length depends on the
            # connect rate: a goal's plain-broadcast baseline is never what the time limit skips.
            if levels and self.time_for(120):
                self.level_compare(levels[-1])
            # Render times before the ramp: a page's time is what its rendering costs, not what
            # the 20,000 sockets the ramp leaves open cost the two cores meanwhile.
            if "render" in phases and self.time_for(30):
                self.results["render"] = self.render()
            if "browser" in phases and self.time_for(60):
                from tests.bench import browser

                self.results["browser"] = browser.run(
                    self, pages=self.plan.browser_pages, clicks=self.plan.browser_clicks
                )
            if "ops" in phases and live_open and self.time_for(45):
                self.results["ops"] = self.ops("live", live_open)
            # A worker killed under the 1,000 viewers, before the ramp: on a slow host the ramp
            # to 20,000 sockets is what takes the time left, and this is a goal.
            if "reconnect" in phases and self.time_for(45):
                self.results["reconnect"] = self.reconnect(
                    "live" if live_open else None, wait_restart=True
                )
            # Last: how many idle sockets the workers hold, up to the time limit.
            if "ramp" in phases:
                self.results["idle"] = self.ramp(held=live_open)
                self.max_level(self.results["idle"]["max_held"])
            assert self.clients is not None
            self.clients.close("")
            self.results["trigger_check"] = self.overbooking_check()
            m1 = self.snap()
            self.results["cpu_whole_run_s"] = self.cpu_delta(m0, m1)
            self.results["load_after"] = procs.loadavg()
            self.results["elapsed_s"] = round(time.time() - self.started, 1)
            self.finish()
            return 0
        finally:
            self.teardown()

    def warm_up(self) -> None:
        """A few sockets and changes, so first-use costs (imports, template loading, hub start,
        database connections) stay out of the numbers."""
        from tests.bench.trigger import use_publisher

        assert self.clients is not None
        specs = self.specs[: min(20, len(self.specs))]
        self.open_group("warm", "live", specs)
        self.trigger.watch(self.keys_of(specs))
        publisher = use_publisher("live")
        self.trigger.run(count=3, rate=5)
        publisher.wait_idle(20)
        time.sleep(0.5)
        self.clients.close("warm")
        self.trigger.reset()

    def finish(self) -> None:
        from tests.bench.report import write

        self.results["meta"] = self.meta()
        write(self.results, self.out, self.docs)
        log(f"summary: {self.out}" + (f"; table: {self.docs}" if self.docs else ""))

    def meta(self) -> dict[str, Any]:
        import channels
        import channels_redis
        import daphne
        import django
        import psycopg
        import redis
        import websockets
        from django.conf import settings
        from django.db import connection

        with connection.cursor() as c:
            c.execute("SHOW server_version")
            pg = c.fetchone()[0]
        info = redis.Redis.from_url(self.env["REDIS_URL"]).info("server")
        return {
            "machine": procs.machine(),
            "versions": {
                "python": sys.version.split()[0],
                "django": django.__version__,
                "channels": channels.__version__,
                "channels_redis": channels_redis.__version__,
                "daphne": daphne.__version__,
                "websockets": websockets.__version__,
                "redis_py": redis.__version__,
                "psycopg": psycopg.__version__,
                "redis_server": info["redis_version"],
                "postgresql": pg,
            },
            "settings": {
                "workers": self.plan.workers,
                "client_processes": self.plan.client_procs,
                "channel_layer": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "db_conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE"),
                "db_pool": (settings.DATABASES["default"].get("OPTIONS") or {}).get("pool"),
                "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            },
            "command": self.command,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }

    def teardown(self) -> None:
        if self.pg is not None:
            self.pg.stop()
        if self.clients is not None:
            self.clients.exit()
        procs.stop_all()
        self.drop_database()
        self.clean_redis()


def watchdog(seconds: float, on_expiry: Any = None) -> threading.Timer:
    def expire() -> None:
        log(f"the run passed its {seconds:.0f} s limit: stopping everything")
        faulthandler.dump_traceback(all_threads=True)  # where it was stuck
        procs.stop_all()
        if on_expiry is not None:
            with contextlib.suppress(Exception):
                on_expiry()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer
