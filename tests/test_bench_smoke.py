"""The benchmark harness (`make bench`) in miniature, so it cannot rot: a few clients for a few
seconds on the real stack. It asserts the harness measured something sane (every message
delivered, latencies present, nothing overbooked), never a performance goal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]


def test_bench_smoke_produces_sane_numbers(tmp_path):
    out = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env["BENCH_REDIS_URL"] = settings.TEST_REDIS_URL
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench",
            "--smoke",
            "--out",
            str(out),
            "--db",
            f"courtside_bench_smoke_{os.getpid()}",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    r = json.loads(out.read_text())
    assert not r["notes"], r["notes"]  # nothing skipped for lack of time

    level = next(iter(r["levels"].values()))
    for path in ("courtside", "textbook"):
        for run in ("1/s", "burst"):
            measured = level[path][run]
            assert measured["changes"] > 0 and measured["refused_changes"] == 0
            assert measured["delivery"]["complete"], (path, run, measured["delivery"])
            assert measured["delivery"]["received"] > 0
            assert measured["unmatched"] == 0
            latency = measured["latency_ms"]
            assert latency["n"] > 0 and 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    notify = level["notify_refetch"]
    assert notify["notices"]["complete"] and notify["failed_fetches"] == 0
    assert notify["unmatched"] == 0 and notify["latency_ms"]["n"] > 0
    plain = level["plain"]
    assert plain["delivery"]["complete"] and plain["latency_ms"]["p50"] > 0
    assert set(level["ratios_vs_courtside_1_per_s"]) == {"notify_refetch", "textbook", "plain"}
    assert (
        level["saturation"]["steps"][0]["delivered"] == level["saturation"]["steps"][0]["expected"]
    )

    assert r["idle"]["max_held"] == r["idle"]["levels"][-1]["target"]
    assert plain["connect"]["rss_per_connection_kib"] is not None  # the idle row's floor
    rec = r["reconnect"]
    assert rec["dropped"] > 0 and rec["all_back"] and rec["resynced"] == rec["dropped"]
    floor = rec["plain"]  # the same kill under plain websockets servers
    assert floor["dropped"] > 0 and floor["all_back"] and floor["all_back_after_s"] > 0

    race = r["race"]
    assert race["attempts_per_s"] > 0 and race["errors"] == 0
    assert race["check"]["ok"] and r["trigger_check"]["ok"]
    bare = race["plain"]  # the same race in plain SQL, from the same empty sessions
    assert bare["successes_per_s"] > 0 and bare["errors"] == 0 and bare["check"]["ok"]

    for measured in [*r["render"]["fragments"].values(), *r["render"]["http"].values()]:
        assert measured["median_ms"] > 0 and measured["bytes"] > 0
    assert all(h["status"] == 200 for h in r["render"]["http"].values())
    dash = r["render"]["dashboard"]
    assert dash["history"]["sessions"] > 0 and dash["history"]["ratings"] > 0
    for measured in [*dash["fragments"].values(), *dash["http"].values()]:
        assert measured["median_ms"] > 0 and measured["bytes"] > 0
    assert all(h["status"] == 200 for h in dash["http"].values())
    assert set(dash["push"]) == {"check-in", "rating", "goal step"}
    for push in dash["push"].values():
        assert push["dashboard_cpu_ms"]["median_ms"] > 0 and push["fragments"]
    burst = dash["burst"]
    assert 0 < burst["renders_of_the_figures"] <= burst["check_ins"]
    assert r["meta"]["versions"]["django"] and r["meta"]["machine"]["cores"]

    series, cancel = r["ops"]["series"], r["ops"]["cancel"]
    assert series["sessions"] == series["series"] * series["weeks"] > 0
    assert series["delivery"]["complete"] and series["latency_ms"]["n"] > 0
    assert series["create_ms"]["median_ms"] > 0
    assert cancel["promotes"]["statements"] > cancel["no_waiting_list"]["statements"]
