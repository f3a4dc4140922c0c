"""What measuring costs: a micro-profile of the live path's metric hooks (realtime.metrics).

    .venv/bin/python -m tests.bench.hooks                 # this process's memory (runserver)
    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) .venv/bin/python -m tests.bench.hooks   # as under serve

Best of 5 runs of 20,000 calls each, per call. The hub calls `delivered` once per message per
process (not per socket), the publisher `published` once per stream message; compare with what
one message costs the hub to write (40-66 us per socket, docs/benchmarks.md).
"""

from __future__ import annotations

import os
import time
import timeit

from realtime import metrics

CALLS = 20_000
KEY = "day:1:2026-12-01"
HOOKS = {
    "delivered (hub, per message per process)": lambda: metrics.delivered(KEY, 1000, 1200),
    "published (publisher, per stream message)": lambda: metrics.published(KEY, time.monotonic()),
    "socket_joined + socket_left (per socket)": lambda: (
        metrics.socket_joined(3, 10),
        metrics.socket_left(3, 10),
    ),
    "connecting (per handshake)": lambda: metrics.connecting(b"t=abc&again=1"),
    "redis_checked (per 2 s health check)": lambda: metrics.redis_checked(True, 0.0003),
}


def main() -> None:
    mode = "multi-process files" if os.environ.get(metrics.MULTIPROC_ENV) else "process memory"
    print(f"metric hooks, {mode}: best of 5 x {CALLS:,} calls")
    for name, hook in HOOKS.items():
        best = min(timeit.repeat(hook, repeat=5, number=CALLS)) / CALLS
        print(f"  {name:45} {best * 1e6:6.2f} us")


if __name__ == "__main__":
    main()
