"""Reading the live path's metrics back (realtime.metrics): for Prometheus, as its text format,
and for the live metrics page, as a summary of every worker of this host.

With PROMETHEUS_MULTIPROC_DIR set (`manage.py serve`) a reader merges every worker's files, so
whichever worker renders the page or answers the scrape reports all of them; without it, this
process's own values. Rates and percentiles need two readings: each summary keeps its reading
in this process's short history and compares with the one from a few seconds (rates) or up to
a minute (percentiles) before; the first summary in a process has no earlier reading and says
so ("measuring").
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from realtime.metrics import multiproc_dir

RATE_WINDOW = 10.0  # seconds of readings behind messages/s
LATENCY_WINDOW = 60.0  # seconds of readings behind the percentiles
QUANTILES = (0.5, 0.9, 0.99)

Reading = dict[str, list[tuple[dict[str, str], float]]]  # sample name -> (labels, value)s
Buckets = list[tuple[float, float]]  # a histogram's (upper bound, cumulative count), in order


def registry() -> CollectorRegistry:
    """Every worker's metrics (multi-process mode) or this process's."""
    path = multiproc_dir()
    if not path:
        return REGISTRY
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=path)
    return merged


def exposition() -> bytes:
    """The Prometheus text format of every worker's metrics."""
    return generate_latest(registry())


def read() -> Reading:
    found: Reading = {}
    for metric in registry().collect():
        if not metric.name.startswith("courtside_"):
            continue  # the process and platform collectors of single-process mode
        for sample in metric.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


@dataclass(frozen=True)
class KindRow:
    kind: str
    published: int  # stream messages sent since the workers started
    p50: float | None  # commit-to-send, milliseconds, over `Summary.latency_window`
    p90: float | None
    p99: float | None
    per_second: float | None  # socket messages per second


@dataclass(frozen=True)
class Summary:
    kinds: list[KindRow]
    messages_per_second: float | None  # written to sockets, every kind
    bytes_per_second: float | None
    sockets: int
    subscriptions: int
    streams: int
    connects: int
    reconnects: int
    resyncs: int
    redis_up: bool | None  # None: no worker has checked yet (no socket open since start)
    redis_ping_ms: float | None
    availability: float | None  # share of health checks Redis answered, percent
    workers: int
    uptime: float | None  # seconds, the oldest live worker
    latency_window: float | None  # seconds the percentiles cover; None: since the start
    rate_window: float | None


def _sum(reading: Reading, name: str, **match: str) -> float:
    return sum(
        value
        for labels, value in reading.get(name, ())
        if all(labels.get(k) == v for k, v in match.items())
    )


def _values(reading: Reading, name: str) -> list[tuple[dict[str, str], float]]:
    return reading.get(name, [])


def _buckets(reading: Reading, kind: str) -> Buckets:
    """A kind's cumulative histogram buckets, (upper bound, count), in order."""
    name = "courtside_live_send_latency_seconds_bucket"
    found = [
        (float(labels["le"]), value)
        for labels, value in _values(reading, name)
        if labels.get("kind") == kind
    ]
    return sorted(found)


def quantile(q: float, buckets: Buckets) -> float | None:
    """Prometheus's histogram_quantile: linear inside the bucket the rank falls in."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # beyond the last finite bound: say the bound
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = upper, count
    return lower


def _minus(now: Buckets, then: Buckets) -> Buckets:
    earlier = dict(then)
    return [(upper, count - earlier.get(upper, 0.0)) for upper, count in now]


_history: deque[tuple[float, Reading]] = deque(maxlen=120)
_lock = threading.Lock()


def _remember(now: float, reading: Reading) -> None:
    with _lock:
        if not _history or now - _history[-1][0] >= 1.0:
            _history.append((now, reading))


def _earlier(now: float, window: float) -> tuple[float, Reading] | None:
    """The oldest reading within `window` seconds that is at least a second old."""
    with _lock:
        for at, reading in _history:
            if now - window <= at <= now - 1.0:
                return at, reading
    return None


def summary() -> Summary:
    now = time.monotonic()
    reading = read()
    rated = _earlier(now, RATE_WINDOW)
    latency = _earlier(now, LATENCY_WINDOW)
    _remember(now, reading)

    def rate(name: str, **match: str) -> float | None:
        if rated is None:
            return None
        at, before = rated
        return max(0.0, _sum(reading, name, **match) - _sum(before, name, **match)) / (now - at)

    kinds = sorted(
        labels["kind"]
        for name in ("published_messages_total", "socket_messages_total")
        for labels, _ in _values(reading, f"courtside_live_{name}")
    )
    kinds = list(dict.fromkeys(kinds))
    rows = []
    for kind in kinds:
        buckets = _buckets(reading, kind)
        if latency is not None:
            buckets = _minus(buckets, _buckets(latency[1], kind))
        p50, p90, p99 = (quantile(q, buckets) for q in QUANTILES)
        rows.append(
            KindRow(
                kind=kind,
                published=int(_sum(reading, "courtside_live_published_messages_total", kind=kind)),
                p50=None if p50 is None else p50 * 1000,
                p90=None if p90 is None else p90 * 1000,
                p99=None if p99 is None else p99 * 1000,
                per_second=rate("courtside_live_socket_messages_total", kind=kind),
            )
        )
    checks_ok = _sum(reading, "courtside_redis_checks_total", result="ok")
    checks = checks_ok + _sum(reading, "courtside_redis_checks_total", result="failed")
    up = _values(reading, "courtside_redis_up")
    ping = _values(reading, "courtside_redis_ping_seconds")
    started = [value for _, value in _values(reading, "courtside_worker_start_time_seconds")]
    return Summary(
        kinds=rows,
        messages_per_second=rate("courtside_live_socket_messages_total"),
        bytes_per_second=rate("courtside_live_socket_bytes_total"),
        sockets=int(_sum(reading, "courtside_live_open_sockets")),
        subscriptions=int(_sum(reading, "courtside_live_subscriptions")),
        streams=int(_sum(reading, "courtside_live_watched_streams")),
        connects=int(_sum(reading, "courtside_live_connects_total")),
        reconnects=int(_sum(reading, "courtside_live_reconnects_total")),
        resyncs=int(_sum(reading, "courtside_live_resyncs_total")),
        redis_up=bool(min(v for _, v in up)) if up and checks else None,
        redis_ping_ms=max(v for _, v in ping) * 1000 if ping and checks else None,
        availability=100 * checks_ok / checks if checks else None,
        workers=len(started),
        uptime=time.time() - min(started) if started else None,
        latency_window=None if latency is None else now - latency[0],
        rate_window=None if rated is None else now - rated[0],
    )
