"""Turning what the clients recorded into latencies and delivery counts."""

from __future__ import annotations

import http.client
import itertools
import math
import statistics
import time
from bisect import bisect_right
from collections import defaultdict
from typing import Any


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(values: list[float]) -> dict[str, Any]:
    """p50/p90/p95/p99/max in milliseconds of values in seconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 50) * 1000, 1),
        "p90": round(pct(values, 90) * 1000, 1),
        "p95": round(pct(values, 95) * 1000, 1),
        "p99": round(pct(values, 99) * 1000, 1),
        "max": round(max(values) * 1000, 1),
        "mean": round(sum(values) / len(values) * 1000, 1),
    }


STREAM_CLASSES = {
    "day": "day grid (shared)",
    "calendar": "staff week calendar (shared)",
    "slots": "lesson slots (shared)",
    "coachcal": "coach calendars",
    "coachday": "coach calendars",
}


def stream_class(key: str) -> str:
    return STREAM_CLASSES.get(key.split(":", 1)[0], "personal lists")


def _arrivals(viewers: list[dict[str, Any]]) -> dict[str, list[tuple[list[int], list[float]]]]:
    """key -> for each viewer watching it: (ascending seqs, first receipt time of each)."""
    by_key: dict[str, list[tuple[list[int], list[float]]]] = defaultdict(list)
    for viewer in viewers:
        first: dict[str, dict[int, float]] = defaultdict(dict)
        for t, key, seq in viewer["msgs"]:
            first[key].setdefault(seq, t)
        for key in viewer["keys"]:
            got = sorted(first.get(key, {}).items())
            by_key[key].append(([s for s, _ in got], [t for _, t in got]))
    return by_key


def push_latency(
    events: list[tuple[str, int, float]], viewers: list[dict[str, Any]]
) -> dict[str, Any]:
    """For each (stream, s_c, t_commit) and each viewer of that stream: receipt of the first
    message with seq > s_c, minus t_commit."""
    by_key = _arrivals(viewers)
    samples: list[float] = []
    by_class: dict[str, list[float]] = defaultdict(list)
    last_client: list[float] = []
    missing = 0
    for key, s_c, t_commit in events:
        per_event = []
        for seqs, times in by_key.get(key, []):
            j = bisect_right(seqs, s_c)
            if j == len(seqs):
                missing += 1
                continue
            latency = times[j] - t_commit
            per_event.append(latency)
        samples.extend(per_event)
        by_class[stream_class(key)].extend(per_event)
        if per_event and key.startswith("day:"):
            last_client.append(max(per_event))
    return {
        "all": summary_ms(samples),
        "by_stream": {name: summary_ms(v) for name, v in sorted(by_class.items())},
        "last_client_day_grid": {
            "median_ms": round(pct(last_client, 50) * 1000, 1) if last_client else None,
            "worst_ms": round(max(last_client) * 1000, 1) if last_client else None,
        },
        "missing": missing,
        "samples": samples,
    }


def delivery(
    viewers: list[dict[str, Any]], before: dict[str, int], after: dict[str, int]
) -> dict[str, Any]:
    """Every viewer must have received every sequence number its streams took in the window
    (before, after] exactly once, in order."""
    expected = gaps = dupes = disorder = received = 0
    for viewer in viewers:
        per_key: dict[str, list[int]] = defaultdict(list)
        for _, key, seq in viewer["msgs"]:
            per_key[key].append(seq)
        for key in viewer["keys"]:
            want = set(range(before.get(key, 0) + 1, after.get(key, 0) + 1))
            got = per_key.get(key, [])
            expected += len(want)
            received += len(got)
            gaps += len(want - set(got))
            dupes += len(got) - len(set(got))
            disorder += sum(1 for a, b in itertools.pairwise(got) if b <= a)
    return {
        "expected": expected,
        "received": received,
        "missing": gaps,
        "duplicates": dupes,
        "out_of_order": disorder,
        "complete": gaps == 0 and dupes == 0,
    }


def refetch_latency(
    events: list[tuple[str, int, float]],
    viewers: list[dict[str, Any]],
    censor_at: float | None = None,
) -> dict[str, Any]:
    """Notify-then-refetch: the change is on the page when the first fetch started after a
    notice with seq > s_c completes. A change some viewer never got fetched by `censor_at`
    counts as censor_at - t_commit (so the percentiles are then lower bounds)."""
    fetches: dict[str, list[tuple[list[int], list[float]]]] = defaultdict(list)
    for viewer in viewers:
        per_key: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for key, seq, _start, done, status, _size in viewer["fetches"]:
            if status == 200:
                per_key[key].append((seq, done))
        for key in viewer["keys"]:
            got = sorted(per_key.get(key, []))
            fetches[key].append(([s for s, _ in got], [t for _, t in got]))
    samples: list[float] = []
    missing = 0
    for key, s_c, t_commit in events:
        for seqs, times in fetches.get(key, []):
            j = bisect_right(seqs, s_c)
            if j == len(seqs):
                missing += 1
                if censor_at is not None:
                    samples.append(censor_at - t_commit)
            else:
                samples.append(times[j] - t_commit)
    n_fetches = sum(len(v["fetches"]) for v in viewers)
    failed = sum(1 for v in viewers for f in v["fetches"] if f[4] != 200)
    statuses: dict[str, int] = defaultdict(int)
    for v in viewers:
        for f in v["fetches"]:
            statuses[str(f[4])] += 1
    errors: dict[str, int] = defaultdict(int)
    for v in viewers:
        for e in v.get("http_errors", []):
            errors[e[:80]] += 1
    return {
        "all": summary_ms(samples),
        "missing": missing,
        "fetches": n_fetches,
        "failed_fetches": failed,
        "statuses": dict(statuses),
        "client_errors": dict(errors),
        "samples": samples,
    }


def ratio(other: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for q in ("p50", "p99"):
        if other.get(q) and base.get(q):
            out[q] = round(other[q] / base[q], 2)
    return out


def timed(times: list[float]) -> dict[str, Any]:
    """Runs, median and p95 in milliseconds of values in seconds (render and page times)."""
    return {
        "runs": len(times),
        "median_ms": round(statistics.median(times) * 1000, 1) if times else None,
        "p95_ms": round(pct(times, 95) * 1000, 1) if times else None,
    }


def time_pages(
    host: str, port: int, pages: dict[str, tuple[str, str]], reps: int
) -> dict[str, dict[str, Any]]:
    """GET each page (label -> (path, cookie)) reps + 1 times on one keep-alive connection, the
    first to warm up: its status, size and times."""
    out = {}
    for label, (path, cookie) in pages.items():
        times, size, status = [], 0, 0
        conn = http.client.HTTPConnection(host, port, timeout=60)
        for i in range(reps + 1):
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            response = conn.getresponse()
            body = response.read()
            status = response.status
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
            if i:
                times.append(time.perf_counter() - t0)
            size = len(body)
        conn.close()
        out[label] = {"path": path, "status": status, "bytes": size, **timed(times)}
    return out
