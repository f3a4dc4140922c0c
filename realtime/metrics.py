"""The live path measuring itself (seed 004's "Performance Monitoring"), with prometheus_client.

Each worker process records what it does: how long a change takes from COMMIT to its stream's
message leaving the publisher (per stream kind), the messages and bytes its hub writes to
sockets, its open sockets and watched streams, reconnects, resyncs, and Redis's health as its
hub's 2-second check sees it. `realtime.metrics_report` reads them back for the live metrics
page; Prometheus scrapes them as text (`bookings.views.metrics`).

Several workers: prometheus_client's multi-process mode. `manage.py serve` gives every worker
PROMETHEUS_MULTIPROC_DIR (its own directory, emptied on start); each worker writes its values
to its own memory-mapped files there, and a reader (any worker) merges every worker's files.
The variable must be set before prometheus_client is first imported, which is why `serve`
sets it for its workers and not settings.py. Without it (runserver, tests, one process) the
values live in this process's memory.

Cost: the hooks run once per stream message (publisher) or once per message per process
(hub), never once per socket; the hub's only adds to two integers and its counts reach the
counters with its 2-second health check, so its figures are up to 2 s behind
(docs/benchmarks.md, "What measuring costs": `python -m tests.bench.hooks`).
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Commit-to-send from a few milliseconds (a row pushed to a quiet process) to seconds (a burst
# queued behind renders): the page's p50/p90/p99 interpolate inside these.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

SEND_LATENCY = Histogram(
    "courtside_live_send_latency_seconds",
    "From a change's COMMIT to its stream's message leaving the publisher, per stream kind.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
PUBLISHED = Counter(
    "courtside_live_published_messages",
    "Stream messages the publishers sent (one per stream per change), per stream kind.",
    ["kind"],
)
MESSAGES = Counter(
    "courtside_live_socket_messages",
    "Messages the hubs wrote to sockets (one per socket per stream message), per stream kind.",
    ["kind"],
)
BYTES = Counter(
    "courtside_live_socket_bytes",
    "Bytes of the messages the hubs wrote to sockets, per stream kind.",
    ["kind"],
)
SOCKETS = Gauge(
    "courtside_live_open_sockets",
    "Live sockets subscribed to their streams.",
    multiprocess_mode="livesum",
)
STREAMS = Gauge(
    "courtside_live_watched_streams",
    "Streams the workers listen on (a stream watched in two workers counts twice).",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS = Gauge(
    "courtside_live_subscriptions",
    "Socket-stream pairs: what the hubs deliver to, one per stream of each open socket.",
    multiprocess_mode="livesum",
)
CONNECTS = Counter(
    "courtside_live_connects", "Socket connection attempts (first connects and reconnects)."
)
RECONNECTS = Counter(
    "courtside_live_reconnects", "Socket connection attempts by a page whose socket had dropped."
)
RESYNCS = Counter(
    "courtside_live_resyncs", "Fragments re-rendered over HTTP for a page that fell behind."
)
REDIS_UP = Gauge(
    "courtside_redis_up",
    "1 while every worker's last health check of Redis was answered, else 0.",
    multiprocess_mode="livemin",
)
REDIS_PING = Gauge(
    "courtside_redis_ping_seconds",
    "The slowest worker's last Redis PING round trip.",
    multiprocess_mode="livemax",
)
REDIS_CHECKS = Counter(
    "courtside_redis_checks", "The hubs' 2-second health checks of Redis, by result.", ["result"]
)
STARTED = Gauge(
    "courtside_worker_start_time_seconds",
    "When each live worker process started (Unix time).",
    multiprocess_mode="liveall",
)

# A labelled child costs a dictionary lookup and a lock in prometheus_client: keep them.
_children: dict[tuple[int, str], Any] = {}


def _child(metric: Any, kind: str) -> Any:
    found = _children.get((id(metric), kind))
    if found is None:
        found = _children[(id(metric), kind)] = metric.labels(kind)
    return found


def kind_of(key: str) -> str:
    """A stream key's kind: the label (bounded, one per declared kind), never the key itself."""
    return key.partition(":")[0]


# -- the hooks --


def published(key: str, committed: float) -> None:
    """The publisher sent a stream's message for changes committed at `committed` (monotonic)."""
    kind = kind_of(key)
    _child(SEND_LATENCY, kind).observe(time.monotonic() - committed)
    _child(PUBLISHED, kind).inc()


# What the hub wrote since the last flush: kind -> [messages, bytes]. The hub's hot path only
# adds to these (a fraction of a microsecond); its 2-second health check writes them to the
# counters (in multi-process mode each counter update is ~5 us of file-backed bookkeeping).
_written: dict[str, list[int]] = {}


def delivered(key: str, sockets: int, size: int) -> None:
    """A hub wrote one message of `size` bytes to `sockets` local sockets."""
    counts = _written.get(kind_of(key))
    if counts is None:
        counts = _written[kind_of(key)] = [0, 0]
    counts[0] += sockets
    counts[1] += sockets * size


def flush() -> None:
    """Hand what the hub wrote to the counters (on the hub's loop, like `delivered`)."""
    for kind, counts in list(_written.items()):
        messages, size = counts
        if messages:
            counts[0] = counts[1] = 0
            _child(MESSAGES, kind).inc(messages)
            _child(BYTES, kind).inc(size)


def socket_joined(streams: int, watched: int) -> None:
    SOCKETS.inc()
    SUBSCRIPTIONS.inc(streams)
    STREAMS.set(watched)


def socket_left(streams: int, watched: int) -> None:
    SOCKETS.dec()
    SUBSCRIPTIONS.dec(streams)
    STREAMS.set(watched)


def hub_lost() -> None:
    """Redis went away: the hub closed every socket it had."""
    SOCKETS.set(0)
    SUBSCRIPTIONS.set(0)
    STREAMS.set(0)


def connecting(query_string: bytes) -> None:
    """A socket's handshake; the page adds `again=1` when it reconnects after a drop."""
    CONNECTS.inc()
    if b"again=1" in query_string.split(b"&"):
        RECONNECTS.inc()


def resynced(fragments: int) -> None:
    RESYNCS.inc(fragments)


def redis_checked(up: bool, seconds: float) -> None:
    """The hub's health check (every 2 s, on its loop): also when the hub's counts go out."""
    flush()
    REDIS_UP.set(1 if up else 0)
    REDIS_PING.set(seconds)
    _child(REDIS_CHECKS, "ok" if up else "failed").inc()


def serving() -> None:
    """This process serves (config.asgi): it counts as a worker. Not at import: `manage.py`
    commands with PROMETHEUS_MULTIPROC_DIR set would count as workers for good."""
    STARTED.set(time.time())


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None
